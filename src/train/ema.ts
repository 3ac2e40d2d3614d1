/**
 * Exponential moving average of the trainable parameters (§6.5, `models/ema.py`).
 *
 * The official `EMAHelper` clones every parameter with `requires_grad` at registration and, after
 * every train batch (including the no-op batches past total_steps), sets
 *   shadow = (1 − mu)·param + mu·shadow,   mu = ema_rate = 0.999,
 * with no bias correction and no warm-up. Buffers (the puzzle-embedding table, H_init, L_init) are
 * not averaged: the caller passes only the trainable parameters.
 *
 * Arithmetic follows the PyTorch ops in fp32: the two Python scalars are cast to the tensor's
 * precision, each product is rounded, then the sum is rounded (Math.fround for float32; float64
 * tensors are computed in double). So rate 0 copies the weights and rate 1 keeps the shadow
 * exactly; for other rates each element lies between the old shadow and the weight up to one
 * rounding (the fp32 coefficients need not sum to exactly 1).
 */
import { treeZip, treeMap } from '../tensor/tree.js';
import { allocate } from '../core/dtype.js';
import { sameShape, shapeStr } from '../core/shape.js';
import { type Tensor, fromStorage, storage } from '../tensor/tensor.js';

/** The official `ema_rate`. */
export const DEFAULT_EMA_RATE = 0.999;

/** The shadow at registration: a fresh copy of every tensor (detached, same dtype and backend). */
export const emaInit = <P>(params: P): P => treeMap(params, (t) => fromStorage(t.shape, storage(t).slice(), t.backend));

/** One EMA step: shadow ← (1 − rate)·param + rate·shadow, leaf by leaf. Pure. */
export const emaUpdate = <P>(shadow: P, params: P, rate: number = DEFAULT_EMA_RATE): P => {
  if (!(rate >= 0 && rate <= 1)) throw new Error(`emaUpdate: rate ${rate} is outside [0, 1]`);
  return treeZip(shadow, params, (s, p, path) => emaLeaf(s, p, rate, path));
};

const emaLeaf = (s: Tensor, p: Tensor, rate: number, path: string): Tensor => {
  if (!sameShape(s.shape, p.shape)) {
    throw new Error(`emaUpdate: shadow '${path}' has shape ${shapeStr(s.shape)}, the parameter ${shapeStr(p.shape)}`);
  }
  if (s.dtype === 'int32') throw new Error(`emaUpdate: '${path}' is int32; EMA needs float tensors`);
  const r = s.dtype === 'float32' ? Math.fround : (x: number) => x;
  const a = r(1 - rate);
  const b = r(rate);
  const sv = storage(s);
  const pv = storage(p);
  const out = allocate(s.dtype, s.size);
  // Stryker disable next-line EqualityOperator: equivalent (a write past the end of a typed array is dropped)
  for (let i = 0; i < out.length; i++) out[i] = r(r(a * pv[i]!) + r(b * sv[i]!));
  return fromStorage(s.shape, out, s.backend);
};
