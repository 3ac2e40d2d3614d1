/**
 * Replaying a trace: load the recorded weights and batch, run every recorded supervision step
 * with trm-ts, and compare every recorded tensor, step by step, gradients included.
 *
 * teacher-forced (default): step s starts from the RECORDED carry of step s−1 (z_H, z_L, steps,
 *   halted), so each step is checked on its own. MLP-t amplifies float32 rounding about 10× per
 *   step, so this is the mode with a tight tolerance.
 * free-running: step s starts from trm-ts's own carry, as a user's run would.
 */
import { valueAndGradWithAux } from '../autodiff/grad.js';
import type { Backend } from '../backend/backend.js';
import { reference } from '../backend/reference.js';
import { treeMap } from '../tensor/tree.js';
import { type Tensor, fromStorage, storage } from '../tensor/tensor.js';
import { shapeStr } from '../core/shape.js';
import {
  type Carry,
  type StepResult,
  type Trainable,
  initialCarry,
  puzzleRows,
  startStep,
  stepContext,
  stepForward,
} from '../trm/act.js';
import { type TrmState, officialLayout } from '../trm/params.js';
import { CONTINUE_KINDS, STEP_KINDS, type Trace } from './trace.js';

export type ReplayMode = 'teacher-forced' | 'free-running';

export interface Tolerance {
  /** Tensors: |ours − ref| ≤ rel · max|ref| + abs. */
  readonly rel: number;
  readonly abs: number;
  /** Losses: |ours − ref| ≤ lossRel · |ref|. */
  readonly lossRel: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { rel: 1e-4, abs: 1e-5, lossRel: 1e-5 };

export interface Row {
  readonly step: number;
  /** e.g. `z_H`, `loss`, `grad/inner.lm_head.weight` */
  readonly tensor: string;
  readonly shape: readonly number[];
  /** max |ours − ref| */
  readonly maxAbsErr: number;
  /** maxAbsErr / max|ref| (for losses: |ours − ref| / |ref|) */
  readonly relErr: number;
  /** max |ref|, the scale the relative error is taken against */
  readonly refMaxAbs: number;
  readonly exact: boolean;
  readonly ok: boolean;
  /** First index (flat) of the largest error, for locating it. */
  readonly worstIndex: number;
}

export interface FileReport {
  readonly file: string;
  readonly mode: ReplayMode;
  readonly traceMode: 'train' | 'eval';
  readonly ok: boolean;
  readonly rows: readonly Row[];
  readonly firstDivergence: Row | null;
  readonly maxRelErr: { readonly tensor: string; readonly step: number; readonly relErr: number } | null;
}

const LOSS_KINDS = new Set(['loss', 'lm_loss', 'q_halt_loss', 'q_continue_loss']);
const EXACT_KINDS = new Set(['halted', 'steps']);

/** Compares one tensor; shapes must agree element count-wise. */
export const compareTensor = (step: number, name: string, ours: Tensor, ref: Tensor, tol: Tolerance): Row => {
  const kind = name.startsWith('grad/') ? 'grad' : name;
  const a = storage(ours);
  const b = storage(ref);
  if (a.length !== b.length) {
    return {
      step,
      tensor: name,
      shape: ref.shape,
      maxAbsErr: Infinity,
      relErr: Infinity,
      refMaxAbs: 0,
      exact: false,
      ok: false,
      worstIndex: 0,
    };
  }
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
    refMax = Math.max(refMax, Math.abs(b[i]!));
  }
  const exact = EXACT_KINDS.has(kind);
  const relErr = refMax === 0 ? (maxErr === 0 ? 0 : Infinity) : maxErr / refMax;
  let ok: boolean;
  if (nan) ok = false;
  else if (exact) ok = maxErr === 0;
  else if (LOSS_KINDS.has(kind)) ok = maxErr <= tol.lossRel * refMax;
  else ok = maxErr <= tol.rel * refMax + tol.abs;
  return {
    step,
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

const int32Of = (t: Tensor): Tensor => fromStorage(t.shape, Int32Array.from(t.data), t.backend);

/** Moves a tensor to `backend` (same values; no-op for the reference backend). */
const onBackend = (t: Tensor, backend: Backend): Tensor =>
  t.backend === backend ? t : fromStorage(t.shape, storage(t).slice(), backend);

/** The recorded carry after step s (teacher forcing). */
const recordedCarry = (trace: Trace, s: number, data: Carry['data'], backend: Backend): Carry => {
  const g = (k: string): Tensor => onBackend(trace.tensors.get(`step/${s}/${k}`)!, backend);
  return { y: g('z_H'), z: g('z_L'), steps: int32Of(g('steps')), halted: int32Of(g('halted')), data };
};

interface StepOutcome {
  readonly result: StepResult;
  readonly grads: Map<string, Tensor> | null;
}

const runStep = (
  trace: Trace,
  state: TrmState,
  carry: Carry,
  _backend: Backend,
  ctx: ReturnType<typeof stepContext>,
): StepOutcome => {
  const cfg = trace.config;
  const started = startStep(cfg, state.buffers, carry, carry.data);
  const w: Trainable = { params: state.params, puzzleRows: puzzleRows(cfg, state.buffers, started.data) };
  const opts = { mode: trace.mode, lossType: trace.lossType } as const;
  if (trace.mode === 'eval') return { result: stepForward(cfg, ctx, w, started, opts), grads: null };
  const { aux, grad } = valueAndGradWithAux((p: Trainable) => {
    const r = stepForward(cfg, ctx, p, started, opts);
    return [r.loss.total, r] as const;
  })(w);
  const grads = new Map<string, Tensor>();
  const gradState: TrmState = { params: grad.params, buffers: state.buffers };
  for (const row of officialLayout(cfg)) if (row.trainable) grads.set(row.name, row.get(gradState));
  if (cfg.puzzleEmbNdim > 0) grads.set('inner.puzzle_emb.local_weights', grad.puzzleRows);
  return { result: aux, grads };
};

/** The tensors of our step result under the trace's step kind names. */
const ourTensors = (r: StepResult): Map<string, Tensor> => {
  const m = new Map<string, Tensor>([
    ['z_H', r.carry.y],
    ['z_L', r.carry.z],
    ['logits', r.logits],
    ['q_halt_logits', r.qHalt],
    ['q_continue_logits', r.qContinue],
    ['halted', r.carry.halted],
    ['steps', r.carry.steps],
    ['loss', r.loss.total],
    ['lm_loss', r.loss.lmLoss],
    ['q_halt_loss', r.loss.qHaltLoss],
  ]);
  if (r.targetQContinue !== null) m.set('target_q_continue', r.targetQContinue);
  if (r.loss.qContinueLoss !== null) m.set('q_continue_loss', r.loss.qContinueLoss);
  return m;
};

export interface ReplayOptions {
  readonly mode?: ReplayMode;
  readonly tolerance?: Tolerance;
  readonly backend?: Backend;
}

export const replayTrace = (trace: Trace, opts: ReplayOptions = {}): FileReport => {
  const mode = opts.mode ?? 'teacher-forced';
  const tol = opts.tolerance ?? DEFAULT_TOLERANCE;
  const backend = opts.backend ?? reference;
  const cfg = trace.config;
  const state: TrmState = treeMap(trace.state, (t) => onBackend(t, backend));
  const batch = treeMap(trace.batch, (t) => onBackend(t, backend));
  const ctx = stepContext(cfg, backend);
  const rows: Row[] = [];
  let carry = initialCarry(cfg, batch);
  for (let s = 0; s < trace.steps; s++) {
    if (s > 0 && mode === 'teacher-forced') carry = recordedCarry(trace, s - 1, carry.data, backend);
    const { result, grads } = runStep(trace, state, carry, backend, ctx);
    // Every later step is fed the same batch.
    carry = { ...result.carry };
    const ours = ourTensors(result);
    const kinds = [...STEP_KINDS, ...CONTINUE_KINDS];
    for (const k of kinds) {
      const ref = trace.tensors.get(`step/${s}/${k}`);
      if (ref === undefined) continue;
      const mine = ours.get(k);
      if (mine === undefined) {
        rows.push({
          step: s,
          tensor: k,
          shape: ref.shape,
          maxAbsErr: Infinity,
          relErr: Infinity,
          refMaxAbs: 0,
          exact: false,
          ok: false,
          worstIndex: 0,
        });
        continue;
      }
      rows.push(compareTensor(s, k, mine, ref, tol));
    }
    if (grads !== null) {
      for (const [name, ref] of trace.tensors) {
        const prefix = `grad/${s}/`;
        if (!name.startsWith(prefix)) continue;
        const pname = name.slice(prefix.length);
        const mine = grads.get(pname);
        const label = `grad/${pname}`;
        if (mine === undefined) {
          rows.push({
            step: s,
            tensor: label,
            shape: ref.shape,
            maxAbsErr: Infinity,
            relErr: Infinity,
            refMaxAbs: 0,
            exact: false,
            ok: false,
            worstIndex: 0,
          });
        } else rows.push(compareTensor(s, label, mine, ref, tol));
      }
    }
  }
  const firstDivergence = rows.find((r) => !r.ok) ?? null;
  const worst = rows
    .filter((r) => !r.exact)
    .reduce<Row | null>((m, r) => (m === null || !(r.relErr <= m.relErr) ? r : m), null);
  return {
    file: trace.file,
    mode,
    traceMode: trace.mode,
    ok: firstDivergence === null,
    rows,
    firstDivergence,
    maxRelErr: worst === null ? null : { tensor: worst.tensor, step: worst.step, relErr: worst.relErr },
  };
};

/** One line per row for the terminal. */
export const formatRow = (r: Row): string =>
  `${r.ok ? 'ok  ' : 'FAIL'} step ${String(r.step).padStart(2)}  ${r.tensor.padEnd(52)} ${shapeStr(r.shape).padEnd(14)} max_abs_err ${r.maxAbsErr.toExponential(2)}  rel ${r.relErr.toExponential(2)}`;
