/**
 * The primitives: a closed set of ops, each with its forward (shape checks + one kernel call) and
 * exactly one vector-Jacobian product, in one table. Everything else in trm-ts (softmax, RMS norm,
 * stablemax, the losses, the whole model) is composed from these and defines no gradient of its own,
 * except the few fused ops of fused.ts: single-kernel forms of composites, each defined with
 * `defineFused` next to the composite it equals and given its VJP explicitly.
 *
 * Each primitive declares its arity as a tuple of tensors (`[Tensor]`, `[Tensor, Tensor]`; concat
 * takes a non-empty list), so `forward` and `vjp` read their inputs without assertions.
 *
 * Conventions: a cotangent `g` has the output's shape and dtype; a VJP returns one cotangent per
 * input, or null where the input gets none (integer ids, comparison masks).
 */
import type { BinaryOp, UnaryOp } from '../backend/backend.js';
import type { DType } from '../core/dtype.js';
import { isFloat } from '../core/dtype.js';
import { type Shape, broadcastShapes, normAxis, sameShape, shapeStr, size } from '../core/shape.js';
import { type Node, Tensor, storage } from '../tensor/tensor.js';
import { detach } from '../autodiff/grad.js';
import { desc, make, requireFloat } from './internal.js';

/** A tensor, or a JS number taken as a scalar of the other operand's dtype and backend. */
export type Operand = Tensor | number;

/** The inputs of an op: a tuple of tensors whose length is its arity. */
export type Inputs = readonly Tensor[];

/** One cotangent (or null) per input, in the inputs' tuple shape. */
export type Cotangents<I extends Inputs> = { readonly [K in keyof I]: Tensor | null };

/** A non-empty list of tensors (the inputs of a variadic op). */
export type NonEmpty = readonly [Tensor, ...Tensor[]];

/** An op of the closed set: its name, its forward and its one VJP. */
export interface Primitive<I extends Inputs, P> {
  /** The op's name, as autodiff nodes and error messages give it. */
  readonly name: string;
  /** Validates the inputs and computes the output (which carries no node). */
  readonly forward: (inputs: I, params: P) => Tensor;
  /** The VJP: output cotangent → one cotangent (or null) per input. Inputs and output are detached. */
  readonly vjp: (g: Tensor, inputs: I, out: Tensor, params: P) => Cotangents<I>;
}

const sameBackend = (op: string, inputs: Inputs): void => {
  for (const t of inputs) {
    const b = inputs[0]!.backend;
    if (t.backend !== b) throw new Error(`${op}: inputs live on different backends (${b.name}, ${t.backend.name})`);
  }
};

/** The inputs detached, in the same tuple (map keeps the length; TS types its result as a plain array). */
const detachAll = <I extends Inputs>(inputs: I): I => inputs.map(detach) as readonly Tensor[] as I;

/** Runs a primitive, recording a node when any input is being differentiated. */
const bind = <I extends Inputs, P>(prim: Primitive<I, P>, inputs: NoInfer<I>, params: NoInfer<P>): Tensor => {
  sameBackend(prim.name, inputs);
  const out = prim.forward(inputs, params);
  if (!inputs.some((t) => t.node !== null)) return out;
  const detached = detachAll(inputs);
  const node: Node = { op: prim.name, inputs, vjp: (g) => prim.vjp(g, detached, out, params) };
  return new Tensor(out.shape, out.dtype, out.data, out.backend, node);
};

/**
 * A fused op: an op outside the closed set whose forward calls one kernel of its own and whose VJP
 * is given explicitly (as JAX's `custom_vjp`), where composing it from primitives would cost several
 * passes over large tensors. It runs through the same `bind` as the primitives, so it records a
 * node like any of them. Define it next to the composite it equals (see fused.ts), and give its
 * VJP in ops that are themselves differentiable (primitives, composites, or further fused ops) so
 * that second derivatives work.
 */
export interface Fused<I extends Inputs, P> {
  /** The op's name, as autodiff nodes and error messages give it. */
  readonly name: string;
  /** The op applied to its inputs and static parameters. */
  readonly apply: (inputs: I, params: P) => Tensor;
}

/** Makes a fused op from its forward and VJP; applying it records a node as a primitive does. */
export const defineFused = <I extends Inputs, P>(def: Primitive<I, P>): Fused<I, P> => ({
  name: def.name,
  apply: (inputs, params) => bind(def, inputs, params),
});

/** A JS number becomes a scalar tensor of the other operand's dtype and backend. */
const lift = (x: Operand, like: Tensor): Tensor => (x instanceof Tensor ? x : make(like, [], likeStorage(like, [x])));

const likeStorage = (like: Tensor, values: number[]) => {
  const s = storage(like);
  const out = new (s.constructor as new (n: number) => typeof s)(values.length);
  out.set(values);
  return out;
};

// ---------------------------------------------------------------------------------------------
// Element-wise

const unaryPrim = (op: UnaryOp, d: (g: Tensor, x: Tensor, y: Tensor) => Tensor | null): Primitive<[Tensor], null> => ({
  name: op,
  forward: ([x]) => {
    requireFloat(op, x);
    return make(x, x.shape, x.backend.unary(op, storage(x)));
  },
  vjp: (g, [x], y) => [d(g, x, y)],
});

const binaryPrim = (
  op: BinaryOp,
  d: ((g: Tensor, a: Tensor, b: Tensor, y: Tensor) => readonly [Tensor | null, Tensor | null]) | null,
): Primitive<[Tensor, Tensor], null> => ({
  name: op,
  forward: ([a, b]) => {
    if (a.dtype !== b.dtype) throw new Error(`${op}: dtypes differ: ${desc(a)} and ${desc(b)}`);
    const outShape = broadcastShapes(op, a.shape, b.shape);
    return make(a, outShape, a.backend.binary(op, storage(a), a.shape, storage(b), b.shape, outShape));
  },
  vjp: (g, [a, b], y) => {
    // Stryker disable next-line ArrayDeclaration: equivalent (a missing cotangent reads as null)
    if (d === null) return [null, null];
    const [ga, gb] = d(g, a, b, y);
    return [ga && sumTo(ga, a.shape), gb && sumTo(gb, b.shape)];
  },
});

const P = {
  neg: unaryPrim('neg', (g) => neg(g)),
  exp: unaryPrim('exp', (g, _x, y) => mul(g, y)),
  log: unaryPrim('log', (g, x) => div(g, x)),
  sqrt: unaryPrim('sqrt', (g, _x, y) => div(g, mul(y, 2))),
  rsqrt: unaryPrim('rsqrt', (g, _x, y) => mul(g, mul(mul(y, mul(y, y)), -0.5))),
  sigmoid: unaryPrim('sigmoid', (g, _x, y) => mul(g, mul(y, sub(1, y)))),
  silu: unaryPrim('silu', (g, x) => {
    const s = sigmoid(x);
    return mul(g, mul(s, add(1, mul(x, sub(1, s)))));
  }),
  abs: unaryPrim('abs', (g, x) => mul(g, sign(x))),
  sign: unaryPrim('sign', () => null),
  sin: unaryPrim('sin', (g, x) => mul(g, cos(x))),
  cos: unaryPrim('cos', (g, x) => neg(mul(g, sin(x)))),

  add: binaryPrim('add', (g) => [g, g]),
  sub: binaryPrim('sub', (g) => [g, neg(g)]),
  mul: binaryPrim('mul', (g, a, b) => [mul(g, b), mul(g, a)]),
  div: binaryPrim('div', (g, a, b) => [div(g, b), neg(div(mul(g, a), mul(b, b)))]),
  maximum: binaryPrim('maximum', (g, a, b) => [mul(g, ge(a, b)), mul(g, lt(a, b))]),
  minimum: binaryPrim('minimum', (g, a, b) => [mul(g, le(a, b)), mul(g, gt(a, b))]),
  atan2: binaryPrim('atan2', (g, a, b) => {
    const r = add(mul(a, a), mul(b, b));
    return [mul(g, div(b, r)), neg(mul(g, div(a, r)))];
  }),
  eq: binaryPrim('eq', null),
  ne: binaryPrim('ne', null),
  lt: binaryPrim('lt', null),
  le: binaryPrim('le', null),
  gt: binaryPrim('gt', null),
  ge: binaryPrim('ge', null),

  where: {
    name: 'where',
    forward: ([c, a, b]) => {
      if (a.dtype !== b.dtype) throw new Error(`where: branch dtypes differ: ${desc(a)} and ${desc(b)}`);
      const outShape = broadcastShapes('where', broadcastShapes('where', c.shape, a.shape), b.shape);
      return make(
        a,
        outShape,
        a.backend.where(storage(c), c.shape, storage(a), a.shape, storage(b), b.shape, outShape),
      );
    },
    vjp: (g, [c, a, b]) => {
      const zero = lift(0, g);
      return [null, sumTo(where(c, g, zero), a.shape), sumTo(where(c, zero, g), b.shape)];
    },
  } satisfies Primitive<[Tensor, Tensor, Tensor], null>,

  cast: {
    name: 'cast',
    forward: ([x], dtype) => make(x, x.shape, x.backend.cast(storage(x), dtype)),
    vjp: (g, [x]) => [isFloat(x.dtype) && isFloat(g.dtype) ? cast(g, x.dtype) : null],
  } satisfies Primitive<[Tensor], DType>,

  // -------------------------------------------------------------------------------------------
  // Reductions (over one axis; keepdims is a reshape around them)

  sum: {
    name: 'sum',
    forward: ([x], axis) => {
      const [outer, n, inner] = splitAt(x.shape, axis);
      return make(x, keptShape(x.shape, axis), x.backend.reduce('sum', storage(x), outer, n, inner));
    },
    vjp: (g, [x]) => [broadcastTo(g, x.shape)],
  } satisfies Primitive<[Tensor], number>,

  max: {
    name: 'max',
    forward: ([x], axis) => {
      const [outer, n, inner] = splitAt(x.shape, axis);
      // Stryker disable next-line StringLiteral: equivalent (the backends' reduce takes 'sum' | 'max' and reads any other kind as max)
      return make(x, keptShape(x.shape, axis), x.backend.reduce('max', storage(x), outer, n, inner));
    },
    // The cotangent is shared evenly among tied maxima (as torch.amax does).
    vjp: (g, [x], y, axis) => {
      const hit = eq(x, y);
      return [div(mul(broadcastTo(g, x.shape), hit), sumPrim(hit, axis))];
    },
  } satisfies Primitive<[Tensor], number>,

  argmax: {
    name: 'argmax',
    forward: ([x], axis) => {
      const [outer, n, inner] = splitAt(x.shape, axis);
      return make(x, keptShape(x.shape, axis), x.backend.argmax(storage(x), outer, n, inner));
    },
    // Stryker disable next-line ArrayDeclaration: equivalent (a missing cotangent reads as null)
    vjp: () => [null],
  } satisfies Primitive<[Tensor], number>,

  // -------------------------------------------------------------------------------------------
  // Linear algebra

  matmul: {
    name: 'matmul',
    forward: ([a, b], t) => matmulForward(a, b, t.transA, t.transB),
    vjp: (g, [a, b], _y, { transA, transB }) => {
      // C = op(A)·op(B); each form reads its operands through strides, never a materialised transpose.
      const ga = transA ? matmulT(b, g, transB, true) : matmulT(g, b, false, !transB);
      const gb = transB ? matmulT(g, a, true, transA) : matmulT(a, g, !transA, false);
      return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
    },
  } satisfies Primitive<[Tensor, Tensor], { transA: boolean; transB: boolean }>,

  // -------------------------------------------------------------------------------------------
  // Movement

  reshape: {
    name: 'reshape',
    forward: ([x], shape) => new Tensor(Object.freeze([...shape]), x.dtype, x.data, x.backend, null),
    vjp: (g, [x]) => [reshape(g, x.shape)],
  } satisfies Primitive<[Tensor], Shape>,

  permute: {
    name: 'permute',
    forward: ([x], perm) =>
      make(
        x,
        perm.map((p) => x.shape[p]!),
        x.backend.permute(storage(x), x.shape, perm),
      ),
    vjp: (g, _x, _y, perm) => [permute(g, invertPerm(perm))],
  } satisfies Primitive<[Tensor], readonly number[]>,

  broadcastTo: {
    name: 'broadcastTo',
    forward: ([x], shape) => {
      const out = broadcastShapes('broadcastTo', x.shape, shape);
      if (!sameShape(out, shape))
        throw new Error(`broadcastTo: ${shapeStr(x.shape)} does not broadcast to ${shapeStr(shape)}`);
      // x + (−0) is x bit for bit (+0 + −0 = +0, −0 + −0 = −0); x + 0 would turn −0 into +0.
      const zero = lift(-0, x);
      return make(x, shape, x.backend.binary('add', storage(x), x.shape, storage(zero), [], shape));
    },
    vjp: (g, [x]) => [sumTo(g, x.shape)],
  } satisfies Primitive<[Tensor], Shape>,

  slice: {
    name: 'slice',
    forward: ([x], { starts, sizes }) => make(x, sizes, x.backend.slice(storage(x), x.shape, starts, sizes)),
    vjp: (g, [x], _y, { starts }) => [padPrim(g, starts, x.shape, 0)],
  } satisfies Primitive<[Tensor], { starts: readonly number[]; sizes: readonly number[] }>,

  pad: {
    name: 'pad',
    forward: ([x], { before, outShape, value }) =>
      make(x, outShape, x.backend.pad(storage(x), x.shape, before, outShape, value)),
    vjp: (g, [x], _y, { before }) => [slicePrim(g, before, x.shape)],
  } satisfies Primitive<[Tensor], { before: readonly number[]; outShape: Shape; value: number }>,

  concat: {
    name: 'concat',
    forward: (parts, axis) => {
      const [first] = parts;
      const outShape = [...first.shape];
      outShape[axis] = parts.reduce((s, p) => s + p.shape[axis]!, 0);
      return make(
        first,
        outShape,
        first.backend.concat(
          parts.map((p) => ({ data: storage(p), shape: p.shape })),
          axis,
          outShape,
        ),
      );
    },
    vjp: (g, parts, _y, axis) => {
      let at = 0;
      const part = (p: Tensor): Tensor => {
        const starts = p.shape.map((_, i) => (i === axis ? at : 0));
        at += p.shape[axis]!;
        return slicePrim(g, starts, p.shape);
      };
      const [first, ...rest] = parts;
      return [part(first), ...rest.map(part)];
    },
  } satisfies Primitive<NonEmpty, number>,

  // -------------------------------------------------------------------------------------------
  // Indexing

  gather: {
    name: 'gather',
    forward: ([table, ids]) => {
      const [rows, cols] = [table.shape[0]!, size(table.shape.slice(1))];
      return make(
        table,
        [...ids.shape, ...table.shape.slice(1)],
        table.backend.gather(storage(table), rows, cols, storage(ids) as Int32Array),
      );
    },
    vjp: (g, [table, ids]) => [scatterAdd(g, ids, table.shape[0]!), null],
  } satisfies Primitive<[Tensor, Tensor], null>,

  scatterAdd: {
    name: 'scatterAdd',
    forward: ([values, ids], rows) => {
      const tail = values.shape.slice(ids.shape.length);
      return make(
        values,
        [rows, ...tail],
        values.backend.scatterAdd(storage(values), storage(ids) as Int32Array, rows, size(tail)),
      );
    },
    vjp: (g, [, ids]) => [gather(g, ids), null],
  } satisfies Primitive<[Tensor, Tensor], number>,
};

/** The primitive table, exported for documentation and for the laws that iterate over it. */
export const primitiveNames: readonly string[] = Object.keys(P);

// ---------------------------------------------------------------------------------------------
// Helpers shared by forwards and VJPs

const splitAt = (shape: Shape, axis: number): [number, number, number] => [
  size(shape.slice(0, axis)),
  shape[axis]!,
  size(shape.slice(axis + 1)),
];

const keptShape = (shape: Shape, axis: number): number[] => shape.map((d, i) => (i === axis ? 1 : d));

const invertPerm = (perm: readonly number[]): number[] => {
  // Stryker disable next-line ArrayDeclaration: equivalent (the array grows to the same length)
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
};

/** Sums a broadcast cotangent back down to `shape` (the VJP of broadcasting). */
export const sumTo = (g: Tensor, shape: Shape): Tensor => {
  // Stryker disable next-line ConditionalExpression: equivalent (nothing is summed, and reshape to the same shape returns g)
  if (sameShape(g.shape, shape)) return g;
  let t = g;
  const lead = g.shape.length - shape.length;
  // Stryker disable next-line EqualityOperator: equivalent (the extra axis has no target and sums nothing)
  for (let i = 0; i < g.shape.length; i++) {
    const target = i < lead ? 1 : shape[i - lead]!;
    if (target === 1 && g.shape[i] !== 1) t = sumPrim(t, i);
  }
  return reshape(t, shape);
};

const batchOffsets = (
  op: string,
  aShape: Shape,
  bShape: Shape,
  aMat: number,
  bMat: number,
): { batchShape: number[]; aOffsets: number[]; bOffsets: number[] } => {
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const batchShape = broadcastShapes(op, aBatch, bBatch);
  const n = size(batchShape);
  const aOffsets: number[] = [];
  const bOffsets: number[] = [];
  const offsetIn = (batch: Shape, flat: number): number => {
    // flat index in batchShape → flat index in `batch` (broadcast axes contribute 0).
    let rem = flat;
    let off = 0;
    let stride = 1;
    for (let i = batchShape.length - 1; i >= 0; i--) {
      const d = batchShape[i]!;
      const idx = rem % d;
      rem = Math.floor(rem / d);
      const j = i - (batchShape.length - batch.length);
      if (j >= 0) {
        if (batch[j] !== 1) off += idx * stride;
        stride *= batch[j]!;
      }
    }
    return off;
  };
  for (let i = 0; i < n; i++) {
    aOffsets.push(offsetIn(aBatch, i) * aMat);
    bOffsets.push(offsetIn(bBatch, i) * bMat);
  }
  return { batchShape, aOffsets, bOffsets };
};

const matmulForward = (a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor => {
  const tag = `${transA ? 'ᵀ' : ''}@${transB ? 'ᵀ' : ''}`;
  const shapes = `${shapeStr(a.shape)} ${tag} ${shapeStr(b.shape)}`;
  if (a.rank < 2 || b.rank < 2) throw new Error(`matmul: ${shapes}: both operands need rank ≥ 2`);
  if (a.dtype !== b.dtype) throw new Error(`matmul: ${shapes}: dtypes differ (${a.dtype}, ${b.dtype})`);
  requireFloat('matmul', a);
  const [ar, ac] = [a.shape[a.rank - 2]!, a.shape[a.rank - 1]!];
  const [br, bc] = [b.shape[b.rank - 2]!, b.shape[b.rank - 1]!];
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const [k2, n] = transB ? [bc, br] : [br, bc];
  if (k !== k2) throw new Error(`matmul: ${shapes}: inner dimensions ${k} ≠ ${k2}`);
  const { batchShape, aOffsets, bOffsets } = batchOffsets('matmul', a.shape, b.shape, ar * ac, br * bc);
  const data = a.backend.matmul(storage(a), storage(b), { m, k, n, transA, transB, aOffsets, bOffsets });
  return make(a, [...batchShape, m, n], data);
};

// ---------------------------------------------------------------------------------------------
// The public ops

const bin =
  (prim: Primitive<[Tensor, Tensor], null>) =>
  (a: Operand, b: Operand): Tensor => {
    if (!(a instanceof Tensor) && !(b instanceof Tensor)) throw new Error(`${prim.name}: needs at least one tensor`);
    const ta = a instanceof Tensor ? a : lift(a, b as Tensor);
    const tb = lift(b, ta);
    return bind(prim, [ta, tb], null);
  };

const un =
  (prim: Primitive<[Tensor], null>) =>
  (x: Tensor): Tensor =>
    bind(prim, [x], null);

/** −x, element-wise (float tensors). */
export const neg = un(P.neg);
/** eˣ, element-wise (float tensors). */
export const exp = un(P.exp);
/** Natural logarithm, element-wise (float tensors). */
export const log = un(P.log);
/** √x, element-wise (float tensors). */
export const sqrt = un(P.sqrt);
/** 1/√x, element-wise (float tensors). */
export const rsqrt = un(P.rsqrt);
/** σ(x) = 1/(1 + e⁻ˣ), element-wise (float tensors). */
export const sigmoid = un(P.sigmoid);
/** x·σ(x), element-wise (float tensors). */
export const silu = un(P.silu);
/** |x|, element-wise (float tensors). */
export const abs = un(P.abs);
/** −1, 0 or 1 by the sign of x, element-wise (float tensors); no gradient. */
export const sign = un(P.sign);
/** sin x, element-wise (float tensors). */
export const sin = un(P.sin);
/** cos x, element-wise (float tensors). */
export const cos = un(P.cos);

/** a + b, element-wise with broadcasting. */
export const add = bin(P.add);
/** a − b, element-wise with broadcasting. */
export const sub = bin(P.sub);
/** a · b, element-wise with broadcasting. */
export const mul = bin(P.mul);
/** a / b, element-wise with broadcasting. */
export const div = bin(P.div);
/** The larger of a and b, element-wise with broadcasting; at a tie the gradient goes to a. */
export const maximum = bin(P.maximum);
/** The smaller of a and b, element-wise with broadcasting; at a tie the gradient goes to a. */
export const minimum = bin(P.minimum);
/** atan2(a, b), the angle of the point (b, a), element-wise with broadcasting. */
export const atan2 = bin(P.atan2);
/** a = b as 1/0 in the operands' dtype, element-wise with broadcasting; no gradient. */
export const eq = bin(P.eq);
/** a ≠ b as 1/0 in the operands' dtype, element-wise with broadcasting; no gradient. */
export const ne = bin(P.ne);
/** a < b as 1/0 in the operands' dtype, element-wise with broadcasting; no gradient. */
export const lt = bin(P.lt);
/** a ≤ b as 1/0 in the operands' dtype, element-wise with broadcasting; no gradient. */
export const le = bin(P.le);
/** a > b as 1/0 in the operands' dtype, element-wise with broadcasting; no gradient. */
export const gt = bin(P.gt);
/** a ≥ b as 1/0 in the operands' dtype, element-wise with broadcasting; no gradient. */
export const ge = bin(P.ge);

/** cond ≠ 0 ? a : b, element-wise with broadcasting. */
export const where = (cond: Tensor, a: Operand, b: Operand): Tensor => {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
  if (like === null) throw new Error('where: needs at least one tensor branch');
  return bind(P.where, [cond, lift(a, like), lift(b, like)], null);
};

/** x converted to `dtype` (to int32: truncated toward zero); the gradient flows between float dtypes only. */
export const cast = (x: Tensor, dtype: DType): Tensor => (x.dtype === dtype ? x : bind(P.cast, [x], dtype));

const sumPrim = (x: Tensor, axis: number): Tensor => bind(P.sum, [x], axis);

const reduceWith =
  (prim: Primitive<[Tensor], number>) =>
  (x: Tensor, axis: number, keepdims = false): Tensor => {
    const ax = normAxis(prim.name, axis, x.rank, x.shape);
    const r = bind(prim, [x], ax);
    return keepdims
      ? r
      : reshape(
          r,
          x.shape.filter((_, i) => i !== ax),
        );
  };

/** Sum over one axis. */
export const sum = reduceWith(P.sum);
/** Maximum over one axis (ties share the gradient). */
export const max = reduceWith(P.max);
/** Index of the first maximum over one axis (int32, no gradient). */
export const argmax = reduceWith(P.argmax);

/** Sum of every element, as a [] tensor. */
export const sumAll = (x: Tensor): Tensor => sum(reshape(x, [x.size]), 0);

/** Batched matrix product with broadcast batch axes. */
// Stryker disable next-line ObjectLiteral: equivalent (absent flags read as false)
export const matmul = (a: Tensor, b: Tensor): Tensor => bind(P.matmul, [a, b], { transA: false, transB: false });

/** op(a)·op(b) where op transposes the last two axes when asked, without materialising it. */
export const matmulT = (a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor =>
  bind(P.matmul, [a, b], { transA, transB });

/** The same values, sharing storage, in a new shape; one axis may be −1 (inferred). */
export const reshape = (x: Tensor, shape: Shape): Tensor => {
  const inferred = shape.indexOf(-1);
  let s = [...shape];
  // Stryker disable next-line ConditionalExpression: equivalent (without a -1, s[-1] is a property no check reads)
  if (inferred >= 0) {
    const known = size(shape.filter((d) => d !== -1));
    s[inferred] = known === 0 ? 0 : x.size / known;
  }
  if (s.some((d) => !Number.isInteger(d) || d < 0) || size(s) !== x.size) {
    throw new Error(`reshape: cannot reshape ${shapeStr(x.shape)} (${x.size} values) to ${shapeStr(shape)}`);
  }
  if (sameShape(s, x.shape)) return x;
  s = Object.freeze(s) as number[];
  return bind(P.reshape, [x], s);
};

/** Reorders the axes: output axis i is input axis perm[i]. */
export const permute = (x: Tensor, perm: readonly number[]): Tensor => {
  const ok = perm.length === x.rank && [...perm].sort((p, q) => p - q).every((p, i) => p === i);
  if (!ok) throw new Error(`permute: [${perm.join(',')}] is not a permutation of the axes of ${shapeStr(x.shape)}`);
  if (perm.every((p, i) => p === i)) return x;
  return bind(P.permute, [x], perm);
};

/** Swaps two axes (default: the last two). */
export const transpose = (x: Tensor, a = -2, b = -1): Tensor => {
  const i = normAxis('transpose', a, x.rank, x.shape);
  const j = normAxis('transpose', b, x.rank, x.shape);
  const perm = x.shape.map((_, k) => k);
  perm[i] = j;
  perm[j] = i;
  return permute(x, perm);
};

/** x broadcast to `shape` by NumPy rules; the gradient sums back. */
export const broadcastTo = (x: Tensor, shape: Shape): Tensor =>
  sameShape(x.shape, shape) ? x : bind(P.broadcastTo, [x], Object.freeze([...shape]));

const slicePrim = (x: Tensor, starts: readonly number[], sizes: readonly number[]): Tensor =>
  bind(P.slice, [x], { starts, sizes });

const padPrim = (x: Tensor, before: readonly number[], outShape: Shape, value: number): Tensor =>
  bind(P.pad, [x], { before, outShape, value });

/**
 * The box x[starts[0]:ends[0], starts[1]:ends[1], ...] (missing axes: whole). Negative indices count
 * from the end, as in Python.
 */
export const slice = (x: Tensor, starts: readonly number[], ends?: readonly (number | undefined)[]): Tensor => {
  if (starts.length > x.rank) throw new Error(`slice: ${starts.length} starts for shape ${shapeStr(x.shape)}`);
  const s = x.shape.map((d, i) => {
    const v = starts[i] ?? 0;
    return v < 0 ? v + d : v;
  });
  const e = x.shape.map((d, i) => {
    const v = ends?.[i] ?? d;
    return v < 0 ? v + d : v;
  });
  x.shape.forEach((d, i) => {
    if (s[i]! < 0 || e[i]! > d || s[i]! > e[i]!) {
      throw new Error(`slice: [${s[i]}:${e[i]}] out of range on axis ${i} of ${shapeStr(x.shape)}`);
    }
  });
  const sizes = e.map((v, i) => v - s[i]!);
  if (sameShape(sizes, x.shape)) return x;
  return slicePrim(x, s, sizes);
};

/** Constant padding: `widths[i] = [before, after]` for each leading axis listed. */
export const pad = (x: Tensor, widths: readonly (readonly [number, number])[], value = 0): Tensor => {
  if (widths.length > x.rank) throw new Error(`pad: ${widths.length} widths for shape ${shapeStr(x.shape)}`);
  const before = x.shape.map((_, i) => widths[i]?.[0] ?? 0);
  const outShape = x.shape.map((d, i) => d + before[i]! + (widths[i]?.[1] ?? 0));
  if (widths.some(([b, a]) => !Number.isInteger(b) || !Number.isInteger(a) || b < 0 || a < 0)) {
    throw new Error(`pad: negative widths for ${shapeStr(x.shape)}`);
  }
  return padPrim(x, before, outShape, value);
};

const isNonEmpty = (parts: readonly Tensor[]): parts is NonEmpty => parts.length > 0;

/** Joins tensors along `axis`; they must agree in dtype and in every other axis. */
export const concat = (parts: readonly Tensor[], axis: number): Tensor => {
  if (!isNonEmpty(parts)) throw new Error('concat: no tensors');
  const [first] = parts;
  const ax = normAxis('concat', axis, first.rank, first.shape);
  for (const p of parts) {
    if (p.dtype !== first.dtype || p.rank !== first.rank || p.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new Error(`concat: ${parts.map((q) => desc(q)).join(', ')} do not match outside axis ${ax}`);
    }
  }
  return parts.length === 1 ? first : bind(P.concat, parts, ax);
};

const checkIds = (op: string, ids: Tensor, rows: number): void => {
  if (ids.dtype !== 'int32') throw new Error(`${op}: ids must be int32, got ${desc(ids)}`);
  // Stryker disable next-line EqualityOperator: equivalent (ids.data[size] is undefined, which no comparison rejects)
  for (let i = 0; i < ids.size; i++) {
    const v = ids.data[i]!;
    if (v < 0 || v >= rows) throw new Error(`${op}: id ${v} at index ${i} out of range [0, ${rows})`);
  }
};

/** Rows of `table` picked by `ids` (an embedding lookup): [...ids.shape, ...table.shape[1:]]. */
export const gather = (table: Tensor, ids: Tensor): Tensor => {
  if (table.rank < 1) throw new Error(`gather: table must have rank ≥ 1, got ${shapeStr(table.shape)}`);
  checkIds('gather', ids, table.shape[0]!);
  return bind(P.gather, [table, ids], null);
};

/** zeros([rows, ...]) with values[i] added into row ids[i] (the VJP of gather). */
export const scatterAdd = (values: Tensor, ids: Tensor, rows: number): Tensor => {
  if (!sameShape(values.shape.slice(0, ids.rank), ids.shape)) {
    throw new Error(`scatterAdd: values ${shapeStr(values.shape)} do not start with ids ${shapeStr(ids.shape)}`);
  }
  checkIds('scatterAdd', ids, rows);
  return bind(P.scatterAdd, [values, ids], rows);
};
