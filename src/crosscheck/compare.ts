/**
 * Comparing recorded tensors with ours: tolerances, rows (one per tensor and step, with the place
 * inside the recursion where it applies) and the per-file report.
 */
import type { Backend } from '../backend/backend.js';
import { type Tensor, fromStorage, storage } from '../tensor/tensor.js';
import { shapeStr } from '../core/shape.js';
import type { Trace, TraceMode } from './trace.js';

/**
 * `teacher-forced`: every step starts from the recorded state of the step before, so each step is
 * checked on its own. `free-running`: trm-ts's own state carries forward, as a real run would.
 */
export type ReplayMode = 'teacher-forced' | 'free-running';

/**
 * How close the replay must come to the recording for a row to pass. Rows compared exactly
 * (halting, step counts, integer metric sums, the carry's data) must be equal whatever the
 * tolerance; a NaN in one tensor and not the other always fails.
 */
export interface Tolerance {
  /** Tensors: max |ours − ref| ≤ rel · max|ref| + abs. */
  readonly rel: number;
  /** The absolute term of the tensor bound above. */
  readonly abs: number;
  /** Losses: |ours − ref| ≤ lossRel · |ref|. */
  readonly lossRel: number;
  /**
   * What an optimizer step wrote (parameters, moments, puzzle table, EMA), judged against the size
   * of the recorded update: |ours − ref| ≤ updateRel · max|ref − before| + updateUlps · ulp(max|ref|),
   * where `before` is the value the step started from and ulp is float32's.
   */
  readonly updateRel: number;
  /** The number of float32 ulps of max|ref| in the update bound above. */
  readonly updateUlps: number;
}

/** The tolerances a replay uses unless given others (rel 1e-4, abs 1e-5, lossRel 1e-5, updateRel 1e-3, 4 ulps). */
export const DEFAULT_TOLERANCE: Tolerance = { rel: 1e-4, abs: 1e-5, lossRel: 1e-5, updateRel: 1e-3, updateUlps: 4 };

/** Where inside a supervision step a recorded intermediate lives. */
export interface Place {
  /** The deep-recursion cycle 0 … T−1, or null outside the recursion. */
  readonly cycle: number | null;
  /** The latent update 0 … n−1 or 'answer' (the y update), or null. */
  readonly update: number | 'answer' | null;
}

export const NO_PLACE: Place = { cycle: null, update: null };

/** One recorded tensor at one step compared with the replay's value, and where in the step it lies. */
export interface Row extends Place {
  /** The supervision step (train and eval traces) or optimizer step (train-run traces), from 0. */
  readonly step: number;
  /** e.g. `z_H`, `loss`, `grad/inner.lm_head.weight` */
  readonly tensor: string;
  /** The recorded tensor's shape. */
  readonly shape: readonly number[];
  /** max |ours − ref| */
  readonly maxAbsErr: number;
  /** maxAbsErr / max|ref| (for losses: |ours − ref| / |ref|) */
  readonly relErr: number;
  /** max |ref|, the scale the relative error is taken against */
  readonly refMaxAbs: number;
  /** Compared exactly (halting, step counts, integer metric sums, the carry's data): ok only when equal. */
  readonly exact: boolean;
  /** Within tolerance (equal, when `exact`); false too for a tensor the replay does not produce. */
  readonly ok: boolean;
  /** First index (flat) of the largest error, for locating it. */
  readonly worstIndex: number;
}

/** The replay of one trace: a row per recorded tensor and step, the first divergence and the largest error. */
export interface FileReport {
  /** The trace's name in messages: its path when read from disk. */
  readonly file: string;
  /** How the trace was replayed. */
  readonly mode: ReplayMode;
  /** What the trace records. */
  readonly traceMode: TraceMode;
  /** Every row within tolerance. */
  readonly ok: boolean;
  /** Every comparison, in the order the replay computes the values. */
  readonly rows: readonly Row[];
  /** The first row not within tolerance (the innermost place where the implementations part), or null. */
  readonly firstDivergence: Row | null;
  /**
   * The row with the largest relative error among those not compared exactly (NaN the largest of
   * all, ties keeping the earlier row), or null when there is none.
   */
  readonly maxRelErr: {
    /** The row's tensor. */
    readonly tensor: string;
    /** The row's step. */
    readonly step: number;
    /** The row's relative error. */
    readonly relErr: number;
  } | null;
  /** What the trace's layout map declared the recording does not have. */
  readonly notComparable: readonly string[];
}

/** Scalars compared relative to themselves: losses, metric sums that are not counts, learning rates. */
const LOSS_KINDS = new Set([
  'loss',
  'lm_loss',
  'q_halt_loss',
  'q_continue_loss',
  'metrics/accuracy',
  'lr',
  'puzzle_emb_lr',
]);
/** Integers that must match exactly. */
const EXACT_KINDS = new Set([
  'halted',
  'steps',
  'metrics/count',
  'metrics/exact_accuracy',
  'metrics/q_halt_accuracy',
  'metrics/steps',
]);

/** A failing row for a tensor the trace has and the replay does not produce. */
export const missingRow = (step: number, name: string, ref: Tensor, place: Place = NO_PLACE): Row => ({
  step,
  ...place,
  tensor: name,
  shape: ref.shape,
  maxAbsErr: Infinity,
  relErr: Infinity,
  refMaxAbs: 0,
  exact: false,
  ok: false,
  worstIndex: 0,
});

/** Compares one tensor; shapes must agree element count-wise. */
export const compareTensor = (
  step: number,
  name: string,
  ours: Tensor,
  ref: Tensor,
  tol: Tolerance,
  place: Place = NO_PLACE,
): Row => {
  const a = storage(ours);
  const b = storage(ref);
  if (a.length !== b.length) return missingRow(step, name, ref, place);
  let maxErr = 0;
  let worst = 0;
  let refMax = 0;
  let nan = false;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d) && !(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) nan = true;
    if (d > maxErr) {
      maxErr = d;
      worst = i;
    }
    if (!Number.isNaN(b[i]!)) refMax = Math.max(refMax, Math.abs(b[i]!));
  }
  const exact = EXACT_KINDS.has(name);
  const relErr = refMax === 0 ? (maxErr === 0 ? 0 : Infinity) : maxErr / refMax;
  let ok: boolean;
  if (nan) ok = false;
  else if (exact) ok = maxErr === 0;
  else if (LOSS_KINDS.has(name)) ok = maxErr <= tol.lossRel * refMax;
  else ok = maxErr <= tol.rel * refMax + tol.abs;
  return {
    step,
    ...place,
    tensor: name,
    shape: ref.shape,
    maxAbsErr: nan ? NaN : maxErr,
    relErr: nan ? NaN : relErr,
    refMaxAbs: refMax,
    exact,
    ok,
    worstIndex: worst,
  };
};

/** The spacing of float32 numbers at |x| (the unit in the last place). */
export const ulp32 = (x: number): number => {
  const a = Math.abs(x);
  // Stryker disable next-line EqualityOperator: equivalent (at 2^-126 both branches give 2^-149)
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
};

/**
 * Compares what an optimizer step wrote, as updates: ours (ours − before) against the recording's
 * (ref − refBefore). Teacher-forced, both start from the same values and this is |ours − ref|;
 * free-running, each side's update is taken from its own state. The reported relative error is
 * taken against the size of the recorded update, so a wrong learning rate or EMA rate stands out
 * even when the update is tiny next to the weights.
 */
export const compareUpdate = (
  step: number,
  name: string,
  ours: Tensor,
  ref: Tensor,
  before: Tensor,
  refBefore: Tensor,
  tol: Tolerance,
): Row => {
  const a = storage(ours);
  const b = storage(ref);
  const o = storage(before);
  const ro = storage(refBefore);
  if (a.length !== b.length || o.length !== b.length || ro.length !== b.length) return missingRow(step, name, ref);
  let maxErr = 0;
  let worst = 0;
  let refMax = 0;
  let delta = 0;
  let nan = false;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - o[i]! - (b[i]! - ro[i]!));
    if (Number.isNaN(d) && !(Number.isNaN(a[i]!) && Number.isNaN(b[i]!))) nan = true;
    if (d > maxErr) {
      maxErr = d;
      worst = i;
    }
    if (!Number.isNaN(b[i]!)) refMax = Math.max(refMax, Math.abs(b[i]!));
    // Stryker disable next-line ArithmeticOperator: equivalent but for infinite values, which fail the row either way
    if (!Number.isNaN(b[i]! - ro[i]!)) delta = Math.max(delta, Math.abs(b[i]! - ro[i]!));
  }
  const bound = tol.updateRel * delta + tol.updateUlps * ulp32(refMax);
  const relErr = delta === 0 ? (maxErr === 0 ? 0 : Infinity) : maxErr / delta;
  return {
    step,
    ...NO_PLACE,
    tensor: name,
    shape: ref.shape,
    maxAbsErr: nan ? NaN : maxErr,
    relErr: nan ? NaN : relErr,
    refMaxAbs: refMax,
    exact: false,
    ok: !nan && maxErr <= bound,
    worstIndex: worst,
  };
};

export const int32Of = (t: Tensor): Tensor => fromStorage(t.shape, Int32Array.from(t.data), t.backend);

/** Moves a tensor to `backend` (same values; no-op for the reference backend). */
export const onBackend = (t: Tensor, backend: Backend): Tensor =>
  t.backend === backend ? t : fromStorage(t.shape, storage(t).slice(), backend);

/** Options of `replayTrace`. */
export interface ReplayOptions {
  /** Default `teacher-forced`. */
  readonly mode?: ReplayMode;
  /** Default {@link DEFAULT_TOLERANCE}. */
  readonly tolerance?: Tolerance;
  /** The backend the replay computes on; default the reference backend. */
  readonly backend?: Backend;
}

/** A larger relative error than m's, NaN the largest of all (ties keep the earlier row). */
const worse = (r: Row, m: Row): boolean => !Number.isNaN(m.relErr) && (Number.isNaN(r.relErr) || r.relErr > m.relErr);

/** The report for a list of rows (first divergence, largest relative error). */
export const fileReport = (trace: Trace, mode: ReplayMode, rows: readonly Row[]): FileReport => {
  const firstDivergence = rows.find((r) => !r.ok) ?? null;
  const worst = rows.filter((r) => !r.exact).reduce<Row | null>((m, r) => (m === null || worse(r, m) ? r : m), null);
  return {
    file: trace.file,
    mode,
    traceMode: trace.mode,
    ok: firstDivergence === null,
    rows,
    firstDivergence,
    maxRelErr: worst === null ? null : { tensor: worst.tensor, step: worst.step, relErr: worst.relErr },
    notComparable: trace.notComparable,
  };
};

/** Where a row lives, for the terminal: `step 2 · cycle 1 · latent update 3 · z_L`. */
export const formatPlace = (r: Row): string => {
  const parts = [`step ${r.step}`];
  if (r.cycle !== null) parts.push(`cycle ${r.cycle}`);
  if (r.update !== null) parts.push(r.update === 'answer' ? 'answer update' : `latent update ${r.update}`);
  parts.push(r.tensor);
  return parts.join(' · ');
};

/** One line per row for the terminal. */
export const formatRow = (r: Row): string =>
  `${r.ok ? 'ok  ' : 'FAIL'} ${formatPlace(r).padEnd(64)} ${shapeStr(r.shape).padEnd(14)} max_abs_err ${r.maxAbsErr.toExponential(2)}  rel ${r.relErr.toExponential(2)}`;
