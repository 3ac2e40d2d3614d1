/**
 * Parity of the tuned plain-JS backend (src/accel/js) with the reference, the definition of every
 * kernel. Both compute in doubles, sum in index order and round once when storing, so they must
 * agree bit for bit, on every kernel: random shapes (empty axes, broadcasts, transposed products,
 * batches with arbitrary offsets), float32 and float64, and inputs sprinkled with NaN, ±∞ and ±0.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../../src/accel/js/index.js';
import type { BinaryOp, UnaryOp } from '../../src/backend/backend.js';
import { reference } from '../../src/backend/reference.js';
import type { TypedArray } from '../../src/core/dtype.js';
import { type Shape, size } from '../../src/core/shape.js';
import { uniform } from '../wasm/data.js';

const RUNS = { numRuns: 60, seed: 20261204 };

const expectSame = (got: TypedArray, want: TypedArray, what: string): void => {
  expect(got.constructor, what).toBe(want.constructor);
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`${what}: index ${i}: js ${got[i]}, reference ${want[i]}`);
  }
};

const data = (n: number, seed: number, f64: boolean, lo = -3, hi = 3): TypedArray =>
  f64 ? Float64Array.from(uniform(n, seed, lo, hi), (v, i) => v + i * 1e-9) : uniform(n, seed, lo, hi);

/** The values whose conventions a tuned kernel can get wrong: NaN, ±∞, ±0, ties. */
const SPECIAL = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0, 1, -1] as const;
/** `data` with about one element in four replaced by a special value. */
const withSpecials = (x: TypedArray, seed: number): TypedArray =>
  x.map((v, i) => ((i * 7 + seed) % 4 === 0 ? SPECIAL[(i + seed) % SPECIAL.length]! : v));

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 4 });
/** A shape and a second one that broadcasts against it (axes dropped from the front or set to 1). */
const broadcastPair = shapeArb.chain((s) =>
  fc
    .tuple(fc.integer({ min: 0, max: s.length }), fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }))
    .map(([drop, ones]) => [s, s.map((d, i) => (ones[i] ? 1 : d)).slice(drop)] as const),
);
const UNARY: readonly UnaryOp[] = [
  'neg',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'sigmoid',
  'silu',
  'abs',
  'sign',
  'sin',
  'cos',
];
const BINARY: readonly BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'maximum',
  'minimum',
  'atan2',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
];

describe('js backend = reference, bit for bit', () => {
  it('unary', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...UNARY),
        fc.integer({ min: 0, max: 300 }),
        fc.boolean(),
        fc.nat(),
        (op, n, f64, seed) => {
          const x = data(n, seed, f64, -4, 4);
          expectSame(jsBackend.unary(op, x), reference.unary(op, x), op);
        },
      ),
      RUNS,
    );
  });

  it('binary and where with broadcasting, either way round', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BINARY),
        broadcastPair,
        fc.boolean(),
        fc.boolean(),
        fc.nat(),
        (op, [s, t], swap, f64, seed) => {
          const [as, bs]: [Shape, Shape] = swap ? [t, s] : [s, t];
          const out = s;
          const a = data(size(as), seed, f64);
          const b = data(size(bs), seed + 1, f64);
          expectSame(jsBackend.binary(op, a, as, b, bs, out), reference.binary(op, a, as, b, bs, out), op);
          const c = a.map((v) => (v > 0 ? 1 : 0));
          expectSame(jsBackend.where(c, as, a, as, b, bs, out), reference.where(c, as, a, as, b, bs, out), 'where');
        },
      ),
      RUNS,
    );
  });

  it('matmul in the four transposed forms, batched at arbitrary offsets', () => {
    fc.assert(
      fc.property(
        fc.record({
          m: fc.integer({ min: 0, max: 9 }),
          k: fc.integer({ min: 0, max: 9 }),
          n: fc.integer({ min: 0, max: 9 }),
        }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(5), fc.nat(5)), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        fc.nat(),
        ({ m, k, n }, transA, transB, offs, f64, seed) => {
          const spec = { m, k, n, transA, transB, aOffsets: offs.map(([a]) => a), bOffsets: offs.map(([, b]) => b) };
          const a = data(m * k + 5, seed, f64);
          const b = data(k * n + 5, seed + 1, f64);
          expectSame(jsBackend.matmul(a, b, spec), reference.matmul(a, b, spec), 'matmul');
        },
      ),
      RUNS,
    );
  });

  it('reduce, argmax and the row kernels', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 5 }),
        fc.boolean(),
        fc.nat(),
        (outer, n, inner, f64, seed) => {
          const x = data(outer * n * inner, seed, f64);
          for (const op of ['sum', 'max'] as const)
            expectSame(jsBackend.reduce(op, x, outer, n, inner), reference.reduce(op, x, outer, n, inner), op);
          expectSame(jsBackend.argmax(x, outer, n, inner), reference.argmax(x, outer, n, inner), 'argmax');
          const rows = outer * inner;
          const g = data(rows * n, seed + 2, f64);
          expectSame(jsBackend.rmsNorm(x, rows, n, 1e-5), reference.rmsNorm(x, rows, n, 1e-5), 'rmsNorm');
          expectSame(
            jsBackend.rmsNormGrad(g, x, rows, n, 1e-5),
            reference.rmsNormGrad(g, x, rows, n, 1e-5),
            'rmsNormGrad',
          );
          const h = data(rows * 2 * n, seed + 3, f64);
          expectSame(jsBackend.swiglu(h, rows, n), reference.swiglu(h, rows, n), 'swiglu');
          expectSame(jsBackend.swigluGrad(g, h, rows, n), reference.swigluGrad(g, h, rows, n), 'swigluGrad');
        },
      ),
      RUNS,
    );
  });

  it('NaN, ±∞, ±0 and ties: the maximum/minimum NaN rules, max reduce, first-index argmax, σ, products', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        fc.nat(),
        (outer, n, inner, f64, seed) => {
          const shape = [outer, n, inner];
          const x = withSpecials(data(outer * n * inner, seed, f64), seed);
          const y = withSpecials(data(outer * n * inner, seed + 1, f64), seed + 1);
          for (const op of UNARY) expectSame(jsBackend.unary(op, x), reference.unary(op, x), op);
          for (const op of BINARY)
            expectSame(
              jsBackend.binary(op, x, shape, y, shape, shape),
              reference.binary(op, x, shape, y, shape, shape),
              op,
            );
          for (const op of ['sum', 'max'] as const)
            expectSame(jsBackend.reduce(op, x, outer, n, inner), reference.reduce(op, x, outer, n, inner), op);
          expectSame(jsBackend.argmax(x, outer, n, inner), reference.argmax(x, outer, n, inner), 'argmax');
          const spec = {
            m: outer,
            k: n,
            n: inner,
            transA: seed % 2 === 0,
            transB: seed % 3 === 0,
            aOffsets: [0],
            bOffsets: [0],
          };
          expectSame(jsBackend.matmul(x, y, spec), reference.matmul(x, y, spec), 'matmul');
          const rows = outer * inner;
          expectSame(jsBackend.rmsNorm(x, rows, n, 1e-5), reference.rmsNorm(x, rows, n, 1e-5), 'rmsNorm');
          const g = withSpecials(data(rows * n, seed + 2, f64), seed + 2);
          expectSame(
            jsBackend.rmsNormGrad(g, x, rows, n, 1e-5),
            reference.rmsNormGrad(g, x, rows, n, 1e-5),
            'rmsNormGrad',
          );
          const h = withSpecials(data(rows * 2 * n, seed + 3, f64), seed + 3);
          expectSame(jsBackend.swiglu(h, rows, n), reference.swiglu(h, rows, n), 'swiglu');
          expectSame(jsBackend.swigluGrad(g, h, rows, n), reference.swigluGrad(g, h, rows, n), 'swigluGrad');
        },
      ),
      RUNS,
    );
  });

  it('permute, slice, pad, concat, gather, scatterAdd and cast', () => {
    fc.assert(
      fc.property(shapeArb, fc.boolean(), fc.nat(), (shape, f64, seed) => {
        const x = data(size(shape), seed, f64);
        const rank = shape.length;
        const perm = [...Array(rank).keys()].sort((p, q) => ((p * 7 + seed) % 5) - ((q * 7 + seed) % 5) || p - q);
        expectSame(jsBackend.permute(x, shape, perm), reference.permute(x, shape, perm), 'permute');
        if (rank >= 2) {
          const swap = [...Array(rank).keys()].map((i) => (i === rank - 2 ? rank - 1 : i === rank - 1 ? rank - 2 : i));
          expectSame(jsBackend.permute(x, shape, swap), reference.permute(x, shape, swap), 'transpose');
        }
        const starts = shape.map((d) => Math.min(d, seed % 2));
        const sizes = shape.map((d, i) => d - starts[i]!);
        expectSame(jsBackend.slice(x, shape, starts, sizes), reference.slice(x, shape, starts, sizes), 'slice');
        const before = shape.map((_, i) => (seed + i) % 2);
        const outShape = shape.map((d, i) => d + before[i]! + 1);
        expectSame(jsBackend.pad(x, shape, before, outShape, -2), reference.pad(x, shape, before, outShape, -2), 'pad');
        if (rank >= 1) {
          const axis = seed % rank;
          const other = shape.map((d, i) => (i === axis ? 2 : d));
          const y = data(size(other), seed + 1, f64);
          const cat = shape.map((d, i) => (i === axis ? d + 2 : d));
          const parts = [
            { data: x, shape },
            { data: y, shape: other },
          ];
          expectSame(jsBackend.concat(parts, axis, cat), reference.concat(parts, axis, cat), 'concat');
        }
        const cols = 3;
        const rows = 4;
        const table = data(rows * cols, seed + 4, f64);
        const ids = Int32Array.from({ length: size(shape) % 7 }, (_, i) => (seed + i * 3) % rows);
        expectSame(jsBackend.gather(table, rows, cols, ids), reference.gather(table, rows, cols, ids), 'gather');
        const vals = data(ids.length * cols, seed + 5, f64);
        expectSame(
          jsBackend.scatterAdd(vals, ids, rows, cols),
          reference.scatterAdd(vals, ids, rows, cols),
          'scatterAdd',
        );
        for (const dt of ['float32', 'float64', 'int32'] as const)
          expectSame(jsBackend.cast(x, dt), reference.cast(x, dt), `cast ${dt}`);
      }),
      RUNS,
    );
  });
});
