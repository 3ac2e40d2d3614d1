/**
 * The official loss head (`ACTLossHead`) and its metrics.
 *
 *   lm_loss      = Σ_rows (Σ_tokens token_loss) / max(count_row, 1)   (each row's mean, summed)
 *   q_halt_loss  = Σ_rows BCE(q_halt, row exactly correct)
 *   q_cont_loss  = Σ_rows BCE(q_continue, target_q_continue)          (Q-continue variant only)
 *   total        = lm_loss + 0.5 · (q_halt_loss + q_cont_loss)
 *
 * Sums over the batch, not means: the trainer scales by 1/global batch. All rows count in the
 * loss, halted or not; the metrics count only rows that halt at this step.
 */
import {
  add,
  argmax,
  binaryCrossEntropyWithLogits,
  cast,
  div,
  maximum,
  mul,
  ne,
  reshape,
  softmaxCrossEntropy,
  stablemaxCrossEntropy,
  sum,
  sumAll,
} from '../ops/index.js';
import { type Tensor, fromStorage, storage } from '../tensor/tensor.js';

/** The token loss: stablemax cross-entropy (the official default) or softmax cross-entropy. */
export type LossType = 'stablemax_cross_entropy' | 'softmax_cross_entropy';

/** The label of a position that neither the loss nor the accuracy counts. */
export const IGNORE_LABEL_ID = -100;

/** The official metrics of one supervision step, summed over the rows it counts. */
export interface Metrics {
  /** Rows that halted at this step and have at least one target. */
  readonly count: number;
  /** Σ over counted rows of the row's token accuracy. */
  readonly accuracy: number;
  /** Counted rows predicted exactly. */
  readonly exact_accuracy: number;
  /** Counted rows where (q_halt ≥ 0) agrees with exact correctness. */
  readonly q_halt_accuracy: number;
  /** Σ over counted rows of their supervision steps. */
  readonly steps: number;
}

/** The loss terms of one supervision step, summed over the batch, and the predictions. */
export interface LossResult {
  /** lm_loss + 0.5 · (q_halt_loss + q_continue_loss); [] (float64 for stablemax, float32 for softmax) */
  readonly total: Tensor;
  /** The token loss: Σ over rows of the row's mean over its target tokens; []. */
  readonly lmLoss: Tensor;
  /** Σ over rows of BCE(q_halt, row exactly correct); []. */
  readonly qHaltLoss: Tensor;
  /** Σ over rows of BCE(q_continue, target); [], or null without a continue target. */
  readonly qContinueLoss: Tensor | null;
  /** int32 [B, seq_len] */
  readonly preds: Tensor;
  /** Per row: 1 when every target token is right (all-ignored rows count as right). */
  readonly seqCorrect: Int32Array;
}

export const lossHead = (
  lossType: LossType,
  logits: Tensor,
  labels: Tensor,
  qHalt: Tensor,
  qContinue: Tensor,
  targetQContinue: Tensor | null,
): LossResult => {
  const [B, S] = labels.shape as [number, number];
  const preds = argmax(logits, -1);
  const mask = ne(labels, IGNORE_LABEL_ID); // int32 0/1
  const counts = sum(mask, -1); // int32 [B]
  const divisor = maximum(counts, 1);
  const tokenLoss =
    lossType === 'stablemax_cross_entropy'
      ? stablemaxCrossEntropy(logits, labels, IGNORE_LABEL_ID)
      : softmaxCrossEntropy(logits, labels, IGNORE_LABEL_ID);
  const lmLoss = sumAll(div(tokenLoss, cast(reshape(divisor, [B, 1]), tokenLoss.dtype)));

  const seqCorrect = new Int32Array(B);
  const p = storage(preds);
  const l = storage(labels);
  for (let b = 0; b < B; b++) {
    let ok = 1;
    for (let s = 0; s < S; s++) {
      const lab = l[b * S + s]!;
      if (lab !== IGNORE_LABEL_ID && p[b * S + s] !== lab) ok = 0;
    }
    seqCorrect[b] = ok;
  }
  const target = fromStorage([B], Float32Array.from(seqCorrect), qHalt.backend);
  const qHaltLoss = sumAll(binaryCrossEntropyWithLogits(qHalt, cast(target, qHalt.dtype)));
  const qContinueLoss =
    targetQContinue === null ? null : sumAll(binaryCrossEntropyWithLogits(qContinue, targetQContinue));
  const qPart = mul(qContinueLoss === null ? qHaltLoss : add(qHaltLoss, qContinueLoss), 0.5);
  const total = add(lmLoss, cast(qPart, lmLoss.dtype));
  return { total, lmLoss, qHaltLoss, qContinueLoss, preds, seqCorrect };
};

/** The official metrics, summed over the rows that halt at this step. */
export const stepMetrics = (labels: Tensor, preds: Tensor, qHalt: Tensor, halted: Tensor, steps: Tensor): Metrics => {
  const [B, S] = labels.shape as [number, number];
  const l = storage(labels);
  const p = storage(preds);
  let count = 0;
  let accuracy = 0;
  let exact = 0;
  let qAcc = 0;
  let stepSum = 0;
  for (let b = 0; b < B; b++) {
    let cnt = 0;
    let correct = 0;
    for (let s = 0; s < S; s++) {
      const lab = l[b * S + s]!;
      if (lab === IGNORE_LABEL_ID) continue;
      cnt++;
      if (p[b * S + s] === lab) correct++;
    }
    if (halted.data[b] === 0 || cnt === 0) continue;
    const seqOk = correct === cnt;
    count++;
    accuracy += Math.fround(correct / cnt);
    if (seqOk) exact++;
    if (qHalt.data[b]! >= 0 === seqOk) qAcc++;
    stepSum += steps.data[b]!;
  }
  return { count, accuracy, exact_accuracy: exact, q_halt_accuracy: qAcc, steps: stepSum };
};
