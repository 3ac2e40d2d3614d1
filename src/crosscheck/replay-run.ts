/**
 * Replaying a train-run trace: K optimizer steps of the official training loop, each fed the
 * next recorded batch and the recorded exploration draws, through trm-ts's own `trainStep`.
 *
 * teacher-forced (default): step s starts from the RECORDED state after step s−1: parameters,
 *   puzzle-embedding table, AdamATan2 moments, EMA shadow and carry (its data included).
 * free-running: trm-ts's own training state carries forward from the recorded initial weights.
 *
 * Per step, rows come in the order the values are computed: the supervision step (x, every update
 * of the recursion, heads, halting, losses), the metric sums and learning rates, the gradients
 * after the 1/global_batch_size scaling, then what the optimizer step wrote: the AdamATan2
 * moments, the parameters, the puzzle-embedding table and the EMA shadow. A step past
 * total_steps updates nothing but the EMA, as the official loop does.
 */
import { reference } from '../backend/reference.js';
import { key } from '../random/index.js';
import { type Tensor, fromStorage, storage, zeros } from '../tensor/tensor.js';
import { treeMap } from '../tensor/tree.js';
import { type Carry, stepContext } from '../trm/act.js';
import { type TrmParams, type TrmState, fromOfficial, officialLayout, toOfficial } from '../trm/params.js';
import type { RecursionContext } from '../trm/recursion.js';
import { type TrainSetup, type TrainState, applyUpdate, initTrainState, makeSetup, trainStep } from '../train/loop.js';
import type { Trainable } from '../trm/act.js';
import type { Metrics } from '../trm/loss.js';
import type { Backend } from '../backend/backend.js';
import {
  DEFAULT_TOLERANCE,
  type FileReport,
  type ReplayOptions,
  type Row,
  type Tolerance,
  compareTensor,
  compareUpdate,
  fileReport,
  int32Of,
  missingRow,
  onBackend,
} from './compare.js';
import { gradRows, hasProbes, officialGrads, stepRows } from './replay-steps.js';
import { DATA_KINDS, METRIC_KINDS, type Trace } from './trace.js';

const PUZZLE_TABLE = 'inner.puzzle_emb.weights';

/** A state whose named tensors are taken from `prefix<name>` where recorded, else from `base`. */
const stateFrom = (trace: Trace, prefix: string, base: TrmState, backend: Backend): TrmState => {
  const named = toOfficial(trace.config, base);
  for (const name of named.keys()) {
    const t = trace.tensors.get(`${prefix}${name}`);
    if (t !== undefined) named.set(name, onBackend(t, backend));
  }
  const s = fromOfficial(trace.config, named, trace.file);
  if (s._tag === 'Left') throw new Error(`replay: ${trace.file}: ${s.left.field}: ${s.left.message}`);
  return s.right;
};

const zerosLike = (p: TrmParams): TrmParams =>
  treeMap(p, (t) => zeros(t.shape, { dtype: t.dtype, backend: t.backend }));

/** Whether the recording trained at step s (it records no supervision step past its total_steps). */
const recordedRan = (trace: Trace, s: number): boolean => trace.tensors.has(`step/${s}/loss`);

/** The last step ≤ s at which the recording trained (its carry is the carry after s), or −1. */
const lastRan = (trace: Trace, s: number): number => {
  let r = s;
  while (r >= 0 && !recordedRan(trace, r)) r--;
  return r;
};

/** The recorded carry after step s, with the data its rows work on. */
const carryAfter = (trace: Trace, s: number, backend: Backend): Carry => {
  const g = (k: string): Tensor => onBackend(trace.tensors.get(`step/${s}/${k}`)!, backend);
  return {
    y: g('z_H'),
    z: g('z_L'),
    steps: int32Of(g('steps')),
    halted: int32Of(g('halted')),
    data: { inputs: g('data/inputs'), labels: g('data/labels'), puzzleIdentifiers: g('data/puzzle_identifiers') },
  };
};

/** The recorded training state before step s (teacher forcing): everything step s−1 wrote. */
const recordedState = (trace: Trace, setup: TrainSetup, initial: TrmState, s: number, backend: Backend): TrainState => {
  const up = `update/${s - 1}/`;
  const model = stateFrom(trace, `${up}params/`, initial, backend);
  const none: TrmState = { params: zerosLike(initial.params), buffers: initial.buffers };
  const moments = (slot: string): TrmParams => stateFrom(trace, `${up}${slot}/`, none, backend).params;
  const ran = lastRan(trace, s - 1);
  return {
    step: s,
    model,
    opt: {
      step: Array.from({ length: s }, (_, r) => recordedRan(trace, r)).filter(Boolean).length,
      expAvg: moments('exp_avg'),
      expAvgSq: moments('exp_avg_sq'),
    },
    ema: setup.hyper.ema ? stateFrom(trace, `${up}ema/`, initial, backend).params : null,
    carry: ran < 0 ? null : carryAfter(trace, ran, backend),
    key: key(0),
  };
};

/** The recorded (scaled) gradients of step s as a Trainable tree. */
const recordedGrad = (trace: Trace, s: number, state: TrainState, backend: Backend): Trainable => {
  const params = stateFrom(trace, `grad/${s}/`, state.model, backend).params;
  const rows = trace.tensors.get(`grad/${s}/inner.puzzle_emb.local_weights`);
  const puzzleRows =
    rows === undefined ? zeros([trace.config.batchSize, 0], { dtype: 'float32', backend }) : onBackend(rows, backend);
  return { params, puzzleRows };
};

/** The puzzle ids the carry worked on at step s (the rows SignSGD updates). */
const idsOf = (trace: Trace, s: number, backend: Backend): Tensor =>
  onBackend(trace.tensors.get(`step/${s}/data/puzzle_identifiers`)!, backend);

const scalar = (v: number): Tensor => fromStorage([1], Float64Array.of(v));

/** The metric sums and the learning rates of step s. */
const scalarRows = (trace: Trace, s: number, m: Metrics, lr: number, puzzleEmbLr: number, tol: Tolerance): Row[] => {
  const rows: Row[] = [];
  const ours: Record<string, number> = { ...m };
  for (const k of METRIC_KINDS) {
    const ref = trace.tensors.get(`step/${s}/metrics/${k}`);
    if (ref !== undefined) rows.push(compareTensor(s, `metrics/${k}`, scalar(ours[k]!), ref, tol));
  }
  for (const [k, v] of [
    ['lr', lr],
    ['puzzle_emb_lr', puzzleEmbLr],
  ] as const) {
    const ref = trace.tensors.get(`step/${s}/${k}`);
    if (ref !== undefined) rows.push(compareTensor(s, k, scalar(v), ref, tol));
  }
  return rows;
};

/**
 * What the optimizer step wrote, compared as updates (see `compareUpdate`): ours from `before` to
 * `after`, the recording's from `recordedBefore` to what it wrote at step s.
 */
const updateRows = (
  trace: Trace,
  s: number,
  before: TrainState,
  recordedBefore: TrainState,
  after: TrainState,
  tol: Tolerance,
): Row[] => {
  const cfg = trace.config;
  const rows: Row[] = [];
  const layout = officialLayout(cfg).filter((r) => r.trainable);
  const up = `update/${s}/`;
  const slot = (
    name: string,
    tensorOf: (st: TrainState, get: (x: TrmState) => Tensor) => Tensor | null,
    get: (x: TrmState) => Tensor,
  ) => {
    const ref = trace.tensors.get(`${up}${name}`);
    if (ref === undefined) return;
    const ours = tensorOf(after, get);
    const old = tensorOf(before, get);
    const refOld = tensorOf(recordedBefore, get);
    if (ours === null || old === null || refOld === null) rows.push(missingRow(s, name, ref));
    else rows.push(compareUpdate(s, name, ours, ref, old, refOld, tol));
  };
  const withParams = (p: TrmParams | null, st: TrainState): TrmState | null =>
    p === null ? null : { params: p, buffers: st.model.buffers };
  for (const [slotName, pick] of [
    ['exp_avg', (st: TrainState) => withParams(st.opt.expAvg, st)],
    ['exp_avg_sq', (st: TrainState) => withParams(st.opt.expAvgSq, st)],
    ['params', (st: TrainState) => st.model],
  ] as const) {
    for (const r of layout) slot(`${slotName}/${r.name}`, (st, get) => mapNull(pick(st), get), r.get);
  }
  if (cfg.puzzleEmbNdim > 0)
    slot(
      `params/${PUZZLE_TABLE}`,
      (st) => st.model.buffers.puzzleEmb,
      (x) => x.buffers.puzzleEmb,
    );
  for (const r of layout) slot(`ema/${r.name}`, (st, get) => mapNull(withParams(st.ema, st), get), r.get);
  return rows;
};

const mapNull = <A, B>(a: A | null, f: (a: A) => B): B | null => (a === null ? null : f(a));

/** Replays a train-run trace (see the module comment). */
export const replayTrainRun = (trace: Trace, opts: ReplayOptions = {}): FileReport => {
  const mode = opts.mode ?? 'teacher-forced';
  const tol = opts.tolerance ?? DEFAULT_TOLERANCE;
  const backend = opts.backend ?? reference;
  const cfg = trace.config;
  if (trace.hyper === null) throw new Error(`replayTrainRun: ${trace.file} is not a train-run trace`);
  const ctx: RecursionContext = { ...stepContext(cfg, backend), probe: hasProbes(trace) };
  const setup = makeSetup(cfg, ctx, trace.hyper);
  const initial = treeMap(trace.state, (t) => onBackend(t, backend));
  const start = initTrainState(setup, initial, key(0));
  let state = start;
  const rows: Row[] = [];
  for (let s = 0; s < trace.steps; s++) {
    const recorded = s === 0 ? start : recordedState(trace, setup, initial, s, backend);
    if (mode === 'teacher-forced') state = recorded;
    const batch = treeMap(trace.batches[s]!, (t) => onBackend(t, backend));
    const draws = trace.tensors.get(`step/${s}/min_halt_steps`);
    const out = trainStep(setup, state, batch, draws === undefined ? {} : { minHaltSteps: onBackend(draws, backend) });
    let after = out.state;
    const ran = recordedRan(trace, s);
    if (out.detail !== null && !ran) {
      // We trained at a step the recording skipped (past its total_steps).
      rows.push({ ...missingRow(s, 'loss', scalar(0)), refMaxAbs: Number.NaN });
    } else if (out.detail !== null && mode === 'teacher-forced') {
      // The optimizer step is checked on the recorded gradients (compared above it, row by row):
      // Adam's per-element normalisation would turn rounding noise in a near-zero gradient into a
      // full-size step of either sign.
      const u = applyUpdate(setup, state, s + 1, recordedGrad(trace, s, state, backend), idsOf(trace, s, backend));
      after = { ...out.state, model: u.model, opt: u.opt, ema: u.ema };
    }
    if (out.detail !== null && ran) {
      const d = out.detail;
      rows.push(...stepRows(trace, s, d.result, tol));
      const data = d.result.carry.data;
      const ours = { inputs: data.inputs, labels: data.labels, puzzle_identifiers: data.puzzleIdentifiers };
      for (const k of DATA_KINDS) {
        const ref = trace.tensors.get(`step/${s}/data/${k}`);
        if (ref !== undefined) rows.push(exactRow(s, `data/${k}`, ours[k], ref, tol));
      }
      rows.push(...scalarRows(trace, s, d.result.metrics, d.lr, d.puzzleEmbLr, tol));
      rows.push(...gradRows(trace, s, officialGrads(cfg, d.grad, state.model.buffers), tol));
    } else if (out.detail === null && ran) {
      rows.push(missingRow(s, 'loss', trace.tensors.get(`step/${s}/loss`)!)); // the recording trained, we did not
    }
    rows.push(...updateRows(trace, s, state, recorded, after, tol));
    state = after;
  }
  return fileReport(trace, mode, rows);
};

/** Integer tensors (the carry's data) must match exactly. */
const exactRow = (s: number, name: string, ours: Tensor, ref: Tensor, tol: Tolerance): Row => {
  const r = compareTensor(s, name, ours, ref, tol);
  const a = storage(ours);
  const b = storage(ref);
  const same = a.length === b.length && a.every((v, i) => v === b[i]);
  return { ...r, exact: true, ok: same };
};
