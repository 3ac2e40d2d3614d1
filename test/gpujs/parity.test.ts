/**
 * Parity of the gpu.js backend with the reference kernels, on every mode in TRM_GPUJS_MODE
 * (default: gpu.js's CPU and WebAssembly kernels): random shapes with odd sizes, broadcasting,
 * transposed and batched matmuls with broadcast batch offsets, and the hand-overs to the
 * reference (float64, int32, non-finite values, movement ops), which must be bit-identical.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BinaryOp, MatmulSpec, UnaryOp } from '../../src/backend/backend.js';
import { type GpuJsBackend, createGpuJsBackend } from '../../src/accel/gpujs/index.js';
import { reference } from '../../src/backend/reference.js';
import {
  broadcast,
  broadcastableTo,
  expectClose,
  expectExact,
  expectedClass,
  maxAbs,
  modes,
  prng,
  randF32,
  rtolFor,
  runs,
  shapeArb,
  size,
} from './helpers.js';

const unaryDomains: Record<UnaryOp, [number, number]> = {
  neg: [-4, 4],
  exp: [-10, 10],
  log: [0.01, 50],
  sqrt: [0, 50],
  rsqrt: [0.01, 50],
  sigmoid: [-20, 20],
  silu: [-20, 20],
  abs: [-4, 4],
  sign: [-2, 2],
  sin: [-10, 10],
  cos: [-10, 10],
};

const arithmetic: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'atan2'];
const comparisons: readonly BinaryOp[] = ['eq', 'ne', 'lt', 'le', 'gt', 'ge'];

describe.each(modes)('gpu.js backend, mode %s', (mode) => {
  let be: GpuJsBackend;
  const rtol = rtolFor(mode);

  beforeAll(() => {
    be = createGpuJsBackend({ mode });
  });
  afterAll(() => be.close());

  /** Everything below runs on gpu.js, on the class it reports, with no hand-over. */
  const expectOnGpuJs = (op: string, before: number): void => {
    const s = be.stats();
    expect(s.gpujs[op] ?? 0, `${op} ran on gpu.js`).toBeGreaterThan(before);
  };

  it('reports the kernel class gpu.js chose', () => {
    const want = expectedClass[mode];
    if (want !== null) expect(be.kernelClass).toBe(want);
    expect(be.name).toBe(`gpujs:${be.kernelClass}`);
    expect(be.onGpu).toBe(['HeadlessGLKernel', 'WebGLKernel', 'WebGL2Kernel', 'WebGPUKernel'].includes(be.kernelClass));
  });

  it.each(Object.keys(unaryDomains) as UnaryOp[])('unary %s', (op) => {
    const [lo, hi] = unaryDomains[op];
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer(), (n, seed) => {
        const x = randF32(prng(seed), n, lo, hi, op === 'sign' ? 8 : undefined);
        const before = be.stats().gpujs[op] ?? 0;
        const got = be.unary(op, x);
        expect(got).toBeInstanceOf(Float32Array);
        expectClose(got, reference.unary(op, x), rtol, undefined, `${op} n=${n}`);
        expectOnGpuJs(op, before);
      }),
      { numRuns: 8 },
    );
  });

  it.each([...arithmetic, ...comparisons])('binary %s with broadcasting', (op) => {
    fc.assert(
      fc.property(
        shapeArb(0, 5).chain((out) => fc.tuple(broadcastableTo(out), broadcastableTo(out))),
        fc.integer(),
        ([aS, bS], seed) => {
          const outS = broadcast(aS, bS);
          const rand = prng(seed);
          const cmp = comparisons.includes(op);
          // Comparisons on a coarse grid, so that equal values occur.
          const a = randF32(rand, size(aS), -2, 2, cmp ? 5 : undefined);
          const b =
            op === 'div' ? randF32(rand, size(bS), 0.5, 3) : randF32(rand, size(bS), -2, 2, cmp ? 5 : undefined);
          const before = be.stats().gpujs[op] ?? 0;
          const got = be.binary(op, a, aS, b, bS, outS);
          const want = reference.binary(op, a, aS, b, bS, outS);
          expect(got).toBeInstanceOf(Float32Array);
          if (cmp) expectExact(got, want, `${op} ${JSON.stringify([aS, bS])}`);
          else expectClose(got, want, rtol, undefined, `${op} ${JSON.stringify([aS, bS])}`);
          if (size(outS) > 0) expectOnGpuJs(op, before);
        },
      ),
      runs,
    );
  });

  it('binary and where on layouts that stay 4–5 axes after collapsing (z split in the kernel)', () => {
    const cases: [number[], number[]][] = [
      [
        [3, 1, 5, 1],
        [1, 4, 1, 2],
      ],
      [
        [2, 1, 3, 1, 5],
        [1, 3, 1, 4, 1],
      ],
      [
        [5, 1, 3, 1, 2],
        [5, 7, 1, 2, 1],
      ],
      [
        [1, 6, 1, 3],
        [4, 1, 5, 1],
      ],
    ];
    const rand = prng(11);
    for (const [aS, bS] of cases) {
      const outS = broadcast(aS, bS);
      const a = randF32(rand, size(aS));
      const b = randF32(rand, size(bS));
      for (const op of ['sub', 'atan2'] as const) {
        expectClose(
          be.binary(op, a, aS, b, bS, outS),
          reference.binary(op, a, aS, b, bS, outS),
          rtol,
          undefined,
          `${op} ${JSON.stringify([aS, bS])}`,
        );
      }
      const c = randF32(rand, size(bS), -1, 2, 3);
      expectExact(
        be.where(c, bS, a, aS, b, bS, outS),
        reference.where(c, bS, a, aS, b, bS, outS),
        `where ${JSON.stringify([aS, bS])}`,
      );
    }
    expect(be.stats().delegated).toEqual({});
  });

  it('where with broadcasting, float32 and int32 conditions', () => {
    fc.assert(
      fc.property(
        shapeArb(0, 5).chain((out) => fc.tuple(broadcastableTo(out), broadcastableTo(out), broadcastableTo(out))),
        fc.boolean(),
        fc.integer(),
        ([cS, aS, bS], intCond, seed) => {
          const outS = broadcast(cS, aS, bS);
          const rand = prng(seed);
          const c0 = randF32(rand, size(cS), -1, 2, 3); // −1, 0, 1: nonzero either sign is true
          const c = intCond ? Int32Array.from(c0) : c0;
          const a = randF32(rand, size(aS));
          const b = randF32(rand, size(bS));
          const before = be.stats().gpujs['where'] ?? 0;
          const got = be.where(c, cS, a, aS, b, bS, outS);
          expectExact(got, reference.where(c, cS, a, aS, b, bS, outS), JSON.stringify([cS, aS, bS]));
          expectOnGpuJs('where', before);
        },
      ),
      runs,
    );
  });

  it('reduce sum and max, argmax (first of ties) over [outer, n, inner]', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        (outer, n, inner, seed) => {
          const x = randF32(prng(seed), outer * n * inner, -3, 3);
          const sum = be.reduce('sum', x, outer, n, inner);
          expectClose(sum, reference.reduce('sum', x, outer, n, inner), rtol * n, maxAbs(x), 'sum');
          expectExact(be.reduce('max', x, outer, n, inner), reference.reduce('max', x, outer, n, inner), 'max');
          const g = randF32(prng(seed + 1), outer * n * inner, -3, 3, 4); // ties
          expectExact(be.argmax(g, outer, n, inner), reference.argmax(g, outer, n, inner), 'argmax');
          expect(be.argmax(g, outer, n, inner)).toBeInstanceOf(Int32Array);
        },
      ),
      runs,
    );
    const s = be.stats();
    expect(s.delegated).toEqual({});
    expect(s.gpujs['sum']).toBeGreaterThan(0);
    expect(s.gpujs['argmax']).toBeGreaterThan(0);
  });

  it('matmul in all four transposed forms, batched, with broadcast batch offsets', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 21 }),
        fc.integer({ min: 1, max: 37 }),
        fc.integer({ min: 1, max: 21 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom('both', 'a', 'b'),
        fc.integer(),
        (m, k, n, transA, transB, batch, batched, seed) => {
          const aBatch = batched === 'b' ? 1 : batch;
          const bBatch = batched === 'a' ? 1 : batch;
          const rand = prng(seed);
          const a = randF32(rand, aBatch * m * k);
          const b = randF32(rand, bBatch * k * n);
          const spec: MatmulSpec = {
            m,
            k,
            n,
            transA,
            transB,
            aOffsets: Array.from({ length: batch }, (_, i) => (aBatch === 1 ? 0 : i * m * k)),
            bOffsets: Array.from({ length: batch }, (_, i) => (bBatch === 1 ? 0 : i * k * n)),
          };
          const before = be.stats().gpujs['matmul'] ?? 0;
          const got = be.matmul(a, b, spec);
          expect(got).toBeInstanceOf(Float32Array);
          expectClose(
            got,
            reference.matmul(a, b, spec),
            rtol * k,
            maxAbs(a) * maxAbs(b),
            JSON.stringify({ m, k, n, transA, transB, batch, batched }),
          );
          expectOnGpuJs('matmul', before);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('loops longer than gpu.js’s default 1000 iterations are not cut', () => {
    const rand = prng(7);
    const k = 2500;
    const a = randF32(rand, 3 * k);
    const b = randF32(rand, k * 2);
    const spec: MatmulSpec = { m: 3, k, n: 2, transA: false, transB: false, aOffsets: [0], bOffsets: [0] };
    expectClose(be.matmul(a, b, spec), reference.matmul(a, b, spec), rtol * k, 1, 'matmul k=2500');
    const x = randF32(rand, 2 * 3000);
    expectClose(be.reduce('sum', x, 2, 3000, 1), reference.reduce('sum', x, 2, 3000, 1), rtol * 3000, 2, 'sum n=3000');
    expectExact(be.argmax(x, 1, 3000, 2), reference.argmax(x, 1, 3000, 2), 'argmax n=3000');
    // One destination row receiving 1500 rows.
    const ids = Int32Array.from({ length: 1600 }, (_, i) => (i < 1500 ? 3 : i % 5));
    const v = randF32(rand, 1600 * 3);
    expectClose(
      be.scatterAdd(v, ids, 5, 3),
      reference.scatterAdd(v, ids, 5, 3),
      rtol * 1500,
      2,
      'scatterAdd count=1500',
    );
    expect(be.stats().delegated).toEqual({});
  });

  it('gather and scatterAdd with repeated ids and odd sizes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 19 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer(),
        (rows, cols, nIds, seed) => {
          const rand = prng(seed);
          const table = randF32(rand, rows * cols);
          const ids = Int32Array.from({ length: nIds }, () => Math.floor(rand() * rows));
          expectExact(be.gather(table, rows, cols, ids), reference.gather(table, rows, cols, ids), 'gather');
          const values = randF32(rand, nIds * cols);
          expectClose(
            be.scatterAdd(values, ids, rows, cols),
            reference.scatterAdd(values, ids, rows, cols),
            rtol * nIds,
            2,
            'scatterAdd',
          );
        },
      ),
      runs,
    );
    const s = be.stats();
    expect(s.gpujs['gather']).toBeGreaterThan(0);
    expect(s.gpujs['scatterAdd']).toBeGreaterThan(0);
  });

  it('every gpu.js call ran on the reported kernel class', () => {
    expect(Object.keys(be.stats().ranOn)).toEqual([be.kernelClass]);
  });
});

describe.each(modes)('gpu.js backend, mode %s: hand-overs to the reference are bit-identical', (mode) => {
  let be: GpuJsBackend;
  beforeAll(() => {
    be = createGpuJsBackend({ mode });
  });
  afterAll(() => be.close());

  const bytes = (
    x: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number },
  ): number[] => Array.from(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));

  it('float64 data never runs on gpu.js (single precision)', () => {
    const rand = prng(1);
    const a = Float64Array.from({ length: 12 }, () => rand() - 0.5);
    const b = Float64Array.from({ length: 4 }, () => rand() - 0.5);
    const got = be.binary('mul', a, [3, 4], b, [4], [3, 4]);
    expect(got).toBeInstanceOf(Float64Array);
    expect(bytes(got)).toEqual(bytes(reference.binary('mul', a, [3, 4], b, [4], [3, 4])));
    const spec: MatmulSpec = { m: 3, k: 4, n: 1, transA: false, transB: false, aOffsets: [0], bOffsets: [0] };
    expect(bytes(be.matmul(a, b, spec))).toEqual(bytes(reference.matmul(a, b, spec)));
    expect(bytes(be.unary('exp', a))).toEqual(bytes(reference.unary('exp', a)));
    expect(bytes(be.reduce('sum', a, 3, 4, 1))).toEqual(bytes(reference.reduce('sum', a, 3, 4, 1)));
    const s = be.stats();
    expect(s.delegated['mul:dtype']).toBe(1);
    expect(s.delegated['matmul:dtype']).toBe(1);
    expect(s.gpujs).toEqual({});
  });

  it('int32 data goes to the reference', () => {
    const a = Int32Array.from([1, 2, 3, 4, 5, 6]);
    const b = Int32Array.from([3]);
    expectExact(be.binary('eq', a, [6], b, [], [6]), [0, 0, 1, 0, 0, 0]);
    expect(be.binary('eq', a, [6], b, [], [6])).toBeInstanceOf(Int32Array);
    expectExact(be.argmax(a, 2, 3, 1), [2, 2]);
    expect(be.stats().delegated['eq:dtype']).toBe(2);
  });

  it('non-finite inputs and values outside an op’s safe domain go to the reference', () => {
    const x = Float32Array.from([1, Number.NaN, -Infinity, 2]);
    const check = (got: ArrayLike<number>, want: ArrayLike<number>): void => {
      expect(Array.from(got).map(String)).toEqual(Array.from(want).map(String));
    };
    check(be.unary('exp', x), reference.unary('exp', x));
    check(be.reduce('max', x, 1, 4, 1), reference.reduce('max', x, 1, 4, 1));
    const neg = Float32Array.from([-1, 0, 4, 1e-40]);
    check(be.unary('log', neg), reference.unary('log', neg));
    check(be.unary('rsqrt', neg), reference.unary('rsqrt', neg));
    check(be.unary('exp', Float32Array.from([100])), reference.unary('exp', Float32Array.from([100])));
    const z = Float32Array.from([0, 2]);
    check(be.binary('div', z, [2], z, [2], [2]), reference.binary('div', z, [2], z, [2], [2]));
    check(be.binary('atan2', z, [2], z, [2], [2]), reference.binary('atan2', z, [2], z, [2], [2]));
    const d = be.stats().delegated;
    expect(d['exp:nonfinite']).toBe(1);
    expect(d['max:nonfinite']).toBe(1);
    expect(d['log:domain']).toBe(1);
    expect(d['rsqrt:domain']).toBe(1);
    expect(d['exp:domain']).toBe(1);
    expect(d['div:domain']).toBe(1);
    expect(d['atan2:domain']).toBe(1);
  });

  it('out-of-range gather ids go to the reference; scatterAdd drops them as the reference does', () => {
    const table = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const ids = Int32Array.from([0, 5, -1, 2]);
    const show = (x: ArrayLike<number>): string[] => Array.from(x).map(String);
    expect(show(be.gather(table, 3, 2, ids))).toEqual(show(reference.gather(table, 3, 2, ids)));
    expect(be.stats().delegated['gather:bounds']).toBe(1);
    const v = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    expectExact(be.scatterAdd(v, ids, 3, 2), reference.scatterAdd(v, ids, 3, 2));
    expect(be.stats().gpujs['scatterAdd']).toBe(1);
  });

  it('movement ops and casts are the reference kernels', () => {
    const rand = prng(3);
    const x = randF32(rand, 24);
    expectExact(be.permute(x, [2, 3, 4], [2, 0, 1]), reference.permute(x, [2, 3, 4], [2, 0, 1]));
    expectExact(be.slice(x, [2, 3, 4], [0, 1, 1], [2, 2, 2]), reference.slice(x, [2, 3, 4], [0, 1, 1], [2, 2, 2]));
    expectExact(be.pad(x, [2, 3, 4], [1, 0, 2], [4, 3, 7], -1), reference.pad(x, [2, 3, 4], [1, 0, 2], [4, 3, 7], -1));
    const parts = [
      { data: x, shape: [2, 3, 4] },
      { data: x.subarray(0, 8), shape: [2, 1, 4] },
    ];
    expectExact(be.concat(parts, 1, [2, 4, 4]), reference.concat(parts, 1, [2, 4, 4]));
    expect(be.cast(x, 'float64')).toBeInstanceOf(Float64Array);
    expectExact(be.cast(x, 'int32'), reference.cast(x, 'int32'));
    const d = be.stats().delegated;
    for (const op of ['permute', 'slice', 'pad', 'concat']) expect(d[`${op}:movement`]).toBe(1);
    expect(d['cast:movement']).toBe(2);
  });

  it('empty results need no kernel', () => {
    expect(be.unary('exp', new Float32Array(0)).length).toBe(0);
    expect(be.binary('add', new Float32Array(0), [0, 3], new Float32Array(3), [3], [0, 3]).length).toBe(0);
    const spec: MatmulSpec = { m: 2, k: 0, n: 3, transA: false, transB: false, aOffsets: [0], bOffsets: [0] };
    expectExact(be.matmul(new Float32Array(0), new Float32Array(0), spec), [0, 0, 0, 0, 0, 0]);
    expectExact(be.reduce('sum', new Float32Array(0), 2, 0, 1), [0, 0]);
  });
});
