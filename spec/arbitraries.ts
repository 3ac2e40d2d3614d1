/**
 * fast-check generators for the laws: shapes (with size-1 axes and broadcast pairs), float64 tensors
 * whose values stay away from the kinks of the op under test, and a small seeded PRNG for the
 * tangents and cotangents that the laws draw once the output shape is known.
 *
 * Shapes are kept small (rank ≤ 4, dims ≤ 4 unless asked) so that a few hundred runs of every law
 * stay well under a second per op.
 */
import fc from 'fast-check';
import { detach } from '../src/autodiff/grad.js';
import type { DType } from '../src/core/dtype.js';
import { type Shape, size } from '../src/core/shape.js';
import { type Tensor, fromStorage, storage, tensor } from '../src/tensor/tensor.js';

// ---------------------------------------------------------------------------------------------
// Shapes

export interface ShapeOptions {
  readonly minRank?: number;
  readonly maxRank?: number;
  readonly maxDim?: number;
}

/** One axis length; size 1 is drawn often, since broadcasting and squeezing live there. */
export const dimArb = (maxDim = 4): fc.Arbitrary<number> =>
  fc.oneof({ arbitrary: fc.constant(1), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: maxDim }), weight: 3 });

export const shapeArb = ({ minRank = 0, maxRank = 3, maxDim = 4 }: ShapeOptions = {}): fc.Arbitrary<number[]> =>
  fc.array(dimArb(maxDim), { minLength: minRank, maxLength: maxRank });

/** A shape that broadcasts to `out`: some leading axes dropped, some axes set to 1. */
export const broadcastableTo = (out: Shape): fc.Arbitrary<number[]> =>
  fc
    .tuple(
      fc.integer({ min: 0, max: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    )
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));

/** Two shapes that broadcast together (to a shape no larger than the one drawn first). */
export const broadcastPairArb = (opts: ShapeOptions = {}): fc.Arbitrary<[number[], number[]]> =>
  shapeArb(opts).chain((out) => fc.tuple(broadcastableTo(out), broadcastableTo(out)));

/** Three shapes that broadcast together (for `where`). */
export const broadcastTripleArb = (opts: ShapeOptions = {}): fc.Arbitrary<[number[], number[], number[]]> =>
  shapeArb(opts).chain((out) => fc.tuple(broadcastableTo(out), broadcastableTo(out), broadcastableTo(out)));

/** An axis of a rank-`rank` shape, as either a non-negative or a negative index. */
export const axisArb = (rank: number): fc.Arbitrary<number> =>
  fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.boolean()).map(([a, negative]) => (negative ? a - rank : a));

/** A permutation of 0..n−1. */
export const permArb = (n: number): fc.Arbitrary<number[]> =>
  fc.shuffledSubarray(
    Array.from({ length: n }, (_, i) => i),
    { minLength: n, maxLength: n },
  );

// ---------------------------------------------------------------------------------------------
// Values

/**
 * Where values are drawn, chosen per op to keep the central differences away from kinks:
 * - `real`: [−2, 2];
 * - `positive`: [0.25, 4] (log, sqrt, rsqrt);
 * - `nonzero`: ±[0.25, 2] (abs at 0, the stablemax branch at 0, BCE's max(x, 0), atan2's origin);
 * - `unit`: [0, 1] (BCE targets).
 */
export type Domain = 'real' | 'positive' | 'nonzero' | 'unit';

const double = (min: number, max: number): fc.Arbitrary<number> =>
  fc.double({ min, max, noNaN: true, noDefaultInfinity: true });

export const valueArb = (domain: Domain): fc.Arbitrary<number> => {
  switch (domain) {
    case 'real':
      return double(-2, 2);
    case 'positive':
      return double(0.25, 4);
    case 'unit':
      return double(0, 1);
    case 'nonzero':
      return fc.tuple(fc.boolean(), double(0.25, 2)).map(([negative, v]) => (negative ? -v : v));
  }
};

/** A float64 tensor of `shape` with values from `domain`. */
export const tensorArb = (shape: Shape, domain: Domain = 'real'): fc.Arbitrary<Tensor> =>
  fc
    .array(valueArb(domain), { minLength: size(shape), maxLength: size(shape) })
    .map((vs) => tensor(Float64Array.from(vs), shape));

/** An int32 tensor of `shape` with values in [min, max]. */
export const intTensorArb = (shape: Shape, min: number, max: number): fc.Arbitrary<Tensor> =>
  fc
    .array(fc.integer({ min, max }), { minLength: size(shape), maxLength: size(shape) })
    .map((vs) => tensor(Int32Array.from(vs), shape));

/** Smallest |x_i − x_j| between two elements of one line along `axis` (Infinity if none). */
export const minGapAlong = (x: Tensor, axis: number): number => {
  const ax = axis < 0 ? axis + x.rank : axis;
  const n = x.shape[ax]!;
  const inner = size(x.shape.slice(ax + 1));
  const outer = size(x.shape.slice(0, ax));
  let gap = Infinity;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      for (let p = 0; p < n; p++) {
        for (let q = p + 1; q < n; q++) {
          const a = x.data[(o * n + p) * inner + i]!;
          const b = x.data[(o * n + q) * inner + i]!;
          gap = Math.min(gap, Math.abs(a - b));
        }
      }
    }
  }
  return gap;
};

// ---------------------------------------------------------------------------------------------
// Seeded draws for tangents and cotangents

/** mulberry32: a tiny deterministic PRNG, so a failing seed replays exactly. */
export const prng = (seed: number): (() => number) => {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/**
 * A tensor of `shape` and `dtype` with values in [−1, 1] from `rand`; with `grid`, the values are
 * multiples of 1/grid (exactly representable in float32, for the cast law).
 */
export const randomTensor = (rand: () => number, shape: Shape, dtype: DType, grid?: number): Tensor => {
  const n = size(shape);
  const vs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = 2 * rand() - 1;
    vs[i] = grid === undefined ? u : Math.round(u * grid) / grid;
  }
  return tensor(vs, shape, { dtype });
};

/** Same values rounded to float32 and kept in float64, so both precisions start from one input. */
export const roundToFloat32 = (t: Tensor): Tensor =>
  t.dtype === 'float64' ? fromStorage(t.shape, Float64Array.from(Float32Array.from(storage(t)))) : t;

/** A copy of the raw bytes of a tensor's storage (for the bitwise purity law). */
export const bytesOf = (t: Tensor): Uint8Array => {
  const s = storage(detach(t));
  return new Uint8Array(s.buffer, s.byteOffset, s.byteLength).slice();
};
