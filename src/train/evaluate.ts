/**
 * Evaluation (official `evaluate`, §6.6): per batch a fresh carry, then supervision steps until
 * every row halted. Eval never halts early, so that is exactly N_sup steps and the answer is the
 * last step's argmax ('max', the official rule). 'adaptive' answers, per sample, at the first step
 * whose q_halt > 0 (the training rule) and reports how many steps each sample used.
 * Metrics are summed over the rows with targets and divided by their count.
 */
import type { Tensor } from '../tensor/tensor.js';
import { type Batch, type Trainable, initialCarry, puzzleRows, startStep, stepForward } from '../trm/act.js';
import type { TrmConfig } from '../trm/config.js';
import { IGNORE_LABEL_ID, type LossType } from '../trm/loss.js';
import type { TrmState } from '../trm/params.js';
import type { RecursionContext } from '../trm/recursion.js';

/** When a sample answers: 'max' after all N_sup steps (official), 'adaptive' at its first step with q_halt > 0. */
export type HaltMode = 'max' | 'adaptive';

/** Metrics of `evaluate`, averaged over the samples with targets. */
export interface EvalResult {
  /** Samples with at least one target (padding rows excluded). */
  readonly count: number;
  /** Mean token accuracy of the answers. */
  readonly accuracy: number;
  /** Fraction of samples answered exactly. */
  readonly exact_accuracy: number;
  /** Fraction of samples where (q_halt ≥ 0) at the answer step agrees with exact correctness. */
  readonly q_halt_accuracy: number;
  /** Mean supervision steps used per sample. */
  readonly steps: number;
  /** Exact accuracy if every sample answered after step s (s = 1..N_sup). */
  readonly exact_by_step: readonly number[];
  /** The halting rule the answers used. */
  readonly halt: HaltMode;
}

export interface SolveTrace {
  /** Per supervision step: predictions [B, seq_len] and sigmoid(q_halt) [B]. */
  readonly steps: readonly { readonly preds: Int32Array; readonly qHalt: Float32Array }[];
}

/** Runs N_sup eval steps on one batch, returning every step's predictions and q_halt. */
export const runSteps = (
  cfg: TrmConfig,
  ctx: RecursionContext,
  model: TrmState,
  batch: Batch,
  lossType: LossType,
): SolveTrace => {
  let carry = initialCarry(cfg, batch, model.buffers.yInit.dtype);
  const steps: { preds: Int32Array; qHalt: Float32Array }[] = [];
  for (let s = 0; s < cfg.nSup; s++) {
    const started = startStep(cfg, model.buffers, carry, batch);
    const w: Trainable = { params: model.params, puzzleRows: puzzleRows(cfg, model.buffers, started.data) };
    const r = stepForward(cfg, ctx, w, started, { mode: 'eval', lossType });
    carry = r.carry;
    steps.push({ preds: Int32Array.from(r.loss.preds.data), qHalt: Float32Array.from(r.qHalt.data) });
  }
  return { steps };
};

const rowStats = (labels: Tensor, preds: Int32Array, b: number, S: number): { cnt: number; correct: number } => {
  let cnt = 0;
  let correct = 0;
  for (let s = 0; s < S; s++) {
    const lab = labels.data[b * S + s]!;
    if (lab === IGNORE_LABEL_ID) continue;
    cnt++;
    if (preds[b * S + s] === lab) correct++;
  }
  return { cnt, correct };
};

/** Evaluates `model` on `batches`: a fresh carry per batch, N_sup eval steps, answers by `opts.halt`. */
export const evaluate = (
  cfg: TrmConfig,
  ctx: RecursionContext,
  model: TrmState,
  batches: readonly Batch[],
  opts: {
    readonly halt: HaltMode;
    readonly lossType: LossType;
    /** Called after each batch with the batches done and their total (for progress). */
    readonly onBatch?: (done: number, total: number) => void;
  },
): EvalResult => {
  let count = 0;
  let accuracy = 0;
  let exact = 0;
  let qAcc = 0;
  let stepSum = 0;
  const byStep = new Array<number>(cfg.nSup).fill(0);
  let done = 0;
  for (const batch of batches) {
    const [B, S] = batch.labels.shape as [number, number];
    const tr = runSteps(cfg, ctx, model, batch, opts.lossType);
    for (let b = 0; b < B; b++) {
      if (rowStats(batch.labels, tr.steps[0]!.preds, b, S).cnt === 0) continue; // padding row
      let answerStep = cfg.nSup - 1;
      if (opts.halt === 'adaptive') {
        const first = tr.steps.findIndex((st) => st.qHalt[b]! > 0);
        if (first >= 0) answerStep = first;
      }
      const at = tr.steps[answerStep]!;
      const { cnt, correct } = rowStats(batch.labels, at.preds, b, S);
      const ok = correct === cnt;
      count++;
      accuracy += correct / cnt;
      if (ok) exact++;
      if (at.qHalt[b]! >= 0 === ok) qAcc++;
      stepSum += answerStep + 1;
      tr.steps.forEach((st, s) => {
        const r = rowStats(batch.labels, st.preds, b, S);
        if (r.correct === r.cnt) byStep[s]! += 1;
      });
    }
    opts.onBatch?.(++done, batches.length);
  }
  const per = Math.max(count, 1);
  return {
    count,
    accuracy: accuracy / per,
    exact_accuracy: exact / per,
    q_halt_accuracy: qAcc / per,
    steps: stepSum / per,
    exact_by_step: byStep.map((v) => v / per),
    halt: opts.halt,
  };
};
