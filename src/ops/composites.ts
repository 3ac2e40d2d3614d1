/**
 * Composite ops: built only from primitives, so their gradients come for free and need no checking
 * of their own beyond the laws that run over them.
 */
import { stopGradient } from '../autodiff/grad.js';
import { normAxis } from '../core/shape.js';
import { type Tensor, fromStorage } from '../tensor/tensor.js';
import {
  abs,
  add,
  cast,
  div,
  eq,
  exp,
  log,
  lt,
  max,
  maximum,
  minimum,
  mul,
  ne,
  neg,
  reshape,
  sub,
  transpose,
  sum,
  sumAll,
  where,
} from './primitives.js';
import { rmsNormLast } from './fused.js';

/** Mean over one axis. */
export const mean = (x: Tensor, axis: number, keepdims = false): Tensor => {
  const ax = normAxis('mean', axis, x.rank, x.shape);
  return div(sum(x, ax, keepdims), x.shape[ax]!);
};

/** Mean of all elements, as a rank-0 tensor. */
export const meanAll = (x: Tensor): Tensor => div(sumAll(x), x.size);

/** x², element-wise. */
export const square = (x: Tensor): Tensor => mul(x, x);

/** exp(x − max) / Σ exp(x − max) along `axis`; the shift carries no gradient (it cancels). */
export const softmax = (x: Tensor, axis = -1): Tensor => {
  const e = exp(sub(x, stopGradient(max(x, axis, true))));
  return div(e, sum(e, axis, true));
};

/** log softmax along `axis`: (x − max) − log Σ exp(x − max); the shift carries no gradient. */
export const logSoftmax = (x: Tensor, axis = -1): Tensor => {
  const shifted = sub(x, stopGradient(max(x, axis, true)));
  return sub(shifted, log(sum(exp(shifted), axis, true)));
};

/**
 * RMS norm without a gain (the official `rms_norm`): x · rsqrt(mean(x², axis) + eps), computed in
 * float32 (or float64 for a float64 input) and returned in the input dtype. One fused op over the
 * last axis ([`rmsNormLast`](./fused.ts), one pass each way, equal to its composite
 * `rmsNormLastComposite`); another axis is moved there and back.
 */
export const rmsNorm = (x: Tensor, eps: number, axis = -1): Tensor => {
  const ax = normAxis('rmsNorm', axis, x.rank, x.shape);
  const last = x.rank - 1;
  // transpose(x, last, last) is x itself: the last axis goes straight to the fused op.
  return transpose(rmsNormLast(transpose(x, ax, last), eps), ax, last);
};

/**
 * s(x) = x + 1 for x ≥ 0, 1 / (1 − x + 1e−30) for x < 0: the stablemax "exponential". The x < 0
 * branch reads min(x, 0), so the branch `where` discards stays finite: at x = 1 in float32,
 * 1 − x + 1e−30 squared underflows to 0 and its (discarded) gradient 0/0 would poison the sum.
 */
export const stablemaxS = (x: Tensor): Tensor => where(lt(x, 0), div(1, add(sub(1, minimum(x, 0)), 1e-30)), add(x, 1));

/** log(s(x_i) / Σ_j s(x_j)) along `axis` (the official `log_stablemax`). */
export const logStablemax = (x: Tensor, axis = -1): Tensor => {
  const s = stablemaxS(x);
  return log(div(s, sum(s, axis, true)));
};

/** One-hot float mask of int labels over `classes` (labels outside [0, classes) give all zeros). */
export const oneHot = (labels: Tensor, classes: number, dtype: Tensor['dtype'] = 'float32'): Tensor => {
  const ids = new Int32Array(classes);
  // Stryker disable next-line EqualityOperator: equivalent (a write at index `classes` is dropped by the typed array)
  for (let i = 0; i < classes; i++) ids[i] = i;
  const range = fromStorage([classes], ids, labels.backend);
  return cast(eq(reshape(labels, [...labels.shape, 1]), range), dtype);
};

/** Picks logp[..., label] for each position; positions whose label is `ignoreIndex` give 0. */
const pickLabel = (logp: Tensor, labels: Tensor, ignoreIndex: number): Tensor => {
  const classes = logp.shape[logp.rank - 1]!;
  const valid = cast(ne(labels, ignoreIndex), logp.dtype);
  const picked = sum(mul(logp, oneHot(labels, classes, logp.dtype)), -1);
  return mul(picked, valid);
};

/**
 * The official stablemax cross entropy: per-token loss −log_stablemax(logits)[label], in float64,
 * 0 where the label is `ignoreIndex`. Returns float64 of the labels' shape.
 */
// Stryker disable next-line UnaryOperator: equivalent (a label outside [0, classes) picks no class, so −100 adds 0 whatever the ignore index)
export const stablemaxCrossEntropy = (logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor =>
  neg(pickLabel(logStablemax(cast(logits, 'float64')), labels, ignoreIndex));

/** Softmax cross entropy per token, in the logits' dtype (float32 as the official code computes it;
 *  float64 logits stay float64: casting them down would only lose precision), 0 where ignored. */
// Stryker disable next-line UnaryOperator: equivalent (a label outside [0, classes) picks no class, so −100 adds 0 whatever the ignore index)
export const softmaxCrossEntropy = (logits: Tensor, labels: Tensor, ignoreIndex = -100): Tensor =>
  neg(pickLabel(logSoftmax(logits), labels, ignoreIndex));

/** Binary cross entropy with logits, per element: max(x,0) − x·y + log(1 + exp(−|x|)). */
export const binaryCrossEntropyWithLogits = (x: Tensor, y: Tensor): Tensor =>
  add(sub(maximum(x, 0), mul(x, y)), log(add(exp(neg(abs(x))), 1)));
