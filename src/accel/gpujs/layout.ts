/**
 * Index layouts for the gpu.js kernels: pure functions from shapes to the few integers a kernel
 * needs, so that every kernel can be specialised to literal sizes and strides.
 *
 * gpu.js threads are at most 3-D (`this.thread.x/y/z`, x fastest), so an element-wise op over a
 * broadcast output is first collapsed to as few axes as its operands allow: size-1 output axes are
 * dropped and neighbouring axes merged whenever every operand is broadcast along both or along
 * neither. What is left is usually 1–3 axes; more are folded into z and recovered in the kernel.
 */
import type { Shape } from '../../core/shape.js';

/** An element-wise iteration space: `dims` outermost first (≥ 1 axis), and per operand the
 *  element stride along each axis (0 where the operand is broadcast). */
export interface Layout {
  readonly dims: readonly number[];
  readonly strides: readonly (readonly number[])[];
}

/** Collapses `outShape` and the broadcast operands to the fewest axes. */
export const collapse = (outShape: Shape, operandShapes: readonly Shape[]): Layout => {
  const rank = outShape.length;
  const padded = operandShapes.map((s) => [...new Array<number>(rank - s.length).fill(1), ...s]);
  // Axes that matter, with the per-operand "full" flags (false: broadcast along the axis).
  const axes: { size: number; full: boolean[] }[] = [];
  for (let d = 0; d < rank; d++) {
    const size = outShape[d]!;
    if (size === 1) continue;
    const full = padded.map((p) => p[d] !== 1);
    const last = axes[axes.length - 1];
    if (last?.full.every((f, j) => f === full[j])) last.size *= size;
    else axes.push({ size, full });
  }
  if (axes.length === 0) return { dims: [1], strides: operandShapes.map(() => [0]) };
  const dims = axes.map((a) => a.size);
  const strides = operandShapes.map((_, j) => {
    const s = new Array<number>(axes.length).fill(0);
    let acc = 1;
    for (let d = axes.length - 1; d >= 0; d--) {
      if (axes[d]!.full[j]) {
        s[d] = acc;
        acc *= axes[d]!.size;
      }
    }
    return s;
  });
  return { dims, strides };
};

/** gpu.js output dimensions ([x], [x, y] or [x, y, z]) for collapsed `dims`: the last axis is x,
 *  the one before it y, and all the leading axes together z. */
export const outputOf = (dims: readonly number[]): [number] | [number, number] | [number, number, number] => {
  const r = dims.length;
  if (r === 1) return [dims[0]!];
  if (r === 2) return [dims[1]!, dims[0]!];
  const z = dims.slice(0, r - 2).reduce((a, b) => a * b, 1);
  return [dims[r - 1]!, dims[r - 2]!, z];
};

/** A stable text key for a layout (part of the kernel cache key). */
export const layoutKey = (l: Layout): string => `${l.dims.join('x')}|${l.strides.map((s) => s.join(',')).join('/')}`;

/**
 * Copies a gpu.js result (a Float32Array, or rows / layers of them) into a fresh flat Float32Array
 * of `n` values, row-major. Always copies: a backend may hand out views of memory it reuses.
 */
export const flatten = (result: unknown, n: number): Float32Array => {
  const out = new Float32Array(n);
  let at = 0;
  const put = (v: unknown): void => {
    if (v instanceof Float32Array || v instanceof Float64Array) {
      if (at + v.length > n) throw new Error(`gpujs: kernel returned more than ${n} values`);
      out.set(v, at);
      at += v.length;
    } else if (Array.isArray(v)) {
      for (const e of v) put(e);
    } else {
      throw new Error(`gpujs: unexpected kernel result ${Object.prototype.toString.call(v)}`);
    }
  };
  put(result);
  if (at !== n) throw new Error(`gpujs: kernel returned ${at} values, expected ${n}`);
  return out;
};
