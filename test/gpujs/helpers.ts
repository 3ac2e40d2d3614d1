/**
 * Shared pieces of the gpu.js parity tests: which modes to run, seeded data, broadcast shapes,
 * and a float32 comparison relative to the largest magnitude involved.
 *
 * TRM_GPUJS_MODE picks the modes (comma-separated, e.g. `headlessgl` for `npm run test:gl`);
 * by default the suite runs on the modes every CI machine has: gpu.js's CPU kernel and its
 * WebAssembly kernel.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { type GpuJsMode, parseGpuJsMode } from '../../src/accel/gpujs/index.js';
import type { Shape } from '../../src/core/shape.js';

export const modes: readonly GpuJsMode[] = (process.env['TRM_GPUJS_MODE'] ?? 'cpu,webasm')
  .split(',')
  .filter((s) => s.trim() !== '')
  .map(parseGpuJsMode);

/** The kernel class each mode must report when it runs on this machine's CI (null: not fixed). */
export const expectedClass: Record<GpuJsMode, string | null> = {
  cpu: 'CPUKernel',
  webasm: 'WebAssemblyKernel',
  headlessgl: 'HeadlessGLKernel',
  webgl2: 'WebGL2Kernel',
  webgl: 'WebGLKernel',
  gpu: null,
};

/** GL computes transcendental functions less exactly than libm; everything else is float32 rounding. */
export const rtolFor = (mode: GpuJsMode): number => (mode === 'cpu' || mode === 'webasm' ? 2e-6 : 1e-4);

/** A small deterministic PRNG (mulberry32), so the data of a failing case can be rebuilt. */
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

export const size = (s: Shape): number => s.reduce((a, b) => a * b, 1);

/** Uniform in [lo, hi), or on a grid of `grid` values (ties and equalities) when given. */
export const randF32 = (rand: () => number, n: number, lo = -2, hi = 2, grid?: number): Float32Array => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = rand();
    out[i] = grid === undefined ? lo + (hi - lo) * u : lo + ((hi - lo) * Math.floor(u * grid)) / grid;
  }
  return out;
};

export const maxAbs = (x: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
};

/**
 * max |got − want| ≤ rtol · scale, where scale defaults to max(1, max |want|): agreement within
 * float32 rounding relative to the largest magnitude (sums and products pass their own scale).
 */
export const expectClose = (
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rtol: number,
  scale?: number,
  what = '',
): void => {
  expect(got.length, `${what}: length`).toBe(want.length);
  const s = scale ?? Math.max(1, maxAbs(want));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = got[i]!;
    const d = Number.isNaN(w) && Number.isNaN(g) ? 0 : Math.abs(g - w);
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= rtol * s)) {
    expect.fail(`${what}: |got − want| = ${worst} at ${at} (got ${got[at]}, want ${want[at]}) > ${rtol} · ${s}`);
  }
};

export const expectExact = (got: ArrayLike<number>, want: ArrayLike<number>, what = ''): void => {
  expect(Array.from(got), what).toEqual(Array.from(want));
};

/** Dimensions: 1 often (broadcasting lives there), odd sizes, now and then a larger one. */
export const dimArb: fc.Arbitrary<number> = fc.oneof(
  { arbitrary: fc.constant(1), weight: 2 },
  { arbitrary: fc.integer({ min: 2, max: 7 }), weight: 5 },
  { arbitrary: fc.integer({ min: 8, max: 33 }), weight: 1 },
);

export const shapeArb = (minRank: number, maxRank: number): fc.Arbitrary<number[]> =>
  fc.array(dimArb, { minLength: minRank, maxLength: maxRank }).filter((s) => size(s) <= 4096);

/** A shape that broadcasts to `out`: leading axes dropped, some axes set to 1. */
export const broadcastableTo = (out: Shape): fc.Arbitrary<number[]> =>
  fc
    .tuple(
      fc.integer({ min: 0, max: out.length }),
      fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }),
    )
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));

/** The NumPy broadcast of shapes known to be compatible. */
export const broadcast = (...shapes: Shape[]): number[] => {
  const r = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: r }, (_, i) => Math.max(1, ...shapes.map((s) => s[s.length - r + i] ?? 1)));
};

/** Few runs per property: every distinct shape compiles a kernel. */
export const runs = { numRuns: 30 } as const;
