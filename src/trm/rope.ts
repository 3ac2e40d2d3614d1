/**
 * Rotary position embedding (official `RotaryEmbedding` + `apply_rotary_pos_emb`).
 *
 * The tables are computed as the official code computes them in float32: inv_freq[k] =
 * 1 / θ^(2k/d), angle = position · inv_freq, each step rounded to float32 (Math.fround), so
 * positions up to ~1000 give the same angles as PyTorch.
 */
import { add, concat, mul, neg, reshape, slice } from '../ops/index.js';
import { type Tensor, fromStorage } from '../tensor/tensor.js';
import type { Backend } from '../backend/backend.js';

/** cos and sin of every position's rotation angles (official `RotaryEmbedding`'s caches). */
export interface RopeTables {
  /** cos of the angles, [L, headDim] */
  readonly cos: Tensor;
  /** sin of the angles, [L, headDim] */
  readonly sin: Tensor;
}

export const ropeTables = (
  length: number,
  headDim: number,
  theta: number,
  backend: Backend | undefined,
  dtype: 'float32' | 'float64',
): RopeTables => {
  // float32 tables round every step as PyTorch's float32 arithmetic does; float64 ones do not.
  const f = dtype === 'float32' ? Math.fround : (v: number): number => v;
  const half = headDim / 2;
  const invFreq = Array.from({ length: half }, (_, k) => f(1 / f(f(theta) ** f((2 * k) / headDim))));
  const Storage = dtype === 'float32' ? Float32Array : Float64Array;
  const cos = new Storage(length * headDim);
  const sin = new Storage(length * headDim);
  for (let pos = 0; pos < length; pos++) {
    for (let k = 0; k < headDim; k++) {
      const angle = f(pos * invFreq[k % half]!);
      cos[pos * headDim + k] = Math.cos(angle);
      sin[pos * headDim + k] = Math.sin(angle);
    }
  }
  return {
    cos: fromStorage([length, headDim], cos, backend),
    sin: fromStorage([length, headDim], sin, backend),
  };
};

/** concat(−x[..., d/2:], x[..., :d/2]) along the last axis. */
const rotateHalf = (x: Tensor): Tensor => {
  const d = x.shape[x.rank - 1]!;
  const lead = x.shape.slice(0, -1);
  const zeros = lead.map(() => 0);
  const x1 = slice(x, [...zeros, 0], [...lead, d / 2]);
  const x2 = slice(x, [...zeros, d / 2]);
  return concat([neg(x2), x1], -1);
};

/** x · cos + rotate_half(x) · sin for x of shape [B, L, heads, headDim]. */
export const applyRope = (x: Tensor, t: RopeTables): Tensor => {
  const [L, d] = t.cos.shape as [number, number];
  const cos = reshape(t.cos, [L, 1, d]);
  const sin = reshape(t.sin, [L, 1, d]);
  return add(mul(x, cos), mul(rotateHalf(x), sin));
};
