/**
 * The immutable n-d array.
 *
 * A Tensor is a shape, a dtype, its row-major storage, the backend whose kernels compute on it,
 * and (only while a gradient is being taken) the autodiff node that produced it. Storage is copied
 * on construction and never written afterwards: every op allocates its result. Tensors can share
 * storage (reshape, stopGradient) precisely because nobody writes it.
 */
import type { Backend } from '../backend/backend.js';
import { reference } from '../backend/reference.js';
import { type DType, type TypedArray, allocate, dtypeOf, storageFrom } from '../core/dtype.js';
import { type Shape, assertShape, shapeStr, size } from '../core/shape.js';

/** Read-only view of a tensor's storage: indexable, never writable through this type. */
export interface ReadonlyStorage {
  /** The number of elements. */
  readonly length: number;
  readonly [index: number]: number;
  /** The elements in row-major order. */
  [Symbol.iterator](): IterableIterator<number>;
}

/** An autodiff node: the inputs an op read and the vector-Jacobian product that maps an
 *  output cotangent to one cotangent per input (null where the input gets none). */
export interface Node {
  /** The name of the op, used in error messages (`leaf` for a differentiated parameter). */
  readonly op: string;
  /** The tensors the op read, in argument order. */
  readonly inputs: readonly Tensor[];
  /** Maps the cotangent of the op's output to one cotangent per input, in the order of `inputs`. */
  readonly vjp: (g: Tensor) => readonly (Tensor | null)[];
}

/** An immutable n-d array: shape, dtype, row-major storage, backend, and autodiff node while traced. */
export class Tensor {
  /** @internal use `tensor`, `zeros`, ... or an op. Takes ownership of `data`. */
  constructor(
    /** The size of each axis, outermost first; [] for a scalar. */
    readonly shape: Shape,
    /** The element type of the storage. */
    readonly dtype: DType,
    /** The values in row-major order; never written after construction. */
    readonly data: ReadonlyStorage,
    /** The backend whose kernels compute ops on this tensor. */
    readonly backend: Backend,
    /** The autodiff node that produced this tensor while a gradient is taken; null otherwise. */
    readonly node: Node | null,
  ) {}

  /** The number of elements (the product of the shape). */
  get size(): number {
    return this.data.length;
  }

  /** The number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** Shape, dtype and a few values, as {@link format} gives them. */
  toString(): string {
    return format(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return format(this);
  }
}

/** @internal The storage as the typed array kernels read. Kernels never write it. */
export const storage = (t: Tensor): TypedArray => t.data as unknown as TypedArray;

/** @internal Wraps freshly allocated storage (no copy: the caller hands it over). */
export const fromStorage = (
  shape: Shape,
  data: TypedArray,
  backend: Backend = reference,
  node: Node | null = null,
): Tensor => {
  if (size(shape) !== data.length) {
    throw new Error(`tensor: shape ${shapeStr(shape)} needs ${size(shape)} values, got ${data.length}`);
  }
  return new Tensor(Object.freeze([...shape]), dtypeOf(data), data, backend, node);
};

/** Options of the tensor constructors. */
export interface TensorOptions {
  /** The element type; default float32 (or the typed array's own type where one is given). */
  readonly dtype?: DType;
  /** The backend the tensor lives on; default the reference backend. */
  readonly backend?: Backend;
}

/** Values as nested arrays, outermost axis first; every array at one depth has the same length. */
export type Nested = number | readonly Nested[];

const inferShape = (v: Nested): number[] => {
  const shape: number[] = [];
  let cur: Nested = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly Nested[])[0] ?? 0;
  }
  return shape;
};

const flatten = (v: Nested, shape: Shape, depth: number, out: number[]): void => {
  if (depth === shape.length) {
    if (typeof v !== 'number') throw new Error('tensor: ragged nested array');
    out.push(v);
    return;
  }
  if (!Array.isArray(v) || v.length !== shape[depth]) throw new Error('tensor: ragged nested array');
  for (const e of v as readonly Nested[]) flatten(e, shape, depth + 1, out);
};

/**
 * Builds a tensor from nested arrays, a flat array plus shape, or a typed array plus shape.
 * The values are always copied.
 */
export function tensor(values: Nested, opts?: TensorOptions): Tensor;
export function tensor(values: ArrayLike<number>, shape: Shape, opts?: TensorOptions): Tensor;
export function tensor(
  values: Nested | ArrayLike<number>,
  shapeOrOpts?: Shape | TensorOptions,
  maybeOpts?: TensorOptions,
): Tensor {
  if (Array.isArray(shapeOrOpts)) {
    const shape = shapeOrOpts as Shape;
    const opts = maybeOpts ?? {};
    assertShape('tensor', shape);
    const src = values as ArrayLike<number>;
    const dtype =
      opts.dtype ?? (src instanceof Float64Array ? 'float64' : src instanceof Int32Array ? 'int32' : 'float32');
    return fromStorage(shape, storageFrom(dtype, src), opts.backend);
  }
  const opts = (shapeOrOpts ?? {}) as TensorOptions;
  const shape = inferShape(values as Nested);
  const flat: number[] = [];
  flatten(values as Nested, shape, 0, flat);
  return fromStorage(shape, storageFrom(opts.dtype ?? 'float32', flat), opts.backend);
}

/** A tensor of `shape` with every element `value`. */
export const full = (shape: Shape, value: number, opts: TensorOptions = {}): Tensor => {
  assertShape('full', shape);
  const data = allocate(opts.dtype ?? 'float32', size(shape));
  data.fill(value);
  return fromStorage(shape, data, opts.backend);
};

/** A tensor of `shape` filled with 0. */
export const zeros = (shape: Shape, opts: TensorOptions = {}): Tensor => full(shape, 0, opts);
/** A tensor of `shape` filled with 1. */
export const ones = (shape: Shape, opts: TensorOptions = {}): Tensor => full(shape, 1, opts);
/** A rank-0 tensor holding `value`. */
export const scalar = (value: number, opts: TensorOptions = {}): Tensor => full([], value, opts);

/** 0, 1, ..., n−1. */
export const arange = (n: number, opts: TensorOptions = {}): Tensor => {
  const data = allocate(opts.dtype ?? 'float32', n);
  for (let i = 0; i < n; i++) data[i] = i;
  return fromStorage([n], data, opts.backend);
};

/** A fresh copy of the values as a plain array (row-major). */
export const toArray = (t: Tensor): number[] => Array.from(t.data);

/** A fresh copy of the storage. */
export const toTypedArray = (t: Tensor): TypedArray => storage(t).slice();

/** The single value of a one-element tensor. */
export const item = (t: Tensor): number => {
  if (t.size !== 1) throw new Error(`item: tensor of shape ${shapeStr(t.shape)} has ${t.size} values`);
  return t.data[0]!;
};

/** Values as nested arrays matching the shape. */
export const toNested = (t: Tensor): Nested => {
  const rec = (depth: number, offset: number, stride: number): Nested => {
    if (depth === t.shape.length) return t.data[offset]!;
    const n = t.shape[depth]!;
    const inner = stride / n;
    return Array.from({ length: n }, (_, i) => rec(depth + 1, offset + i * inner, inner));
  };
  return rec(0, 0, t.size);
};

const fmtNum = (dtype: DType, v: number): string =>
  dtype === 'int32' ? String(v) : Number.isInteger(v) ? v.toFixed(1) : v.toPrecision(5);

/** `Tensor<float32 [2,3]> [0.1, 0.2, ..., 0.6]`: shape, dtype and a few values. */
export const format = (t: Tensor, maxValues = 6): string => {
  const n = t.size;
  const vals: string[] = [];
  if (n <= maxValues) for (let i = 0; i < n; i++) vals.push(fmtNum(t.dtype, t.data[i]!));
  else {
    const h = Math.ceil(maxValues / 2);
    for (let i = 0; i < h; i++) vals.push(fmtNum(t.dtype, t.data[i]!));
    vals.push('...');
    for (let i = n - (maxValues - h); i < n; i++) vals.push(fmtNum(t.dtype, t.data[i]!));
  }
  const grad = t.node ? ' (traced)' : '';
  return `Tensor<${t.dtype} ${shapeStr(t.shape)}>${grad} [${vals.join(', ')}]`;
};
