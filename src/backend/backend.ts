/**
 * The Backend interface: the kernels every op bottoms out in.
 *
 * A kernel reads typed arrays and returns a freshly allocated one; it never writes its inputs.
 * Shapes are validated by the op layer (src/ops) before a kernel is called, so kernels may assume
 * consistent arguments. The plain-JS `reference` backend is the living definition of every kernel;
 * other backends (gpu.js, WebAssembly) must agree with it within float tolerance.
 */
import type { DType, TypedArray } from '../core/dtype.js';
import type { Shape } from '../core/shape.js';

/** The element-wise functions of one argument a backend implements. */
export type UnaryOp = 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sigmoid' | 'silu' | 'abs' | 'sign' | 'sin' | 'cos';

/** The element-wise functions of two arguments a backend implements; the comparisons give 1 or 0. */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'maximum'
  | 'minimum'
  | 'atan2'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge';

/** The reductions a backend implements. */
export type ReduceOp = 'sum' | 'max';

/** One batched matrix product: for each batch b, out[b] = op(A)[aOffsets[b]] · op(B)[bOffsets[b]],
 *  where op(A) is m×k (stored k×m when transA) and op(B) is k×n (stored n×k when transB). */
export interface MatmulSpec {
  /** Rows of op(A) and of each output block. */
  readonly m: number;
  /** Columns of op(A), rows of op(B): the summed axis. */
  readonly k: number;
  /** Columns of op(B) and of each output block. */
  readonly n: number;
  /** A is stored k×m and used transposed. */
  readonly transA: boolean;
  /** B is stored n×k and used transposed. */
  readonly transB: boolean;
  /** Per batch entry, the element offset of its A matrix in `a`. */
  readonly aOffsets: readonly number[];
  /** Per batch entry, the element offset of its B matrix in `b`; as long as `aOffsets`. */
  readonly bOffsets: readonly number[];
}

/** A set of kernels on flat typed arrays; every tensor carries the backend its ops run on. */
export interface Backend {
  /** The backend's name for logs, e.g. `reference`, `js`, `wasm`. */
  readonly name: string;
  /** Applies `op` to each element; the result has x's dtype. */
  unary(op: UnaryOp, x: TypedArray): TypedArray;
  /** Element-wise with NumPy broadcasting into `outShape`; comparisons give 1/0 in `x`'s dtype. */
  binary(op: BinaryOp, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, outShape: Shape): TypedArray;
  /** cond ≠ 0 ? a : b, broadcast into `outShape`. */
  where(
    cond: TypedArray,
    cShape: Shape,
    a: TypedArray,
    aShape: Shape,
    b: TypedArray,
    bShape: Shape,
    outShape: Shape,
  ): TypedArray;
  /** Reduces x viewed as [outer, n, inner] over n. */
  reduce(op: ReduceOp, x: TypedArray, outer: number, n: number, inner: number): TypedArray;
  /** First index of the maximum of x viewed as [outer, n, inner] over n. */
  argmax(x: TypedArray, outer: number, n: number, inner: number): Int32Array;
  /** The batched products of `spec`: one m×n block per batch entry, stored one after another. */
  matmul(a: TypedArray, b: TypedArray, spec: MatmulSpec): TypedArray;
  /** Transposes x of `shape` so that output axis i is input axis perm[i] (as NumPy's transpose). */
  permute(x: TypedArray, shape: Shape, perm: readonly number[]): TypedArray;
  /** Copies the box [starts, starts + sizes). */
  slice(x: TypedArray, shape: Shape, starts: readonly number[], sizes: readonly number[]): TypedArray;
  /** Places x at `before` inside a tensor of `outShape` filled with `value`. */
  pad(x: TypedArray, shape: Shape, before: readonly number[], outShape: Shape, value: number): TypedArray;
  /** Joins the parts along `axis` into a tensor of `outShape`, in order. */
  concat(
    parts: readonly { readonly data: TypedArray; readonly shape: Shape }[],
    axis: number,
    outShape: Shape,
  ): TypedArray;
  /** out[i, :] = table[ids[i], :] for a table of `rows` × `cols`. */
  gather(table: TypedArray, rows: number, cols: number, ids: Int32Array): TypedArray;
  /** out = zeros(rows, cols); out[ids[i], :] += values[i, :]. */
  scatterAdd(values: TypedArray, ids: Int32Array, rows: number, cols: number): TypedArray;
  /** Converts x to `dtype`; conversion to int32 truncates toward zero. */
  cast(x: TypedArray, dtype: DType): TypedArray;
  /** SwiGLU's gate, fused: h is `rows` × 2·inter, [a | u] per row; out[r, j] = silu(a[r, j])·u[r, j]
   *  (rows × inter). */
  swiglu(h: TypedArray, rows: number, inter: number): TypedArray;
  /** Its VJP: for the cotangent g (rows × inter), the rows × 2·inter cotangent of h:
   *  [g·u·silu′(a) | g·silu(a)], silu′(a) = σ(a)·(1 + a·(1 − σ(a))). */
  swigluGrad(g: TypedArray, h: TypedArray, rows: number, inter: number): TypedArray;
  /** RMS norm over rows of n (no gain): out = x · r per row, r = 1/√(Σx²/n + eps). */
  rmsNorm(x: TypedArray, rows: number, n: number, eps: number): TypedArray;
  /** Its VJP for the cotangent g: r·g − (r³/n)·(Σ g·x)·x per row. */
  rmsNormGrad(g: TypedArray, x: TypedArray, rows: number, n: number, eps: number): TypedArray;
  /** Releases what the backend holds (GPU kernels, workers). The reference backend holds nothing. */
  close(): void;
}
