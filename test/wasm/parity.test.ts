/**
 * Parity of the WebAssembly backend with the reference kernels: matmul in all four transposed
 * forms on random shapes (odd sizes, sizes that cross the MR/NR tiles and the KC/MC/NC cache
 * blocks), with batches and arbitrary batch offsets, within float32 accumulation tolerance; the
 * element-wise kernels bit for bit; and the explicit hand-overs to the reference (float64, int32,
 * other ops, other broadcasts), which must be bit-identical and counted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BinaryOp, MatmulSpec } from '../../src/backend/backend.js';
import { reference } from '../../src/backend/reference.js';
import { KC, MC, NC, createWasmBackend, relaxedSimdSupported, wasmSimdSupported } from '../../src/accel/wasm/index.js';
import { enableRelaxedSimd } from '../../src/accel/wasm/relaxed-simd.js';
import { MR, NR } from '../../src/accel/wasm/kernels.js';
import type { TypedArray } from '../../src/core/dtype.js';
import { tensor } from '../../src/tensor/tensor.js';
import { add, matmul, matmulT } from '../../src/ops/index.js';
import { uniform as randF32 } from './data.js';

// This file runs in its own process (vitest pool: forks): turn relaxed SIMD on, as bin/trm.js
// does, so that both builds of the product are checked where the engine has it.
enableRelaxedSimd();
/** The builds of the product this runtime has: mul + add always, relaxed_madd where supported. */
const BUILDS: readonly boolean[] = wasmSimdSupported() ? [false, ...(relaxedSimdSupported() ? [true] : [])] : [];

const absOf = (x: Float32Array): Float32Array => x.map(Math.abs);

/**
 * |wasm − reference| ≤ (k + 2)·2⁻²³·Σₚ|a||b| elementwise: the standard bound for a float32
 * dot product of length k (the reference is the correctly rounded double result).
 */
const expectMatmulClose = (a: Float32Array, b: Float32Array, spec: MatmulSpec, got: TypedArray): void => {
  const want = reference.matmul(a, b, spec);
  const bound = reference.matmul(absOf(a), absOf(b), spec);
  expect(got).toBeInstanceOf(Float32Array);
  expect(got.length).toBe(want.length);
  const tol = (spec.k + 2) * 2 ** -23;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tol * bound[i]! + 1e-30)) {
      const { m, k, n, transA, transB } = spec;
      throw new Error(
        `matmul m=${m} k=${k} n=${n} transA=${transA} transB=${transB} batch=${spec.aOffsets.length}: ` +
          `index ${i}: got ${got[i]}, want ${want[i]} (err ${err}, allowed ${tol * bound[i]!})`,
      );
    }
  }
};

const expectExact = (got: TypedArray, want: TypedArray): void => {
  expect(got.constructor).toBe(want.constructor);
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) throw new Error(`index ${i}: got ${got[i]}, want ${want[i]}`);
  }
};

const forms: readonly (readonly [boolean, boolean])[] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

describe.each(BUILDS)('wasm backend: matmul (fma %s)', (fma) => {
  it('reports its build', () => {
    expect(createWasmBackend({ fma }).stats().fma).toBe(fma);
  });

  it('matches the reference on random shapes, batches, offsets and all four transposed forms', () => {
    const be = createWasmBackend({ minMatmulFlops: 0, fma });
    const arb = fc.record({
      m: fc.integer({ min: 1, max: 37 }),
      k: fc.integer({ min: 1, max: 41 }),
      n: fc.integer({ min: 1, max: 43 }),
      batch: fc.integer({ min: 1, max: 3 }),
      padA: fc.integer({ min: 0, max: 9 }),
      padB: fc.integer({ min: 0, max: 9 }),
      broadcastB: fc.boolean(),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
      form: fc.constantFrom(...forms),
    });
    fc.assert(
      fc.property(arb, ({ m, k, n, batch, padA, padB, broadcastB, seed, form: [transA, transB] }) => {
        // Matrices sit at arbitrary offsets inside larger buffers; B may be shared by every batch.
        const aOffsets = Array.from({ length: batch }, (_, i) => padA + i * (m * k + padA));
        const bOffsets = Array.from({ length: batch }, (_, i) => (broadcastB ? padB : padB + i * (k * n + padB)));
        const a = randF32(aOffsets[batch - 1]! + m * k + padA, seed);
        const b = randF32(bOffsets[batch - 1]! + k * n + padB, seed + 1);
        const spec: MatmulSpec = { m, k, n, transA, transB, aOffsets, bOffsets };
        expectMatmulClose(a, b, spec, be.matmul(a, b, spec));
      }),
      { numRuns: 300 },
    );
    expect(be.stats().wasm.matmul).toBe(300);
    expect(be.stats().delegated).toEqual({});
  });

  it('crosses the register tile and every cache block (KC, MC, NC) in all four forms', () => {
    const be = createWasmBackend({ fma });
    const shapes: readonly (readonly [number, number, number])[] = [
      [MR * 3 + 1, KC + 3, NR * 2 + 5],
      [MC + MR + 2, 2 * KC + 1, 17],
      [9, 11, NC + NR + 3],
      [MC + 1, KC + 1, NC + 1],
    ];
    for (const [m, k, n] of shapes) {
      for (const [transA, transB] of forms) {
        const a = randF32(m * k, m * 7 + k);
        const b = randF32(k * n, n * 13 + k);
        const spec: MatmulSpec = { m, k, n, transA, transB, aOffsets: [0], bOffsets: [0] };
        expectMatmulClose(a, b, spec, be.matmul(a, b, spec));
      }
    }
    expect(be.stats().wasm.matmul).toBe(shapes.length * 4);
  });

  it('gives empty and all-zero results for zero-sized dimensions', () => {
    const be = createWasmBackend({ minMatmulFlops: 0 });
    const z = be.matmul(new Float32Array(0), new Float32Array(0), {
      m: 2,
      k: 0,
      n: 3,
      transA: false,
      transB: false,
      aOffsets: [0],
      bOffsets: [0],
    });
    expectExact(z, new Float32Array(6));
    const e = be.matmul(new Float32Array(0), new Float32Array(6), {
      m: 0,
      k: 2,
      n: 3,
      transA: false,
      transB: false,
      aOffsets: [0],
      bOffsets: [0],
    });
    expectExact(e, new Float32Array(0));
  });

  it('hands float64 and int32 to the reference kernel, bit for bit, and says so', () => {
    const be = createWasmBackend({ minMatmulFlops: 0 });
    const spec: MatmulSpec = { m: 5, k: 6, n: 7, transA: true, transB: false, aOffsets: [0], bOffsets: [0] };
    const a64 = Float64Array.from(randF32(30, 3));
    const b64 = Float64Array.from(randF32(42, 4));
    expectExact(be.matmul(a64, b64, spec), reference.matmul(a64, b64, spec));
    const ai = Int32Array.from({ length: 30 }, (_, i) => (i % 7) - 3);
    const bi = Int32Array.from({ length: 42 }, (_, i) => (i % 5) - 2);
    expectExact(be.matmul(ai, bi, spec), reference.matmul(ai, bi, spec));
    expect(be.stats().delegated).toEqual({ 'matmul:dtype': 2 });
    expect(be.stats().wasm.matmul).toBeUndefined();
  });

  it('sends tiny products to the reference below minMatmulFlops', () => {
    const be = createWasmBackend({ minMatmulFlops: 1000 });
    const spec: MatmulSpec = { m: 3, k: 3, n: 3, transA: false, transB: false, aOffsets: [0], bOffsets: [0] };
    const a = randF32(9, 5);
    expectExact(be.matmul(a, a, spec), reference.matmul(a, a, spec));
    expect(be.stats().delegated).toEqual({ 'matmul:small': 1 });
  });
});

describe.runIf(wasmSimdSupported())('wasm backend: element-wise', () => {
  const ops: readonly BinaryOp[] = ['add', 'sub', 'mul', 'div'];
  const layouts: readonly { name: string; a: number[]; b: number[]; out: number[]; kernel: boolean }[] = [
    { name: 'equal shapes', a: [7, 13], b: [7, 13], out: [7, 13], kernel: true },
    { name: 'vector ∘ scalar', a: [5, 9], b: [], out: [5, 9], kernel: true },
    { name: 'scalar ∘ vector', a: [1, 1], b: [3, 11], out: [3, 11], kernel: true },
    { name: 'trailing broadcast (bias)', a: [4, 3, 10], b: [10], out: [4, 3, 10], kernel: true },
    { name: 'trailing broadcast, leading ones', a: [2, 5, 7], b: [1, 5, 7], out: [2, 5, 7], kernel: true },
    { name: 'column broadcast', a: [6, 9], b: [6, 1], out: [6, 9], kernel: true },
    { name: 'column broadcast, missing leading axes', a: [1, 3, 4, 9], b: [3, 4, 1], out: [1, 3, 4, 9], kernel: true },
    { name: 'both broadcast', a: [6, 1], b: [1, 9], out: [6, 9], kernel: false },
  ];

  for (const { name, a: aS, b: bS, out, kernel } of layouts) {
    it(`matches the reference bit for bit: ${name}`, () => {
      const be = createWasmBackend({ minElements: 0 });
      const sz = (s: readonly number[]): number => s.reduce((x, y) => x * y, 1);
      const a = randF32(sz(aS), 11, -3, 3);
      const b = randF32(sz(bS), 12, -3, 3);
      b[0] = 0; // division by zero gives ±Infinity/NaN in both
      for (const op of ops) {
        expectExact(be.binary(op, a, aS, b, bS, out), reference.binary(op, a, aS, b, bS, out));
        // The mirrored layout (a broadcast, b full).
        expectExact(be.binary(op, b, bS, a, aS, out), reference.binary(op, b, bS, a, aS, out));
      }
      // Both the layout and its mirror run in WebAssembly.
      if (kernel) expect(be.stats().wasm.binary).toBe(2 * ops.length);
      else expect(be.stats().wasm.binary).toBeUndefined();
    });
  }

  it('counts what it computes and what it hands over', () => {
    const be = createWasmBackend({ minElements: 0 });
    const a = randF32(12, 1);
    be.binary('add', a, [3, 4], a, [3, 4], [3, 4]);
    be.binary('sub', randF32(3, 2), [3, 1], randF32(4, 3), [1, 4], [3, 4]);
    be.binary('maximum', a, [3, 4], a, [3, 4], [3, 4]);
    be.binary('add', Float64Array.from(a), [3, 4], Float64Array.from(a), [3, 4], [3, 4]);
    be.unary('sin', a);
    be.unary('exp', a);
    expect(be.stats().wasm).toEqual({ binary: 1, unary: 1 });
    expect(be.stats().delegated).toEqual({
      'binary:broadcast': 1,
      'binary:op': 1,
      'binary:dtype': 1,
      'unary:op': 1,
    });
  });
});

describe.runIf(wasmSimdSupported())('wasm backend: purity and lifecycle', () => {
  it('never writes its inputs and returns fresh arrays that later calls do not touch', () => {
    const be = createWasmBackend({ minMatmulFlops: 0, minElements: 0 });
    const a = randF32(64 * 48, 21);
    const b = randF32(48 * 32, 22);
    const a0 = a.slice();
    const b0 = b.slice();
    const spec: MatmulSpec = { m: 64, k: 48, n: 32, transA: false, transB: false, aOffsets: [0], bOffsets: [0] };
    const first = be.matmul(a, b, spec);
    const firstCopy = first.slice();
    // A much larger call grows the memory and reuses the same regions.
    const big = randF32(300 * 300, 23);
    be.matmul(big, big, { m: 300, k: 300, n: 300, transA: true, transB: false, aOffsets: [0], bOffsets: [0] });
    be.binary('mul', big, [300, 300], big, [300, 300], [300, 300]);
    expectExact(first, firstCopy);
    expectExact(a, a0);
    expectExact(b, b0);
    expectExact(be.matmul(a, b, spec), firstCopy);
    expect(be.stats().memoryBytes).toBeGreaterThan(300 * 300 * 4 * 3);
  });

  it('refuses work after close()', () => {
    const be = createWasmBackend();
    be.close();
    expect(() =>
      be.matmul(new Float32Array(4), new Float32Array(4), {
        m: 2,
        k: 2,
        n: 2,
        transA: false,
        transB: false,
        aOffsets: [0],
        bOffsets: [0],
      }),
    ).toThrow(/closed/);
    expect(() => be.unary('neg', new Float32Array(1))).toThrow(/closed/);
  });

  it('runs the op layer unchanged: tensors on the wasm backend give the reference results', () => {
    const be = createWasmBackend({ minMatmulFlops: 0, minElements: 0 });
    const av = randF32(2 * 9 * 20, 31);
    const bv = randF32(20 * 15, 32);
    const bias = randF32(15, 33);
    const onWasm = add(
      matmul(tensor(av, [2, 9, 20], { backend: be }), tensor(bv, [20, 15], { backend: be })),
      tensor(bias, [15], { backend: be }),
    );
    const onRef = add(matmul(tensor(av, [2, 9, 20]), tensor(bv, [20, 15])), tensor(bias, [15]));
    expect(onWasm.backend).toBe(be);
    expect(onWasm.shape).toEqual([2, 9, 15]);
    const w = onWasm.data;
    const r = onRef.data;
    for (let i = 0; i < r.length; i++) expect(Math.abs(w[i]! - r[i]!)).toBeLessThan(1e-5);
    const t = matmulT(tensor(bv, [20, 15], { backend: be }), tensor(bv, [20, 15], { backend: be }), true, false);
    expect(t.shape).toEqual([15, 15]);
    expect(be.stats().wasm.matmul).toBe(2);
  });
});
