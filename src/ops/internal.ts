/**
 * Helpers shared by the primitives (primitives.ts) and the fused ops (fused.ts): building an output
 * on an input's backend, and the checks whose messages both use. Not part of the public ops.
 */
import { isFloat } from '../core/dtype.js';
import { type Shape, shapeStr } from '../core/shape.js';
import { type Tensor, fromStorage, type storage } from '../tensor/tensor.js';

/** A tensor of `shape` over `data`, on `like`'s backend. */
export const make = (like: Tensor, shape: Shape, data: ReturnType<typeof storage>): Tensor =>
  fromStorage(shape, data, like.backend);

/** `float32 [2,3]`: a tensor as error messages name it. */
export const desc = (t: Tensor): string => `${t.dtype} ${shapeStr(t.shape)}`;

export const requireFloat = (op: string, t: Tensor): void => {
  if (!isFloat(t.dtype)) throw new Error(`${op}: needs a float tensor, got ${desc(t)}`);
};
