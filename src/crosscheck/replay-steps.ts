/**
 * Replaying a trace: load the recorded weights and batch, run every recorded supervision step
 * with trm-ts, and compare every recorded tensor, step by step, gradients included.
 *
 * teacher-forced (default): step s starts from the RECORDED carry of step s−1 (z_H, z_L, steps,
 *   halted), so each step is checked on its own. MLP-t amplifies float32 rounding about 10× per
 *   step, so this is the mode with a tight tolerance.
 * free-running: step s starts from trm-ts's own carry, as a user's run would.
 *
 * Rows come in the order the values are computed, so the first failing row is the innermost
 * place two implementations part: x, then every latent and answer update of every cycle (when the
 * trace records them), the heads, halting and losses, the gradients, and (train-run, see
 * replay-run.ts) the learning rates and what the optimizer step wrote.
 */
import { valueAndGradWithAux } from '../autodiff/grad.js';
import type { Backend } from '../backend/backend.js';
import { reference } from '../backend/reference.js';
import { treeMap } from '../tensor/tree.js';
import type { Tensor } from '../tensor/tensor.js';
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
import type { Probe, RecursionContext } from '../trm/recursion.js';
import type { TrmConfig } from '../trm/config.js';
import { CONTINUE_KINDS, STEP_KINDS, type Trace } from './trace.js';
import {
  DEFAULT_TOLERANCE,
  type FileReport,
  type Place,
  type ReplayOptions,
  type Row,
  type Tolerance,
  compareTensor,
  fileReport,
  int32Of,
  missingRow,
  onBackend,
} from './compare.js';

/** The recorded carry after step s (teacher forcing). */
const recordedCarry = (trace: Trace, s: number, data: Carry['data'], backend: Backend): Carry => {
  const g = (k: string): Tensor => onBackend(trace.tensors.get(`step/${s}/${k}`)!, backend);
  return { y: g('z_H'), z: g('z_L'), steps: int32Of(g('steps')), halted: int32Of(g('halted')), data };
};

/** Gradients under their official names (the puzzle rows as `inner.puzzle_emb.local_weights`). */
export const officialGrads = (cfg: TrmConfig, grad: Trainable, buffers: TrmState['buffers']): Map<string, Tensor> => {
  const grads = new Map<string, Tensor>();
  const gradState: TrmState = { params: grad.params, buffers };
  for (const row of officialLayout(cfg)) if (row.trainable) grads.set(row.name, row.get(gradState));
  if (cfg.puzzleEmbNdim > 0) grads.set('inner.puzzle_emb.local_weights', grad.puzzleRows);
  return grads;
};

export interface StepOutcome {
  readonly result: StepResult;
  readonly grads: Map<string, Tensor> | null;
}

/**
 * One supervision step of `state` started from `carry` on `batch`, with the gradients of its loss
 * under their official names in train mode (null in eval mode).
 */
export const superviseStep = (
  cfg: TrmConfig,
  ctx: RecursionContext,
  state: TrmState,
  carry: Carry,
  batch: Carry['data'],
  mode: 'train' | 'eval',
  lossType: Trace['lossType'],
): StepOutcome => {
  const started = startStep(cfg, state.buffers, carry, batch);
  const w: Trainable = { params: state.params, puzzleRows: puzzleRows(cfg, state.buffers, started.data) };
  const opts = { mode, lossType } as const;
  if (mode === 'eval') return { result: stepForward(cfg, ctx, w, started, opts), grads: null };
  const { aux, grad } = valueAndGradWithAux((p: Trainable) => {
    const r = stepForward(cfg, ctx, p, started, opts);
    return [r.loss.total, r] as const;
  })(w);
  return { result: aux, grads: officialGrads(cfg, grad, state.buffers) };
};

const runStep = (trace: Trace, state: TrmState, carry: Carry, ctx: RecursionContext): StepOutcome =>
  // Stryker disable next-line StringLiteral: equivalent (any mode but 'train' is evaluation; eval traces record no gradients)
  superviseStep(trace.config, ctx, state, carry, carry.data, trace.mode === 'eval' ? 'eval' : 'train', trace.lossType);

/** The tensors of our step result under the trace's step kind names. */
export const ourTensors = (r: StepResult): Map<string, Tensor> => {
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

/** The recorded name of a probe (step/<s>/cycle/<c>/z_L/<i> or …/z_H), and its row label. */
export const probeName = (s: number, p: Probe): { readonly name: string; readonly label: string } =>
  p.update === 'answer'
    ? { name: `step/${s}/cycle/${p.cycle}/z_H`, label: 'z_H' }
    : { name: `step/${s}/cycle/${p.cycle}/z_L/${p.update}`, label: 'z_L' };

/**
 * Rows for one supervision step, in the order its values are computed: x and every update of
 * the recursion (with each block's output where recorded), then the heads, halting and losses.
 */
export const stepRows = (trace: Trace, s: number, r: StepResult, tol: Tolerance): Row[] => {
  const rows: Row[] = [];
  const x = trace.tensors.get(`step/${s}/x`);
  if (x !== undefined) {
    rows.push(r.probe === null ? missingRow(s, 'x', x) : compareTensor(s, 'x', r.probe.x, x, tol));
    for (const p of r.probe?.updates ?? []) {
      const { name, label } = probeName(s, p);
      const place: Place = { cycle: p.cycle, update: p.update };
      p.blocks.forEach((out, j) => {
        const ref = trace.tensors.get(`${name}/block/${j}`);
        if (ref !== undefined) rows.push(compareTensor(s, `${label}/block/${j}`, out, ref, tol, place));
      });
      const ref = trace.tensors.get(name);
      if (ref !== undefined) rows.push(compareTensor(s, label, p.value, ref, tol, place));
    }
  }
  const ours = ourTensors(r);
  for (const k of [...STEP_KINDS, ...CONTINUE_KINDS]) {
    const ref = trace.tensors.get(`step/${s}/${k}`);
    if (ref === undefined) continue;
    const mine = ours.get(k);
    rows.push(mine === undefined ? missingRow(s, k, ref) : compareTensor(s, k, mine, ref, tol));
  }
  return rows;
};

/** Rows for the gradients recorded at step s (grad/<s>/<name>). */
export const gradRows = (trace: Trace, s: number, grads: ReadonlyMap<string, Tensor>, tol: Tolerance): Row[] => {
  const rows: Row[] = [];
  const prefix = `grad/${s}/`;
  for (const [name, ref] of trace.tensors) {
    if (!name.startsWith(prefix)) continue;
    const pname = name.slice(prefix.length);
    const mine = grads.get(pname);
    const label = `grad/${pname}`;
    rows.push(mine === undefined ? missingRow(s, label, ref) : compareTensor(s, label, mine, ref, tol));
  }
  return rows;
};

/** Whether the trace records the intermediates of the recursion (trm-trace/2). */
export const hasProbes = (trace: Trace): boolean => trace.tensors.has('step/0/x');

/** Replays a train or eval trace; a train-run trace goes to `replayTrainRun`. */
export const replaySteps = (trace: Trace, opts: ReplayOptions = {}): FileReport => {
  const mode = opts.mode ?? 'teacher-forced';
  const tol = opts.tolerance ?? DEFAULT_TOLERANCE;
  const backend = opts.backend ?? reference;
  const cfg = trace.config;
  const state: TrmState = treeMap(trace.state, (t) => onBackend(t, backend));
  const batch = treeMap(trace.batch, (t) => onBackend(t, backend));
  const ctx: RecursionContext = { ...stepContext(cfg, backend), probe: hasProbes(trace) };
  const rows: Row[] = [];
  let carry = initialCarry(cfg, batch);
  for (let s = 0; s < trace.steps; s++) {
    if (s > 0 && mode === 'teacher-forced') carry = recordedCarry(trace, s - 1, carry.data, backend);
    const { result, grads } = runStep(trace, state, carry, ctx);
    // Every later step is fed the same batch.
    carry = { ...result.carry };
    rows.push(...stepRows(trace, s, result, tol));
    if (grads !== null) rows.push(...gradRows(trace, s, grads, tol));
  }
  return fileReport(trace, mode, rows);
};
