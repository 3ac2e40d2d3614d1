/**
 * The WebAssembly unary kernels against the reference, and the chunked streaming of element-wise
 * work through WebAssembly memory.
 *
 * exp, sigmoid, silu and rsqrt are float32 computations (a polynomial for exp) and are checked by
 * their distance in float32 ulps from the reference (the correctly rounded double result) over
 * millions of values: uniform on [−100, 100], random bit patterns (every exponent, subnormals,
 * infinities, NaNs), dense sweeps across the overflow / underflow / subnormal edges, and special
 * values. A NaN must give NaN. neg, abs and sqrt are bit-identical.
 */
import { describe, expect, it } from 'vitest';
import type { BinaryOp, UnaryOp } from '../../src/backend/backend.js';
import { reference } from '../../src/backend/reference.js';
import { createWasmBackend, wasmSimdSupported } from '../../src/accel/wasm/index.js';
import type { TypedArray } from '../../src/core/dtype.js';

/** xorshift32 stream of uint32. */
const stream = (seed: number): (() => number) => {
  let s = seed | 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
};

const uniform = (n: number, seed: number, lo: number, hi: number): Float32Array => {
  const next = stream(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (next() / 2 ** 32) * (hi - lo);
  return out;
};

/** Random float32 bit patterns: every sign and exponent, subnormals, ±Inf and NaNs. */
const randomBits = (n: number, seed: number): Float32Array => {
  const next = stream(seed);
  const bits = new Uint32Array(n);
  for (let i = 0; i < n; i++) bits[i] = next();
  return new Float32Array(bits.buffer);
};

/** Every float32 in [lo, hi] (lo, hi of equal sign), thinned to at most `max` by a stride. */
const sweep = (lo: number, hi: number, max: number): Float32Array => {
  const f = new Float32Array([lo, hi]);
  const u = new Int32Array(f.buffer);
  const [a, b] = u[0]! < u[1]! ? [u[0]!, u[1]!] : [u[1]!, u[0]!];
  const step = Math.max(1, Math.ceil((b - a + 1) / max));
  const out = new Int32Array(Math.floor((b - a) / step) + 1);
  for (let i = 0; i < out.length; i++) out[i] = a + i * step;
  return new Float32Array(out.buffer);
};

const SPECIALS = new Float32Array([
  0,
  -0,
  1,
  -1,
  0.5,
  -0.5,
  Infinity,
  -Infinity,
  NaN,
  -NaN,
  1e-45,
  -1e-45,
  1.1754942e-38,
  -1.1754942e-38,
  1.17549435e-38,
  -1.17549435e-38,
  3.4028235e38,
  -3.4028235e38,
  88.72283,
  88.72284,
  88.7229,
  89,
  89.1,
  100,
  1e10,
  -1e10,
  -87.33654,
  -87.3366,
  -103.27893,
  -103.972,
  -103.973,
  -104,
  -109.4,
  -109.5,
  -110,
  -120,
  -120.5,
  -200,
  -1e30,
  1e-7,
  -1e-7,
  2 ** -24,
  -(2 ** -24),
  0.34657359,
  -0.34657359,
  0.6931472,
  -0.6931472,
]);

/** Position of a float32 on the number line, counted in ulps (−0 and +0 coincide). */
const f32Cell = new Float32Array(1);
const i32Cell = new Int32Array(f32Cell.buffer);
const ordinal = (x: number): number => {
  f32Cell[0] = x;
  const i = i32Cell[0]!;
  return i < 0 ? -(i & 0x7fffffff) : i;
};

/** Max ulp distance between got and want; throws on a NaN mismatch. */
const maxUlps = (xs: Float32Array, got: TypedArray, want: TypedArray, op: string): number => {
  expect(got).toBeInstanceOf(Float32Array);
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    if (Number.isNaN(g) || Number.isNaN(w)) {
      if (!(Number.isNaN(g) && Number.isNaN(w))) throw new Error(`${op}(${xs[i]}): got ${g}, want ${w}`);
      continue;
    }
    const d = Math.abs(ordinal(g) - ordinal(w));
    if (d > worst) worst = d;
  }
  return worst;
};

const expectExact = (got: TypedArray, want: TypedArray, what: string): void => {
  expect(got.constructor).toBe(want.constructor);
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      throw new Error(`${what}: index ${i}: got ${got[i]}, want ${want[i]}`);
    }
  }
};

describe.runIf(wasmSimdSupported())('wasm backend: unary kernels', () => {
  // Measured maxima (Node 20, x86-64): exp 1, sigmoid 2, silu 3, rsqrt 1 ulp.
  const bounds: readonly (readonly [UnaryOp, number])[] = [
    ['exp', 2],
    ['sigmoid', 3],
    ['silu', 4],
    ['rsqrt', 1],
  ];
  const inputs: readonly (readonly [string, Float32Array])[] = [
    ['uniform [−100, 100]', uniform(1 << 21, 7, -100, 100)],
    ['uniform [−10, 10]', uniform(1 << 19, 8, -10, 10)],
    ['random bit patterns', randomBits(1 << 20, 9)],
    ['exp overflow edge [88, 90]', sweep(88, 90, 1 << 16)],
    ['normal/subnormal/zero edge [−125, −80]', sweep(-125, -80, 1 << 18)],
    [
      'around zero [−2⁻²⁰, 2⁻²⁰]',
      new Float32Array([...sweep(-(2 ** -20), -(2 ** -149), 1 << 14), ...sweep(0, 2 ** -20, 1 << 14)]),
    ],
    ['special values', SPECIALS],
  ];

  for (const [op, bound] of bounds) {
    it(`${op}: within ${bound} ulp of the reference over ${inputs.length} input sets`, () => {
      const be = createWasmBackend({ minElements: 0 });
      const seen: Record<string, number> = {};
      for (const [name, xs] of inputs) {
        seen[name] = maxUlps(xs, be.unary(op, xs), reference.unary(op, xs), op);
      }
      for (const [name, ulps] of Object.entries(seen))
        expect({ name, ulps }).toEqual({ name, ulps: Math.min(ulps, bound) });
      expect(be.stats().wasm.unary).toBe(inputs.length);
      expect(be.stats().delegated).toEqual({});
    });
  }

  it('neg, abs and sqrt are bit-identical to the reference', () => {
    const be = createWasmBackend({ minElements: 0 });
    for (const op of ['neg', 'abs', 'sqrt'] as const) {
      for (const xs of [randomBits(1 << 18, 21), uniform(1 << 16, 22, -100, 100), SPECIALS]) {
        expectExact(be.unary(op, xs), reference.unary(op, xs), op);
      }
    }
  });

  it('gets the IEEE special cases of exp, sigmoid and silu right', () => {
    const be = createWasmBackend({ minElements: 0 });
    const xs = new Float32Array([Infinity, -Infinity, NaN, 0, -0, 89, -104, -1e30, 1e30]);
    expectExact(be.unary('exp', xs), new Float32Array([Infinity, 0, NaN, 1, 1, Infinity, 0, 0, Infinity]), 'exp');
    expectExact(
      be.unary('sigmoid', xs),
      new Float32Array([1, 0, NaN, 0.5, 0.5, 1, reference.unary('sigmoid', xs)[6]!, 0, 1]),
      'sigmoid',
    );
    // silu(−∞) = −∞·0 = NaN, silu(−0) = −0, and a huge negative v gives −0 (v·e^v underflows).
    expectExact(be.unary('silu', xs), reference.unary('silu', xs), 'silu');
    expect(Object.is(be.unary('silu', xs)[4], -0)).toBe(true);
    expect(Number.isNaN(be.unary('silu', xs)[1])).toBe(true);
    // Gradual underflow: exp(−100) is a subnormal, and exact to the last subnormal ulp.
    const sub = new Float32Array([-100, -95, -90]);
    expect(maxUlps(sub, be.unary('exp', sub), reference.unary('exp', sub), 'exp')).toBeLessThanOrEqual(1);
  });

  it('hands other ops, float64/int32 data and small arrays to the reference, bit for bit', () => {
    const be = createWasmBackend({ minElements: 64 });
    const x = uniform(100, 31, -3, 3);
    for (const op of ['log', 'sign', 'sin', 'cos'] as const) expectExact(be.unary(op, x), reference.unary(op, x), op);
    const x64 = Float64Array.from(x);
    expectExact(be.unary('exp', x64), reference.unary('exp', x64), 'exp f64');
    const xi = Int32Array.from({ length: 100 }, (_, i) => i - 50);
    expectExact(be.unary('neg', xi), reference.unary('neg', xi), 'neg i32');
    expectExact(be.unary('silu', x.subarray(0, 10)), reference.unary('silu', x.subarray(0, 10)), 'small');
    expect(be.stats().delegated).toEqual({ 'unary:op': 4, 'unary:dtype': 2, 'unary:small': 1 });
    expect(be.stats().wasm).toEqual({});
  });
});

describe.runIf(wasmSimdSupported())('wasm backend: chunked element-wise streaming', () => {
  const sz = (s: readonly number[]): number => s.reduce((x, y) => x * y, 1);

  it('gives the reference results across chunk boundaries for every layout (chunks of 1, 7, 64)', () => {
    const layouts: readonly (readonly [number[], number[], number[]])[] = [
      [
        [5, 41],
        [5, 41],
        [5, 41],
      ],
      [[5, 41], [], [5, 41]],
      [[], [5, 41], [5, 41]],
      [[9, 3, 11], [11], [9, 3, 11]],
      [[3, 70], [70], [3, 70]], // a row longer than a chunk
      [[13], [9, 13], [9, 13]],
      [
        [9, 11, 5],
        [9, 11, 1],
        [9, 11, 5],
      ],
      [
        [9, 1],
        [9, 100],
        [9, 100],
      ], // a column row longer than a chunk
      [
        [2, 3, 1],
        [2, 3, 13],
        [2, 3, 13],
      ],
    ];
    for (const chunkElements of [1, 7, 64]) {
      const be = createWasmBackend({ minElements: 0, chunkElements });
      for (const [aS, bS, out] of layouts) {
        const a = uniform(sz(aS), sz(aS) + 1, -3, 3);
        const b = uniform(sz(bS), sz(bS) + 2, -3, 3);
        for (const op of ['add', 'sub', 'mul', 'div'] as readonly BinaryOp[]) {
          expectExact(
            be.binary(op, a, aS, b, bS, out),
            reference.binary(op, a, aS, b, bS, out),
            `${op} ${aS}∘${bS} chunk ${chunkElements}`,
          );
        }
      }
      expect(be.stats().wasm.binary).toBe(layouts.length * 4);
      const x = uniform(203, 5, -90, 90);
      for (const op of ['neg', 'sqrt', 'exp', 'sigmoid', 'silu'] as const) {
        expect(maxUlps(x, be.unary(op, x), reference.unary(op, x), op)).toBeLessThanOrEqual(4);
      }
      expect(be.stats().delegated).toEqual({});
    }
  });

  it('never writes its inputs, and a result is untouched by later calls', () => {
    const be = createWasmBackend({ minElements: 0, chunkElements: 100 });
    const x = uniform(1000, 41, -5, 5);
    const y = uniform(1000, 42, -5, 5);
    const x0 = x.slice();
    const y0 = y.slice();
    const s = be.unary('silu', x);
    const m = be.binary('mul', x, [10, 100], y, [10, 100], [10, 100]);
    const s0 = s.slice();
    const m0 = m.slice();
    be.unary('exp', y);
    be.binary('div', y, [10, 100], x.subarray(0, 10), [10, 1], [10, 100]);
    be.unary('neg', uniform(5000, 43, -1, 1));
    expectExact(x, x0, 'x');
    expectExact(y, y0, 'y');
    expectExact(s, s0, 'silu result');
    expectExact(m, m0, 'mul result');
    expect(s).not.toBe(be.unary('silu', x));
  });

  it('gives an empty result for empty input', () => {
    const be = createWasmBackend({ minElements: 0 });
    expect(be.unary('exp', new Float32Array(0))).toEqual(new Float32Array(0));
    expect(be.binary('add', new Float32Array(0), [0, 3], new Float32Array(3), [3], [0, 3])).toEqual(
      new Float32Array(0),
    );
  });
});

describe.runIf(wasmSimdSupported())('wasm backend: where', () => {
  it('copies whole blocks for a per-block condition, bit for bit, and hands other layouts over', () => {
    const be = createWasmBackend();
    const a = uniform(6 * 17 * 20, 51, -2, 2);
    const b = uniform(6 * 17 * 20, 52, -2, 2);
    const a0 = a.slice();
    const cases: readonly (readonly [TypedArray, number[]])[] = [
      [new Float32Array([1, 0, 0, 1, NaN, -0]), [6, 1, 1]],
      [new Float32Array([0, 2, 0, 0, 1, 1]), [1, 6, 1, 1]],
      [Int32Array.from({ length: 6 * 17 }, (_, i) => i % 3), [6, 17, 1]],
      [new Float32Array([1]), []],
    ];
    const out = [1, 6, 17, 20];
    for (const [c, cS] of cases) {
      const shape = cS.length === 4 ? out : [6, 17, 20];
      expectExact(
        be.where(c, cS, a, shape, b, shape, shape),
        reference.where(c, cS, a, shape, b, shape, shape),
        `where ${cS}`,
      );
    }
    expect(be.stats().wasm.where).toBe(cases.length);
    expect(be.stats().delegated).toEqual({});
    // Per-element conditions, broadcast a/b, float64: the reference.
    const cFull = Float32Array.from({ length: a.length }, (_, i) => i % 2);
    const s = [6, 17, 20];
    expectExact(be.where(cFull, s, a, s, b, s, s), reference.where(cFull, s, a, s, b, s, s), 'per element');
    const c1 = new Float32Array([1, 0, 1, 0, 1, 0]);
    expectExact(
      be.where(c1, [6, 1, 1], a.subarray(0, 20), [20], b, s, s),
      reference.where(c1, [6, 1, 1], a.subarray(0, 20), [20], b, s, s),
      'bcast a',
    );
    const a64 = Float64Array.from(a);
    expectExact(be.where(c1, [6, 1, 1], a64, s, a64, s, s), reference.where(c1, [6, 1, 1], a64, s, a64, s, s), 'f64');
    expect(be.stats().delegated).toEqual({ 'where:small': 1, 'where:broadcast': 1, 'where:dtype': 1 });
    expectExact(a, a0, 'a unchanged');
  });
});
