/**
 * One supervision step with the official ACT carry (`TinyRecursiveReasoningModel_ACTV1.forward`
 * + `ACTLossHead`).
 *
 * The carry holds, per batch row, the state (y, z), the steps taken and whether the row halted,
 * and the data the row is working on. A step:
 *   1. startStep: rows that halted last time restart from (y_init, z_init) with steps 0 and take
 *      the new batch's row; the other rows keep their data (the new batch's row is discarded).
 *   2. stepForward: x = input embedding; deep recursion; heads; halting; loss.
 *      Halting: steps ≥ N_sup always halts. In training (and N_sup > 1) a row also halts when
 *      q_halt > 0 (paper, `no_ACT_continue`) or q_halt > q_continue (Q-learning ACT), unless
 *      exploration drew a minimum step count it has not reached. Evaluation never halts early.
 * The returned carry is detached: no gradient flows between supervision steps.
 */
import { stopGradient } from '../autodiff/grad.js';
import { broadcastTo, gather, maximum, reshape, sigmoid, where } from '../ops/index.js';
import type { Key } from '../random/key.js';
import { split } from '../random/key.js';
import { bernoulliArray, randintArray } from '../random/sample.js';
import type { Backend } from '../backend/backend.js';
import { type Tensor, fromStorage, storage, zeros } from '../tensor/tensor.js';
import type { TrmConfig } from './config.js';
import { inputEmbedding } from './embedding.js';
import { outputHead, qHead } from './heads.js';
import { type LossResult, type LossType, type Metrics, lossHead, stepMetrics } from './loss.js';
import type { TrmBuffers, TrmParams } from './params.js';
import { type Probe, type RecursionContext, deepRecursion } from './recursion.js';
import { ropeTables } from './rope.js';

/** A batch of B puzzles: tokens, target labels and puzzle identifiers. */
export interface Batch {
  /** int32 [B, seq_len] */
  readonly inputs: Tensor;
  /** int32 [B, seq_len], −100 = ignored */
  readonly labels: Tensor;
  /** int32 [B] */
  readonly puzzleIdentifiers: Tensor;
}

/** The state carried from one supervision step to the next, per batch row. */
export interface Carry {
  /** y (official z_H) [B, L, D] */
  readonly y: Tensor;
  /** z (official z_L) [B, L, D] */
  readonly z: Tensor;
  /** int32 [B] */
  readonly steps: Tensor;
  /** int32 [B], 1 = halted */
  readonly halted: Tensor;
  /** The batch rows the carry's rows are working on. */
  readonly data: Batch;
}

/** 'train': adaptive halting and exploration; 'eval': rows halt only at N_sup unless `StepOptions.halt` is 'adaptive'. */
export type Mode = 'train' | 'eval';

/** Everything a step needs that depends only on the config: the recursion sizes and RoPE tables. */
export const stepContext = (
  cfg: TrmConfig,
  backend?: Backend,
  dtype: 'float32' | 'float64' = 'float32',
): RecursionContext => ({
  T: cfg.T,
  n: cfg.n,
  numHeads: cfg.numHeads,
  eps: cfg.rmsNormEps,
  rope:
    cfg.posEncodings === 'rope' && !cfg.mlpT
      ? ropeTables(cfg.totalLen, cfg.headDim, cfg.ropeTheta, backend, dtype)
      : null,
});

/** The initial carry: every row halted, so the first step loads the batch and resets the state. */
export const initialCarry = (cfg: TrmConfig, batch: Batch, dtype: Tensor['dtype'] = 'float32'): Carry => {
  const B = batch.inputs.shape[0]!;
  const backend = batch.inputs.backend;
  return {
    y: zeros([B, cfg.totalLen, cfg.D], { dtype, backend }),
    z: zeros([B, cfg.totalLen, cfg.D], { dtype, backend }),
    steps: zeros([B], { dtype: 'int32', backend }),
    halted: fromStorage([B], new Int32Array(B).fill(1), backend),
    data: batch,
  };
};

const rowMask = (halted: Tensor, rank: number): Tensor =>
  reshape(halted, [halted.shape[0]!, ...Array.from({ length: rank - 1 }, () => 1)]);

/** Step 1: halted rows restart from (y_init, z_init) with the new batch's row. */
export const startStep = (cfg: TrmConfig, buffers: TrmBuffers, carry: Carry, batch: Batch): Carry => {
  const h = carry.halted;
  const take = (fresh: Tensor, old: Tensor): Tensor => where(rowMask(h, fresh.rank), fresh, old);
  const init = (v: Tensor, like: Tensor): Tensor => broadcastTo(reshape(v, [1, 1, cfg.D]), like.shape);
  return {
    y: take(init(buffers.yInit, carry.y), carry.y),
    z: take(init(buffers.zInit, carry.z), carry.z),
    steps: where(h, 0, carry.steps),
    halted: h,
    data: {
      inputs: take(batch.inputs, carry.data.inputs),
      labels: take(batch.labels, carry.data.labels),
      puzzleIdentifiers: take(batch.puzzleIdentifiers, carry.data.puzzleIdentifiers),
    },
  };
};

/** The puzzle-embedding rows of the carry's data (the official `local_weights`). */
export const puzzleRows = (cfg: TrmConfig, buffers: TrmBuffers, data: Batch): Tensor =>
  cfg.puzzleEmbNdim > 0
    ? gather(buffers.puzzleEmb, data.puzzleIdentifiers)
    : zeros([data.puzzleIdentifiers.shape[0]!, 0], { dtype: buffers.yInit.dtype, backend: buffers.yInit.backend });

/** What is differentiated in training: the parameters and this batch's puzzle-embedding rows. */
export interface Trainable {
  /** The trainable parameters. */
  readonly params: TrmParams;
  /** This batch's puzzle-embedding rows [B, puzzle_emb_ndim]. */
  readonly puzzleRows: Tensor;
}

/** Options of `stepForward`. */
export interface StepOptions {
  /** Training or evaluation: decides how rows halt and whether they explore. */
  readonly mode: Mode;
  /** The token loss of the loss head. */
  readonly lossType: LossType;
  /** Needed in training when halt_exploration_prob > 0. */
  readonly key?: Key;
  /** Override of the halting rule for inference: 'adaptive' halts each row on q_halt > 0 as in training. */
  readonly halt?: 'max' | 'adaptive';
  /**
   * The exploration draws (int32 [B]: a minimum step count per row, 0 where the row does not
   * explore), given instead of drawn from `key`; a cross-check replays a recording's draws.
   */
  readonly minHaltSteps?: Tensor;
}

/** What the step computed inside the recursion, when the context asks for probes. */
export interface StepProbe {
  /** The input embedding x [B, L, D]. */
  readonly x: Tensor;
  /** Every latent and answer update of every cycle, in order (see `Probe`). */
  readonly updates: readonly Probe[];
}

/** What one supervision step computed: the new carry, the heads' outputs, the loss and metrics. */
export interface StepResult {
  /** The carry after this step, detached. */
  readonly carry: Carry;
  /** [B, seq_len, vocab] */
  readonly logits: Tensor;
  /** The halt logit q_halt per row [B]. */
  readonly qHalt: Tensor;
  /** The continue logit q_continue per row [B]. */
  readonly qContinue: Tensor;
  /** The Q-continue target (a probability per row [B]) in Q-learning ACT training; null otherwise. */
  readonly targetQContinue: Tensor | null;
  /** The loss terms and predictions of the loss head. */
  readonly loss: LossResult;
  /** Metric sums over the rows that halt at this step and have a target. */
  readonly metrics: Metrics;
  /** The exploration draws used (int32 [B], 0 = no minimum); zeros outside training. */
  readonly minHaltSteps: Tensor;
  /** Set when `ctx.probe` is: x and every update of the recursion. */
  readonly probe: StepProbe | null;
}

/** x, deep recursion and heads for the carry `c` (already started). */
const forward = (cfg: TrmConfig, ctx: RecursionContext, w: Trainable, c: Carry) => {
  const x = inputEmbedding(cfg, w.params.embedTokens, w.params.embedPos, w.puzzleRows, c.data.inputs);
  const r = deepRecursion(ctx, w.params, x, { y: c.y, z: c.z });
  const probe: StepProbe | null = ctx.probe === true ? { x, updates: r.probes } : null;
  return {
    yz: { y: r.y, z: r.z },
    logits: outputHead(w.params, r.y, cfg.puzzleEmbLen),
    q: qHead(w.params, r.y),
    probe,
  };
};

/**
 * Exploration (official `min_halt_steps`): with probability halt_exploration_prob a row draws a
 * minimum step count uniform on [2, N_sup] before which it may not halt; 0 where it does not explore.
 */
export const explorationDraws = (cfg: TrmConfig, key: Key, B: number): Int32Array => {
  const out = new Int32Array(B);
  const [kb, kr] = split(key, 2) as [Key, Key];
  const explore = bernoulliArray(kb, B, cfg.haltExplorationProb);
  const draws = randintArray(kr, B, 2, cfg.nSup + 1);
  // Stryker disable next-line EqualityOperator: equivalent (a write at index B is dropped by the typed array)
  for (let b = 0; b < B; b++) out[b] = explore[b] ? draws[b]! : 0;
  return out;
};

const minHaltSteps = (cfg: TrmConfig, key: Key | undefined, given: Tensor | undefined, B: number): Int32Array => {
  if (given !== undefined) {
    if (given.shape.length !== 1 || given.shape[0] !== B)
      throw new Error(`stepForward: minHaltSteps has shape [${given.shape}], expected [${B}]`);
    return Int32Array.from(storage(given));
  }
  if (cfg.haltExplorationProb <= 0) return new Int32Array(B);
  if (key === undefined) throw new Error('stepForward: halt_exploration_prob > 0 in training needs a PRNG key');
  return explorationDraws(cfg, key, B);
};

/** Step 2: one supervision step on a started carry. Pure; the result's carry is detached. */
export const stepForward = (
  cfg: TrmConfig,
  ctx: RecursionContext,
  w: Trainable,
  c: Carry,
  opts: StepOptions,
): StepResult => {
  const B = c.steps.shape[0]!;
  const { yz, logits, q, probe } = forward(cfg, ctx, w, c);
  const newYZ = stopGradient(yz);

  // Halting (no gradient).
  const steps = new Int32Array(B);
  const halted = new Int32Array(B);
  const isLast = new Int32Array(B);
  const training = opts.mode === 'train';
  const adaptive = training ? cfg.nSup > 1 : opts.halt === 'adaptive';
  // As the official code: halting by Q and exploration only in training and when N_sup > 1.
  const minSteps = training && cfg.nSup > 1 ? minHaltSteps(cfg, opts.key, opts.minHaltSteps, B) : new Int32Array(B);
  const qh = storage(q.halt);
  const qc = storage(q.cont);
  for (let b = 0; b < B; b++) {
    steps[b] = c.steps.data[b]! + 1;
    isLast[b] = steps[b]! >= cfg.nSup ? 1 : 0;
    let h = isLast[b]! === 1;
    if (adaptive) h = h || (cfg.noActContinue ? qh[b]! > 0 : qh[b]! > qc[b]!);
    h = h && steps[b]! >= minSteps[b]!; // no minimum (0) outside training
    halted[b] = h ? 1 : 0;
  }
  const backend = c.steps.backend;
  const newCarry: Carry = {
    y: newYZ.y,
    z: newYZ.z,
    steps: fromStorage([B], steps, backend),
    halted: fromStorage([B], halted, backend),
    data: c.data,
  };

  // The Q-continue target (HRM's Q-learning ACT): one more no-grad pass on the new carry.
  let target: Tensor | null = null;
  if (training && !cfg.noActContinue && cfg.nSup > 1) {
    // Stryker disable next-line BooleanLiteral: equivalent (the probes of this pass are never read)
    const next = forward(cfg, { ...ctx, probe: false }, stopGradient(w), newCarry).q;
    const last = fromStorage([B], isLast, backend);
    target = stopGradient(sigmoid(where(last, next.halt, maximum(next.halt, next.cont))));
  }

  const loss = lossHead(opts.lossType, logits, c.data.labels, q.halt, q.cont, target);
  const metrics = stepMetrics(c.data.labels, loss.preds, q.halt, newCarry.halted, newCarry.steps);
  return {
    carry: newCarry,
    logits,
    qHalt: q.halt,
    qContinue: q.cont,
    targetQContinue: target,
    loss,
    metrics,
    minHaltSteps: fromStorage([B], minSteps, backend),
    probe,
  };
};
