/**
 * The reference backend: the definition of every kernel of the Backend interface, written to be
 * read. Each kernel is the plain loop its doc comment in backend.ts describes; every other backend
 * (src/accel) is checked against these.
 *
 * Arithmetic happens in JS doubles and is rounded once when stored, so a float32 result is the
 * correctly rounded value of the double computation (sums accumulate in a double, in index order).
 */
import type { DType, TypedArray } from '../core/dtype.js';
import { allocate } from '../core/dtype.js';
import type { Shape } from '../core/shape.js';
import { size, strides } from '../core/shape.js';
import type { Backend, BinaryOp, MatmulSpec, ReduceOp, UnaryOp } from './backend.js';

/** A fresh array of `x`'s type. */
const like = (x: TypedArray, n: number): TypedArray => new (x.constructor as new (n: number) => TypedArray)(n);

/** σ(v) with one exp and no overflow: e = exp(−|v|) ∈ (0, 1]. */
export const sigmoid = (v: number): number => {
  const e = Math.exp(-Math.abs(v));
  return v >= 0 ? 1 / (1 + e) : e / (1 + e);
};

export const unaryFn: Record<UnaryOp, (v: number) => number> = {
  neg: (v) => -v,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (v) => 1 / Math.sqrt(v),
  sigmoid,
  silu: (v) => v * sigmoid(v),
  abs: Math.abs,
  sign: (v) => (v > 0 ? 1 : v < 0 ? -1 : 0),
  sin: Math.sin,
  cos: Math.cos,
};

export const binaryFn: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  maximum: (a, b) => (a >= b || Number.isNaN(a) ? a : b),
  minimum: (a, b) => (a <= b || Number.isNaN(a) ? a : b),
  atan2: Math.atan2,
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
};

/**
 * The index walker every layout kernel uses: for the flat index i of an element of `shape`, the
 * flat index Σ_d (coord_d + shift_d)·stride_d into another array. Broadcasting, permuting, slicing,
 * padding and concatenating differ only in the strides and shifts they hand it.
 */
const indexer =
  (shape: Shape, stride: readonly number[], shift: readonly number[] = shape.map(() => 0)) =>
  (i: number): number => {
    let rest = i;
    let at = 0;
    for (let d = shape.length - 1; d >= 0; d--) {
      const coord = rest % shape[d]!;
      rest = (rest - coord) / shape[d]!;
      at += (coord + shift[d]!) * stride[d]!;
    }
    return at;
  };

/** The strides of `shape` seen from `outShape` under NumPy broadcasting: 0 along repeated axes. */
const broadcastStrides = (shape: Shape, outShape: Shape): number[] => {
  const off = outShape.length - shape.length;
  const s = strides(shape);
  return outShape.map((_, d) => (d < off || shape[d - off] === 1 ? 0 : s[d - off]!));
};

/** Flat index of `outShape` → flat index into a broadcast operand of `shape`. */
const broadcaster = (outShape: Shape, shape: Shape): ((i: number) => number) =>
  indexer(outShape, broadcastStrides(shape, outShape));

const unary = (op: UnaryOp, x: TypedArray): TypedArray => {
  const f = unaryFn[op];
  const out = like(x, x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
  return out;
};

const binary = (
  op: BinaryOp,
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
): TypedArray => {
  const f = binaryFn[op];
  const [ai, bi] = [broadcaster(outShape, aShape), broadcaster(outShape, bShape)];
  const out = like(a, size(outShape));
  for (let i = 0; i < out.length; i++) out[i] = f(a[ai(i)]!, b[bi(i)]!);
  return out;
};

const where = (
  c: TypedArray,
  cShape: Shape,
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
): TypedArray => {
  const [ci, ai, bi] = [broadcaster(outShape, cShape), broadcaster(outShape, aShape), broadcaster(outShape, bShape)];
  const out = like(a, size(outShape));
  for (let i = 0; i < out.length; i++) out[i] = c[ci(i)] !== 0 ? a[ai(i)]! : b[bi(i)]!;
  return out;
};

/** x viewed as [outer, n, inner]: element (o, j, i). */
const at3 = (o: number, j: number, i: number, n: number, inner: number): number => (o * n + j) * inner + i;

const reduce = (op: ReduceOp, x: TypedArray, outer: number, n: number, inner: number): TypedArray => {
  const out = like(x, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let acc = op === 'sum' ? 0 : -Infinity;
      for (let j = 0; j < n; j++) {
        const v = x[at3(o, j, i, n, inner)]!;
        if (op === 'sum') acc += v;
        else if (v > acc || Number.isNaN(v)) acc = v;
      }
      out[o * inner + i] = acc;
    }
  }
  return out;
};

const argmax = (x: TypedArray, outer: number, n: number, inner: number): Int32Array => {
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = 0;
      for (let j = 1; j < n; j++) if (x[at3(o, j, i, n, inner)]! > x[at3(o, best, i, n, inner)]!) best = j;
      out[o * inner + i] = best;
    }
  }
  return out;
};

/**
 * out[b] = op(A)·op(B), one dot product per output element, summed in p order. Transposes are read
 * by index arithmetic: op(A)(i, p) = a[aOff + i·aRow + p·aCol], which is a[i·k + p], or a[p·m + i]
 * when transA; likewise op(B)(p, j) = b[bOff + p·bRow + j·bCol].
 */
const matmul = (a: TypedArray, b: TypedArray, spec: MatmulSpec): TypedArray => {
  const { m, k, n, transA, transB } = spec;
  const [aRow, aCol] = transA ? [1, m] : [k, 1];
  const [bRow, bCol] = transB ? [1, k] : [n, 1];
  const out = like(a, spec.aOffsets.length * m * n);
  for (let bi = 0; bi < spec.aOffsets.length; bi++) {
    const aOff = spec.aOffsets[bi]!;
    const bOff = spec.bOffsets[bi]!;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) acc += a[aOff + i * aRow + p * aCol]! * b[bOff + p * bRow + j * bCol]!;
        out[(bi * m + i) * n + j] = acc;
      }
    }
  }
  return out;
};

const permute = (x: TypedArray, shape: Shape, perm: readonly number[]): TypedArray => {
  const s = strides(shape);
  const src = indexer(
    perm.map((p) => shape[p]!),
    perm.map((p) => s[p]!),
  );
  const out = like(x, x.length);
  for (let i = 0; i < out.length; i++) out[i] = x[src(i)]!;
  return out;
};

const slice = (x: TypedArray, shape: Shape, starts: readonly number[], sizes: readonly number[]): TypedArray => {
  const src = indexer(sizes, strides(shape), starts);
  const out = like(x, size(sizes));
  for (let i = 0; i < out.length; i++) out[i] = x[src(i)]!;
  return out;
};

const pad = (x: TypedArray, shape: Shape, before: readonly number[], outShape: Shape, value: number): TypedArray => {
  const dst = indexer(shape, strides(outShape), before);
  const out = like(x, size(outShape));
  out.fill(value);
  for (let i = 0; i < x.length; i++) out[dst(i)] = x[i]!;
  return out;
};

const concat = (
  parts: readonly { readonly data: TypedArray; readonly shape: Shape }[],
  axis: number,
  outShape: Shape,
): TypedArray => {
  const out = like(parts[0]!.data, size(outShape));
  let offset = 0;
  for (const p of parts) {
    const dst = indexer(
      p.shape,
      strides(outShape),
      p.shape.map((_, d) => (d === axis ? offset : 0)),
    );
    for (let i = 0; i < p.data.length; i++) out[dst(i)] = p.data[i]!;
    offset += p.shape[axis]!;
  }
  return out;
};

const gather = (table: TypedArray, _rows: number, cols: number, ids: Int32Array): TypedArray => {
  const out = like(table, ids.length * cols);
  for (let i = 0; i < ids.length; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = table[ids[i]! * cols + j]!;
  }
  return out;
};

const scatterAdd = (values: TypedArray, ids: Int32Array, rows: number, cols: number): TypedArray => {
  // Accumulate in doubles, then round once: the sum does not depend on float32 summation order.
  const acc = new Float64Array(rows * cols);
  for (let i = 0; i < ids.length; i++) {
    for (let j = 0; j < cols; j++) acc[ids[i]! * cols + j]! += values[i * cols + j]!;
  }
  const out = like(values, rows * cols);
  out.set(acc);
  return out;
};

const cast = (x: TypedArray, dtype: DType): TypedArray => {
  const out = allocate(dtype, x.length);
  for (let i = 0; i < x.length; i++) out[i] = dtype === 'int32' ? Math.trunc(x[i]!) : x[i]!;
  return out;
};

const swiglu = (h: TypedArray, rows: number, inter: number): TypedArray => {
  const out = like(h, rows * inter);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < inter; j++) {
      const a = h[r * 2 * inter + j]!;
      const u = h[r * 2 * inter + inter + j]!;
      out[r * inter + j] = a * sigmoid(a) * u;
    }
  }
  return out;
};

const swigluGrad = (g: TypedArray, h: TypedArray, rows: number, inter: number): TypedArray => {
  const out = like(h, rows * 2 * inter);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < inter; j++) {
      const a = h[r * 2 * inter + j]!;
      const u = h[r * 2 * inter + inter + j]!;
      const s = sigmoid(a);
      const gj = g[r * inter + j]!;
      out[r * 2 * inter + j] = gj * u * s * (1 + a * (1 - s));
      out[r * 2 * inter + inter + j] = gj * a * s;
    }
  }
  return out;
};

/** 1/√(Σx²/n + eps) of row r. */
const invRms = (x: TypedArray, r: number, n: number, eps: number): number => {
  let ss = 0;
  for (let j = 0; j < n; j++) ss += x[r * n + j]! * x[r * n + j]!;
  return 1 / Math.sqrt(ss / n + eps);
};

const rmsNorm = (x: TypedArray, rows: number, n: number, eps: number): TypedArray => {
  const out = like(x, rows * n);
  for (let r = 0; r < rows; r++) {
    const inv = invRms(x, r, n, eps);
    for (let j = 0; j < n; j++) out[r * n + j] = x[r * n + j]! * inv;
  }
  return out;
};

const rmsNormGrad = (g: TypedArray, x: TypedArray, rows: number, n: number, eps: number): TypedArray => {
  const out = like(x, rows * n);
  for (let r = 0; r < rows; r++) {
    const inv = invRms(x, r, n, eps);
    let gx = 0;
    for (let j = 0; j < n; j++) gx += g[r * n + j]! * x[r * n + j]!;
    const c = (inv * inv * inv * gx) / n;
    for (let j = 0; j < n; j++) out[r * n + j] = inv * g[r * n + j]! - c * x[r * n + j]!;
  }
  return out;
};

export const reference: Backend = Object.freeze({
  name: 'reference',
  unary,
  binary,
  where,
  reduce,
  argmax,
  matmul,
  permute,
  slice,
  pad,
  concat,
  gather,
  scatterAdd,
  cast,
  swiglu,
  swigluGrad,
  rmsNorm,
  rmsNormGrad,
  close: () => undefined,
});
