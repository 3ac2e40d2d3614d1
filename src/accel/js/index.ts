/**
 * The tuned plain-JS backend: the reference backend's kernels engineered for speed, in plain
 * JavaScript (no WebAssembly, no workers), checked against the reference by the parity laws.
 *
 * Arithmetic happens in JS doubles and is rounded once when stored, as in the reference. Speed is
 * engineered in: matmul, register-blocked 4×4, reading transposed operands through strides instead
 * of materialising a transpose; the element-wise loops, where the op is chosen outside a tight
 * per-row loop; box copies by rows and a tiled transpose. The row kernels (gather, scatterAdd, the
 * fused SwiGLU and RMS norm pairs) are already single passes and are the reference's own. The
 * WebAssembly and gpu.js backends hand it what they do not accelerate.
 */
import type { DType, TypedArray } from '../../core/dtype.js';
import { allocate } from '../../core/dtype.js';
import type { Shape } from '../../core/shape.js';
import { size, strides } from '../../core/shape.js';
import type { Backend, BinaryOp, MatmulSpec, ReduceOp, UnaryOp } from '../../backend/backend.js';
import { binaryFn, reference, sigmoid, unaryFn } from '../../backend/reference.js';

const like = (x: TypedArray, n: number): TypedArray => new (x.constructor as new (n: number) => TypedArray)(n);

// The scalar definitions (σ, the unary and binary functions) are the reference's own.

/** Strides of `shape` seen from `outShape` under broadcasting (0 along broadcast axes). */
const broadcastStrides = (shape: Shape, outShape: Shape): number[] => {
  const s = strides(shape);
  const off = outShape.length - shape.length;
  return outShape.map((_d, i) => (i < off || shape[i - off] === 1 ? 0 : s[i - off]!));
};

/**
 * Calls `body(outIndex, offsets)` for every element of `outShape` in row-major order, where
 * offsets[j] is the flat index into operand j (each with its own broadcast strides).
 */
const forEachBroadcast = (
  outShape: Shape,
  operandShapes: readonly Shape[],
  body: (i: number, offsets: Int32Array) => void,
): void => {
  const rank = outShape.length;
  const bs = operandShapes.map((s) => broadcastStrides(s, outShape));
  const idx = new Int32Array(rank);
  const offsets = new Int32Array(operandShapes.length);
  const total = size(outShape);
  for (let i = 0; i < total; i++) {
    body(i, offsets);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]! += 1;
      for (let j = 0; j < bs.length; j++) offsets[j]! += bs[j]![d]!;
      if (idx[d]! < outShape[d]!) break;
      for (let j = 0; j < bs.length; j++) offsets[j]! -= bs[j]![d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
};

/**
 * One row of a broadcast binary op: out[oo + i] = a[ao + i·as] ∘ b[bo + i·bs] for i < n.
 * The switch sits outside the loops so that each loop is a tight, monomorphic one.
 */
const binaryRow = (
  op: BinaryOp,
  a: TypedArray,
  ao: number,
  as: number,
  b: TypedArray,
  bo: number,
  bs: number,
  out: TypedArray,
  oo: number,
  n: number,
): void => {
  switch (op) {
    case 'add':
      for (let i = 0; i < n; i++) out[oo + i] = a[ao + i * as]! + b[bo + i * bs]!;
      return;
    case 'sub':
      for (let i = 0; i < n; i++) out[oo + i] = a[ao + i * as]! - b[bo + i * bs]!;
      return;
    case 'mul':
      for (let i = 0; i < n; i++) out[oo + i] = a[ao + i * as]! * b[bo + i * bs]!;
      return;
    case 'div':
      for (let i = 0; i < n; i++) out[oo + i] = a[ao + i * as]! / b[bo + i * bs]!;
      return;
    default: {
      const f = binaryFn[op];
      for (let i = 0; i < n; i++) out[oo + i] = f(a[ao + i * as]!, b[bo + i * bs]!);
    }
  }
};

/**
 * Element-wise with broadcasting, one row (the last axis) at a time; rows are walked with
 * incremental offsets. Same-shape operands are one long row.
 */
const binary = (
  op: BinaryOp,
  a: TypedArray,
  aShape: Shape,
  b: TypedArray,
  bShape: Shape,
  outShape: Shape,
): TypedArray => {
  const n = size(outShape);
  const out = like(a, n);
  if (n === 0) return out;
  if (a.length === n && b.length === n) {
    binaryRow(op, a, 0, 1, b, 0, 1, out, 0, n);
    return out;
  }
  if (outShape.length === 0 || (a.length === 1 && b.length === 1)) {
    binaryRow(op, a, 0, 0, b, 0, 0, out, 0, n);
    return out;
  }
  if (b.length === 1 && a.length === n) {
    binaryRow(op, a, 0, 1, b, 0, 0, out, 0, n);
    return out;
  }
  if (a.length === 1 && b.length === n) {
    binaryRow(op, a, 0, 0, b, 0, 1, out, 0, n);
    return out;
  }
  const rank = outShape.length;
  const sa = broadcastStrides(aShape, outShape);
  const sb = broadcastStrides(bShape, outShape);
  const inner = outShape[rank - 1]!;
  const outer = n / inner;
  const idx = new Int32Array(rank - 1);
  let ao = 0;
  let bo = 0;
  for (let o = 0; o < outer; o++) {
    binaryRow(op, a, ao, sa[rank - 1]!, b, bo, sb[rank - 1]!, out, o * inner, inner);
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]! += 1;
      ao += sa[d]!;
      bo += sb[d]!;
      if (idx[d]! < outShape[d]!) break;
      ao -= sa[d]! * outShape[d]!;
      bo -= sb[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
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
  const out = like(a, size(outShape));
  forEachBroadcast(outShape, [cShape, aShape, bShape], (i, o) => {
    out[i] = c[o[0]!] !== 0 ? a[o[1]!]! : b[o[2]!]!;
  });
  return out;
};

const reduce = (op: ReduceOp, x: TypedArray, outer: number, n: number, inner: number): TypedArray => {
  const out = like(x, outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      if (op === 'sum') {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += x[base + j * inner]!;
        out[o * inner + i] = acc;
      } else {
        let acc = -Infinity;
        for (let j = 0; j < n; j++) {
          const v = x[base + j * inner]!;
          if (v > acc || Number.isNaN(v)) acc = v;
        }
        out[o * inner + i] = acc;
      }
    }
  }
  return out;
};

const argmax = (x: TypedArray, outer: number, n: number, inner: number): Int32Array => {
  const out = new Int32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let best = 0;
      let bv = x[base]!;
      for (let j = 1; j < n; j++) {
        const v = x[base + j * inner]!;
        if (v > bv) {
          bv = v;
          best = j;
        }
      }
      out[o * inner + i] = best;
    }
  }
  return out;
};

/**
 * C[m×n] = op(A)·op(B), 4×4 register-blocked. op(A)(i,p) = a[aOff + i·ars + p·acs] and
 * op(B)(p,j) = b[bOff + p·brs + j·bcs]: the transposed forms only change the strides.
 */
const matmul = (a: TypedArray, b: TypedArray, spec: MatmulSpec): TypedArray => {
  const { m, k, n, transA, transB } = spec;
  const batch = spec.aOffsets.length;
  const out = like(a, batch * m * n);
  const ars = transA ? 1 : k;
  const acs = transA ? m : 1;
  const brs = transB ? 1 : n;
  const bcs = transB ? k : 1;
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let bi = 0; bi < batch; bi++) {
    const aOff = spec.aOffsets[bi]!;
    const bOff = spec.bOffsets[bi]!;
    const cOff = bi * m * n;
    for (let i = 0; i < m4; i += 4) {
      const a0 = aOff + i * ars;
      const a1 = a0 + ars;
      const a2 = a1 + ars;
      const a3 = a2 + ars;
      for (let j = 0; j < n4; j += 4) {
        let c00 = 0,
          c01 = 0,
          c02 = 0,
          c03 = 0;
        let c10 = 0,
          c11 = 0,
          c12 = 0,
          c13 = 0;
        let c20 = 0,
          c21 = 0,
          c22 = 0,
          c23 = 0;
        let c30 = 0,
          c31 = 0,
          c32 = 0,
          c33 = 0;
        let bp = bOff + j * bcs;
        let ap = 0;
        for (let p = 0; p < k; p++) {
          const x0 = a[a0 + ap]!,
            x1 = a[a1 + ap]!,
            x2 = a[a2 + ap]!,
            x3 = a[a3 + ap]!;
          const y0 = b[bp]!,
            y1 = b[bp + bcs]!,
            y2 = b[bp + 2 * bcs]!,
            y3 = b[bp + 3 * bcs]!;
          c00 += x0 * y0;
          c01 += x0 * y1;
          c02 += x0 * y2;
          c03 += x0 * y3;
          c10 += x1 * y0;
          c11 += x1 * y1;
          c12 += x1 * y2;
          c13 += x1 * y3;
          c20 += x2 * y0;
          c21 += x2 * y1;
          c22 += x2 * y2;
          c23 += x2 * y3;
          c30 += x3 * y0;
          c31 += x3 * y1;
          c32 += x3 * y2;
          c33 += x3 * y3;
          ap += acs;
          bp += brs;
        }
        const r0 = cOff + i * n + j;
        out[r0] = c00;
        out[r0 + 1] = c01;
        out[r0 + 2] = c02;
        out[r0 + 3] = c03;
        const r1 = r0 + n;
        out[r1] = c10;
        out[r1 + 1] = c11;
        out[r1 + 2] = c12;
        out[r1 + 3] = c13;
        const r2 = r1 + n;
        out[r2] = c20;
        out[r2 + 1] = c21;
        out[r2 + 2] = c22;
        out[r2 + 3] = c23;
        const r3 = r2 + n;
        out[r3] = c30;
        out[r3 + 1] = c31;
        out[r3 + 2] = c32;
        out[r3 + 3] = c33;
      }
    }
    // Edges: the rows below m4 and the columns right of n4, one dot product each.
    const dot = (i: number, j: number): void => {
      let acc = 0;
      let ap = aOff + i * ars;
      let bp = bOff + j * bcs;
      for (let p = 0; p < k; p++) {
        acc += a[ap]! * b[bp]!;
        ap += acs;
        bp += brs;
      }
      out[cOff + i * n + j] = acc;
    };
    for (let i = 0; i < m4; i++) for (let j = n4; j < n; j++) dot(i, j);
    for (let i = m4; i < m; i++) for (let j = 0; j < n; j++) dot(i, j);
  }
  return out;
};

/** Tile edge of the blocked transpose: a 32×32 float32 tile read and written stays in L1. */
const TILE = 32;

/** out[b, j, i] = x[b, i, j] for `batch` matrices of rows × cols, tile by tile. */
const transposeLast2 = (x: TypedArray, batch: number, rows: number, cols: number): TypedArray => {
  const out = like(x, x.length);
  const plane = rows * cols;
  for (let b = 0, base = 0; b < batch; b++, base += plane) {
    for (let i0 = 0; i0 < rows; i0 += TILE) {
      const i1 = Math.min(rows, i0 + TILE);
      for (let j0 = 0; j0 < cols; j0 += TILE) {
        const j1 = Math.min(cols, j0 + TILE);
        for (let i = i0; i < i1; i++) {
          const src = base + i * cols;
          for (let j = j0; j < j1; j++) out[base + j * rows + i] = x[src + j]!;
        }
      }
    }
  }
  return out;
};

const permute = (x: TypedArray, shape: Shape, perm: readonly number[]): TypedArray => {
  const rank = shape.length;
  // Swapping the last two axes (mlp_t's token mixing, attention's heads) is a batched transpose:
  // done in cache-sized tiles instead of the generic odometer below.
  if (
    rank >= 2 &&
    perm[rank - 1] === rank - 2 &&
    perm[rank - 2] === rank - 1 &&
    perm.every((p, i) => i >= rank - 2 || p === i)
  ) {
    return transposeLast2(x, size(shape.slice(0, -2)), shape[rank - 2]!, shape[rank - 1]!);
  }
  const inStrides = strides(shape);
  const outShape = perm.map((p) => shape[p]!);
  const permStrides = perm.map((p) => inStrides[p]!);
  const out = like(x, x.length);
  const idx = new Int32Array(rank);
  let src = 0;
  for (let i = 0; i < x.length; i++) {
    out[i] = x[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]! += 1;
      src += permStrides[d]!;
      if (idx[d]! < outShape[d]!) break;
      src -= permStrides[d]! * outShape[d]!;
      idx[d] = 0;
    }
  }
  return out;
};

/** Copies rows of the last axis between two boxes; the shared core of slice and pad. */
const copyBox = (
  src: TypedArray,
  srcShape: Shape,
  srcStart: readonly number[],
  dst: TypedArray,
  dstShape: Shape,
  dstStart: readonly number[],
  box: readonly number[],
): void => {
  const rank = box.length;
  if (rank === 0) {
    dst[0] = src[0]!;
    return;
  }
  if (box.some((d) => d === 0)) return;
  const ss = strides(srcShape);
  const ds = strides(dstShape);
  const idx = new Array<number>(rank - 1).fill(0);
  const rowLen = box[rank - 1]!;
  const sameType = src.constructor === dst.constructor;
  const outerCount = size(box.slice(0, rank - 1));
  for (let r = 0; r < outerCount; r++) {
    let so = srcStart[rank - 1]!;
    let dO = dstStart[rank - 1]!;
    for (let d = 0; d < rank - 1; d++) {
      so += (srcStart[d]! + idx[d]!) * ss[d]!;
      dO += (dstStart[d]! + idx[d]!) * ds[d]!;
    }
    if (sameType) dst.set(src.subarray(so, so + rowLen), dO);
    else for (let j = 0; j < rowLen; j++) dst[dO + j] = src[so + j]!;
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]! += 1;
      if (idx[d]! < box[d]!) break;
      idx[d] = 0;
    }
  }
};

const slice = (x: TypedArray, shape: Shape, starts: readonly number[], sizes: readonly number[]): TypedArray => {
  const out = like(x, size(sizes));
  copyBox(
    x,
    shape,
    starts,
    out,
    sizes,
    sizes.map(() => 0),
    sizes,
  );
  return out;
};

const pad = (x: TypedArray, shape: Shape, before: readonly number[], outShape: Shape, value: number): TypedArray => {
  const out = like(x, size(outShape));
  if (value !== 0) out.fill(value);
  copyBox(
    x,
    shape,
    shape.map(() => 0),
    out,
    outShape,
    before,
    shape,
  );
  return out;
};

const concat = (
  parts: readonly { readonly data: TypedArray; readonly shape: Shape }[],
  axis: number,
  outShape: Shape,
): TypedArray => {
  const first = parts[0]!;
  const out = like(first.data, size(outShape));
  const outer = size(outShape.slice(0, axis));
  const inner = size(outShape.slice(axis + 1));
  const outRow = outShape[axis]! * inner;
  let colOff = 0;
  for (const p of parts) {
    const len = p.shape[axis]! * inner;
    for (let o = 0; o < outer; o++) {
      const src = o * len;
      const dst = o * outRow + colOff;
      for (let j = 0; j < len; j++) out[dst + j] = p.data[src + j]!;
    }
    colOff += len;
  }
  return out;
};

const cast = (x: TypedArray, dtype: DType): TypedArray => {
  const out = allocate(dtype, x.length);
  if (dtype === 'int32') for (let i = 0; i < x.length; i++) out[i] = Math.trunc(x[i]!);
  else out.set(x);
  return out;
};

const unary = (op: UnaryOp, x: TypedArray): TypedArray => {
  const n = x.length;
  const out = like(x, n);
  switch (op) {
    case 'neg':
      for (let i = 0; i < n; i++) out[i] = -x[i]!;
      return out;
    case 'exp':
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!);
      return out;
    case 'sigmoid':
      for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]!);
      return out;
    case 'silu':
      for (let i = 0; i < n; i++) {
        const v = x[i]!;
        out[i] = v * sigmoid(v);
      }
      return out;
    default: {
      const f = unaryFn[op];
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
      return out;
    }
  }
};

/** The tuned kernels; the row kernels (gather, scatterAdd, SwiGLU, RMS norm and their VJPs) are the reference's own. */
export const jsBackend: Backend = Object.freeze({
  ...reference,
  name: 'js',
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
  cast,
});
