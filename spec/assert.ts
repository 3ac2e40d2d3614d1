/**
 * Assertions whose failure messages say what failed where: the op, the shapes, and the first
 * offending index (which fast-check then shrinks to a small case), e.g.
 *
 *   mul [2,1] · [3]: values differ at [1,2] (flat 5): got 0.5, expected 0.25 (|Δ| 0.25 > tol 1e-12)
 */
import { shapeStr, strides } from '../src/core/shape.js';
import type { Shape } from '../src/core/shape.js';
import type { Tensor } from '../src/tensor/tensor.js';

/** [i, j, k] of a flat row-major index. */
export const unravel = (flat: number, shape: Shape): number[] => {
  const s = strides(shape);
  return shape.map((_, d) => Math.floor(flat / s[d]!) % shape[d]!);
};

export const indexStr = (flat: number, shape: Shape): string => `[${unravel(flat, shape).join(',')}] (flat ${flat})`;

/** Tolerance for one element: |actual − expected| ≤ atol + rtol·|expected|. */
export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export const exact: Tolerance = { rtol: 0, atol: 0 };

const close = (a: number, e: number, tol: Tolerance): boolean =>
  Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= tol.atol + tol.rtol * Math.abs(e);

/** Index of the first element where `actual` and `expected` differ beyond `tol`, or −1. */
export const firstMismatch = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance): number => {
  for (let i = 0; i < expected.length; i++) if (!close(actual[i]!, expected[i]!, tol)) return i;
  return -1;
};

/**
 * Throws unless `actual` has `expected`'s shape and values within `tol`. `op` and `context` (the
 * shapes and static arguments) lead the message.
 */
export const expectAllClose = (
  op: string,
  context: string,
  actual: Tensor,
  expected: Tensor,
  tol: Tolerance = exact,
  what = 'values',
): void => {
  if (actual.shape.length !== expected.shape.length || actual.shape.some((d, i) => d !== expected.shape[i])) {
    throw new Error(
      `${op} ${context}: ${what} have shape ${shapeStr(actual.shape)}, expected ${shapeStr(expected.shape)}`,
    );
  }
  const i = firstMismatch(actual.data, expected.data, tol);
  if (i >= 0) {
    const a = actual.data[i]!;
    const e = expected.data[i]!;
    throw new Error(
      `${op} ${context}: ${what} differ at ${indexStr(i, expected.shape)}: got ${a}, expected ${e} ` +
        `(|Δ| ${Math.abs(a - e)} > tol ${tol.atol + tol.rtol * Math.abs(e)})`,
    );
  }
};

/** Throws unless two byte snapshots of one tensor's storage are identical, naming the first changed element. */
export const expectSameBytes = (
  op: string,
  context: string,
  what: string,
  t: Tensor,
  before: Uint8Array,
  after: Uint8Array,
): void => {
  const width = before.length / Math.max(t.size, 1);
  for (let b = 0; b < Math.max(before.length, after.length); b++) {
    if (before[b] !== after[b]) {
      const i = Math.floor(b / width);
      throw new Error(`${op} ${context}: ${what} changed at ${indexStr(i, t.shape)} (byte ${b})`);
    }
  }
};

/** Throws naming the op and context when `cond` is false. */
export const expectThat = (op: string, context: string, cond: boolean, message: () => string): void => {
  if (!cond) throw new Error(`${op} ${context}: ${message()}`);
};
