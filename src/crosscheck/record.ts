/**
 * Recording a reference trace from trm-ts itself (`trm trace`), in the format the official
 * recorder writes (docs/trace-format.md): the weights, the batch(es), and every tensor a replay
 * compares, the recursion probes included. A port loads the weights and batch from the file, runs
 * itself, and compares, in its own language (tools/trm_check.py for Python).
 *
 * The initial weights follow the official recorder: the official initialisation, then the puzzle
 * embedding drawn as 0.5·N(0, 1) and the Q head's weight as 0.05·N(0, 1), so that every path
 * carries signal, and the Q head's bias chosen so that about half the rows halt before N_sup.
 */
import type { Backend } from '../backend/backend.js';
import { reference } from '../backend/reference.js';
import { mul } from '../ops/index.js';
import { type Key, key, split } from '../random/key.js';
import { normal, randint, uniformArray } from '../random/sample.js';
import { type Tensor, fromStorage, storage, tensor } from '../tensor/tensor.js';
import { treeMap } from '../tensor/tree.js';
import type { StWriteEntry } from '../io/safetensors.js';
import { type TrainHyper, OFFICIAL_TRAIN_DEFAULTS } from '../train/hyper.js';
import { type TrainState, initTrainState, makeSetup, trainStep } from '../train/loop.js';
import { type Batch, type StepResult, initialCarry, stepContext } from '../trm/act.js';
import type { TrmConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import { type TrmParams, type TrmState, initState, officialLayout, toOfficial } from '../trm/params.js';
import type { RecursionContext } from '../trm/recursion.js';
import { officialGrads, ourTensors, probeName, superviseStep } from './replay-steps.js';
import type { TraceMode } from './trace.js';

/** Options of `recordTrace`. */
export interface RecordOptions {
  /** What to record: supervision steps on one batch (train, eval) or optimizer steps (train-run). */
  readonly mode: TraceMode;
  /** Supervision steps (train, eval) or optimizer steps (train-run). */
  readonly steps: number;
  /** Seed of the recording: the default weights, the drawn batches and the run's key derive from it. */
  readonly seed: number;
  /** The token loss; default stablemax cross-entropy. */
  readonly lossType?: LossType;
  /** The batch of a train or eval trace (default: drawn from the seed). A train-run draws the rest. */
  readonly batch?: Batch;
  /** train-run: the training hyperparameters (global_batch_size must be the config's batch_size). */
  readonly hyper?: TrainHyper;
  /** The weights to record with (default: the recorder's, drawn from the seed). */
  readonly weights?: TrmState;
  /** Also record every block's output inside every update. */
  readonly blocks?: boolean;
  /** The backend to compute on; default the reference backend. */
  readonly backend?: Backend;
}

/** A recorded trace, ready to write as a safetensors file. */
export interface Recorded {
  /** The named tensors: weights, batches and what every step computed. */
  readonly entries: StWriteEntry[];
  /** The `__metadata__` strings: format, config, loss type, mode, steps and how it was recorded. */
  readonly metadata: Record<string, string>;
}

/** The training hyperparameters a train-run records by default (those of tools/export_trace.py). */
export const recordHyper = (cfg: TrmConfig, steps: number, over: Partial<TrainHyper> = {}): TrainHyper => ({
  ...OFFICIAL_TRAIN_DEFAULTS,
  lr: 1e-3,
  lr_min_ratio: 0.1,
  lr_warmup_steps: 2,
  total_steps: steps,
  puzzle_emb_lr: 1e-2,
  ...over,
  global_batch_size: cfg.batchSize,
});

/** inputs, labels ~ U{0 … vocab−1}; each label ignored (−100) w.p. 0.25, column 0 always; ids ~ U. */
export const randomBatch = (cfg: TrmConfig, k: Key, backend: Backend = reference): Batch => {
  const [ki, kl, kd, kp] = split(k, 4) as [Key, Key, Key, Key];
  const B = cfg.batchSize;
  const S = cfg.seqLen;
  const labels = Int32Array.from(storage(randint(kl, [B, S], 0, cfg.vocabSize)));
  const drop = uniformArray(kd, B * S);
  for (let i = 0; i < B * S; i++) if (drop[i]! < 0.25 || i % S === 0) labels[i] = -100;
  return {
    inputs: randint(ki, [B, S], 0, cfg.vocabSize, { backend }),
    labels: fromStorage([B, S], labels, backend),
    puzzleIdentifiers: randint(kp, [B], 0, cfg.numPuzzleIdentifiers, { backend }),
  };
};

/**
 * The Q head's bias (halt, continue) that makes max(1, ⌊B/2⌋) rows halt by the Q head before
 * N_sup and the others not: the first N_sup − 1 steps run with bias 0 in evaluation (no halting),
 * where each row's margin (q_halt, or q_halt − q_continue with the Q-continue rule) is what a
 * bias shifts exactly.
 */
const autoQBias = (cfg: TrmConfig, ctx: RecursionContext, state: TrmState, batch: Batch, lossType: LossType) => {
  const zero: TrmState = {
    ...state,
    params: { ...state.params, qHead: { ...state.params.qHead, bias: tensor([0, 0]) } },
  };
  const best = new Array<number>(cfg.batchSize).fill(-Infinity);
  let carry = initialCarry(cfg, batch);
  for (let s = 0; s < Math.max(1, cfg.nSup - 1); s++) {
    // Stryker disable next-line StringLiteral: equivalent (any mode but 'train' is evaluation; the gradients are not read)
    const { result } = superviseStep(cfg, ctx, zero, carry, batch, 'eval', lossType);
    const h = storage(result.qHalt);
    const c = storage(result.qContinue);
    for (let b = 0; b < cfg.batchSize; b++) best[b] = Math.max(best[b]!, cfg.noActContinue ? h[b]! : h[b]! - c[b]!);
    carry = result.carry;
  }
  best.sort((a, b) => b - a);
  const k = Math.max(1, Math.floor(best.length / 2)) - 1;
  const bias = k + 1 < best.length && best[k]! > best[k + 1]! ? -(best[k]! + best[k + 1]!) / 2 : -best[k]! + 0.05;
  return tensor([bias, 0]);
};

/** `w` with the Q head's bias of `autoQBias`. */
const withAutoQBias = (
  cfg: TrmConfig,
  ctx: RecursionContext,
  w: TrmState,
  batch: Batch,
  lossType: LossType,
): TrmState => ({
  ...w,
  params: { ...w.params, qHead: { ...w.params.qHead, bias: autoQBias(cfg, ctx, w, batch, lossType) } },
});

/** The recorder's initial weights: official init, then puzzle table 0.5·N(0,1), Q weight 0.05·N(0,1). */
export const recordingWeights = (cfg: TrmConfig, k: Key, backend: Backend = reference): TrmState => {
  const [kInit, kPuzzle, kQ] = split(k, 3) as [Key, Key, Key];
  const s = treeMap(initState(cfg, kInit), (t) => fromStorage(t.shape, storage(t), backend));
  const q = s.params.qHead;
  return {
    params: { ...s.params, qHead: { ...q, weight: mul(normal(kQ, q.weight.shape as number[], { backend }), 0.05) } },
    buffers: { ...s.buffers, puzzleEmb: mul(normal(kPuzzle, s.buffers.puzzleEmb.shape as number[], { backend }), 0.5) },
  };
};

const f64 = (v: number): Tensor => fromStorage([1], Float64Array.of(v));

/** The named tensors of one supervision step (step/<s>/…), probes first; block outputs if asked. */
const stepEntries = (s: number, r: StepResult, blocks: boolean): StWriteEntry[] => {
  const out: StWriteEntry[] = [];
  if (r.probe !== null) {
    out.push({ name: `step/${s}/x`, tensor: r.probe.x });
    for (const p of r.probe.updates) {
      const { name } = probeName(s, p);
      if (blocks) p.blocks.forEach((b, j) => out.push({ name: `${name}/block/${j}`, tensor: b }));
      out.push({ name, tensor: p.value });
    }
  }
  for (const [k, t] of ourTensors(r)) {
    const name = `step/${s}/${k}`;
    if (k === 'halted') out.push({ name, tensor: t, dtype: 'U8' });
    else if (k.endsWith('loss')) out.push({ name, tensor: f64(storage(t)[0]!), dtype: 'F64' });
    else out.push({ name, tensor: t });
  }
  return out;
};

const named = (prefix: string, m: ReadonlyMap<string, Tensor>): StWriteEntry[] =>
  [...m].map(([name, tensor]) => ({ name: `${prefix}${name}`, tensor }));

const batchEntries = (prefix: string, b: Batch): StWriteEntry[] => [
  { name: `${prefix}inputs`, tensor: b.inputs },
  { name: `${prefix}labels`, tensor: b.labels },
  { name: `${prefix}puzzle_identifiers`, tensor: b.puzzleIdentifiers },
];

/** What the optimizer step left: parameters (puzzle table included), AdamATan2 moments, EMA shadow. */
const updateEntries = (cfg: TrmConfig, s: number, st: TrainState): StWriteEntry[] => {
  const trainable = officialLayout(cfg).filter((r) => r.trainable);
  const slot = (name: string, p: TrmParams | null): StWriteEntry[] =>
    p === null
      ? []
      : trainable.map((r) => ({
          name: `update/${s}/${name}/${r.name}`,
          tensor: r.get({ params: p, buffers: st.model.buffers }),
        }));
  const out = slot('params', st.model.params);
  if (cfg.puzzleEmbNdim > 0)
    out.push({ name: `update/${s}/params/inner.puzzle_emb.weights`, tensor: st.model.buffers.puzzleEmb });
  if (st.opt.step > 0) out.push(...slot('exp_avg', st.opt.expAvg), ...slot('exp_avg_sq', st.opt.expAvgSq));
  out.push(...slot('ema', st.ema));
  return out;
};

/**
 * Records a trace of `cfg` (see the module comment). Train and eval traces run `steps`
 * supervision steps on one batch from the initial carry, with exploration off; a train-run runs
 * `steps` optimizer steps of the training loop, each on a new batch.
 */
export const recordTrace = (cfg: TrmConfig, opts: RecordOptions): Recorded => {
  const backend = opts.backend ?? reference;
  const lossType = opts.lossType ?? 'stablemax_cross_entropy';
  if (opts.mode !== 'train-run' && cfg.haltExplorationProb > 0)
    throw new Error('recordTrace: a train or eval trace runs with halt_exploration_prob 0');
  const [kWeights, kBatch, kRun] = split(key(opts.seed), 3) as [Key, Key, Key];
  const batchKeys = split(kBatch, Math.max(1, opts.steps)) as Key[];
  const ctx: RecursionContext = { ...stepContext(cfg, backend), probe: true };
  const batch0 = opts.batch ?? randomBatch(cfg, batchKeys[0]!, backend);
  const state = opts.weights ?? withAutoQBias(cfg, ctx, recordingWeights(cfg, kWeights, backend), batch0, lossType);
  const entries: StWriteEntry[] = named('params/', toOfficial(cfg, state));
  const metadata: Record<string, string> = {
    format: 'trm-trace/2',
    config: JSON.stringify({ ...cfg.official, forward_dtype: 'float32' }),
    loss_type: lossType,
    mode: opts.mode,
    steps: String(opts.steps),
    case: 'trm-trace',
    seed: String(opts.seed),
    dtype: 'float32',
    recorder: 'trm-ts trm trace',
    init:
      opts.weights === undefined
        ? 'official init, then puzzle_emb.weights=0.5*randn, q_head.weight=0.05*randn, q_head.bias auto'
        : 'given weights',
    probes: opts.blocks === true ? 'blocks' : 'updates',
  };
  const blocks = opts.blocks === true;

  if (opts.mode !== 'train-run') {
    entries.push(...batchEntries('batch/', batch0));
    let carry = initialCarry(cfg, batch0);
    for (let s = 0; s < opts.steps; s++) {
      const { result, grads } = superviseStep(cfg, ctx, state, carry, batch0, opts.mode, lossType);
      entries.push(...stepEntries(s, result, blocks));
      if (grads !== null) entries.push(...named(`grad/${s}/`, grads));
      carry = result.carry;
    }
    return { entries, metadata };
  }

  const hyper = opts.hyper ?? recordHyper(cfg, opts.steps);
  const { seed: _seed, loss_type: _loss, ...train } = hyper;
  metadata.train = JSON.stringify(train);
  const setup = makeSetup(cfg, ctx, { ...hyper, loss_type: lossType });
  let st = initTrainState(setup, state, kRun);
  for (let s = 0; s < opts.steps; s++) {
    const batch = s === 0 ? batch0 : randomBatch(cfg, batchKeys[s]!, backend);
    entries.push(...batchEntries(`batch/${s}/`, batch));
    const out = trainStep(setup, st, batch);
    if (out.detail !== null) {
      const d = out.detail;
      entries.push(...stepEntries(s, d.result, blocks));
      const data = d.result.carry.data;
      entries.push(
        ...batchEntries(`step/${s}/data/`, data),
        { name: `step/${s}/min_halt_steps`, tensor: d.result.minHaltSteps },
        { name: `step/${s}/lr`, tensor: f64(d.lr), dtype: 'F64' },
      );
      if (cfg.puzzleEmbNdim > 0)
        entries.push({ name: `step/${s}/puzzle_emb_lr`, tensor: f64(d.puzzleEmbLr), dtype: 'F64' });
      for (const [k, v] of Object.entries(d.result.metrics))
        entries.push({ name: `step/${s}/metrics/${k}`, tensor: f64(v), dtype: 'F64' });
      entries.push(...named(`grad/${s}/`, officialGrads(cfg, d.grad, st.model.buffers)));
    }
    st = out.state;
    entries.push(...updateEntries(cfg, s, st));
  }
  return { entries, metadata };
};
