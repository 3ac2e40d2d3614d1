/**
 * RMS norm over rows and its VJP: the WebAssembly kernels (four-lane float32 sums, any row length)
 * and the gpu.js kernels (cpu mode) against the reference (double sums, rounded once), and the
 * primitive against its composed definition x · rsqrt(mean(x²) + eps).
 */
import { describe, expect, it } from 'vitest';
import { vjp } from '../../src/autodiff/grad.js';
import { reference } from '../../src/backend/reference.js';
import { createGpuJsBackend } from '../../src/accel/gpujs/index.js';
import { createWasmBackend } from '../../src/accel/wasm/index.js';
import * as ops from '../../src/ops/index.js';
import { uniform } from './data.js';
import { tensor } from '../../src/tensor/tensor.js';

/**
 * Largest error of `got` against the reference, relative to the size of the terms each value is
 * made of: |x·r| for the norm, |r·g| + |c·x| for its VJP (which cancels).
 */
const worstRelative = (
  got: Float32Array,
  g: Float32Array | null,
  x: Float32Array,
  rows: number,
  n: number,
  eps: number,
): number => {
  const want = g === null ? reference.rmsNorm(x, rows, n, eps) : reference.rmsNormGrad(g, x, rows, n, eps);
  let w = 0;
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    let gx = 0;
    for (let j = 0; j < n; j++) {
      ss += x[r * n + j]! ** 2;
      if (g !== null) gx += g[r * n + j]! * x[r * n + j]!;
    }
    const inv = 1 / Math.sqrt(ss / n + eps);
    const c = Math.abs((inv ** 3 * gx) / n);
    for (let j = 0; j < n; j++) {
      const i = r * n + j;
      const scale = g === null ? Math.abs(x[i]! * inv) : Math.abs(inv * g[i]!) + c * Math.abs(x[i]!);
      w = Math.max(w, Math.abs(got[i]! - want[i]!) / Math.max(scale, 1e-30));
    }
  }
  return w;
};

describe('fused RMS norm kernels', () => {
  const cases = [
    { rows: 3, n: 1 },
    { rows: 5, n: 3 },
    { rows: 64, n: 17 },
    { rows: 40, n: 64 },
    { rows: 9, n: 97 },
    { rows: 12, n: 512 },
  ];

  it.each(cases)('wasm equals the reference within float32 sums ($rows rows of $n)', ({ rows, n }) => {
    const be = createWasmBackend({ minElements: 1 });
    const x = uniform(rows * n, rows * 7 + n, -3, 3);
    const g = uniform(rows * n, n * 11 + 1, -1, 1);
    // n float32 additions in four lanes, then a few roundings: well under (n/4 + 8)·2⁻²⁴ relative.
    const bound = (n / 4 + 8) * 2 ** -24 * 4;
    expect(worstRelative(be.rmsNorm(x, rows, n, 1e-5) as Float32Array, null, x, rows, n, 1e-5)).toBeLessThan(bound);
    expect(worstRelative(be.rmsNormGrad(g, x, rows, n, 1e-5) as Float32Array, g, x, rows, n, 1e-5)).toBeLessThan(bound);
    expect(be.stats().wasm).toMatchObject({ rmsNorm: 1, rmsNormGrad: 1 });
    be.close();
  });

  it('an all-zero row stays zero (eps keeps r finite)', () => {
    const be = createWasmBackend({ minElements: 1 });
    const out = be.rmsNorm(new Float32Array(8), 2, 4, 1e-6) as Float32Array;
    expect(Array.from(out)).toEqual(new Array(8).fill(0));
    be.close();
  });

  it('gpu.js (cpu mode) equals the reference', () => {
    const be = createGpuJsBackend({ mode: 'cpu', minElements: 1 });
    const [rows, n] = [6, 17];
    const x = uniform(rows * n, 5, -2, 2);
    const g = uniform(rows * n, 6, -1, 1);
    expect(worstRelative(be.rmsNorm(x, rows, n, 1e-5) as Float32Array, null, x, rows, n, 1e-5)).toBeLessThan(1e-6);
    expect(worstRelative(be.rmsNormGrad(g, x, rows, n, 1e-5) as Float32Array, g, x, rows, n, 1e-5)).toBeLessThan(1e-6);
    expect(be.stats().gpujs).toMatchObject({ rmsNorm: 1, rmsNormGrad: 1 });
    be.close();
  });
});

describe('rmsNorm', () => {
  it('is x · rsqrt(mean(x²) + eps) along any axis, forward and backward (float64)', () => {
    const x = tensor(Float64Array.from(uniform(2 * 3 * 5, 9, -2, 2)), [2, 3, 5]);
    const dy = tensor(Float64Array.from(uniform(2 * 3 * 5, 10, -1, 1)), [2, 3, 5]);
    for (const axis of [-1, 1, 0]) {
      const fused = vjp(([a]) => ops.rmsNorm(a!, 1e-6, axis), [x], dy);
      const composed = vjp(
        ([a]) => ops.mul(a!, ops.rsqrt(ops.add(ops.mean(ops.mul(a!, a!), axis, true), 1e-6))),
        [x],
        dy,
      );
      Array.from(fused.value.data).forEach((v, i) => expect(Math.abs(v - composed.value.data[i]!)).toBeLessThan(1e-12));
      Array.from(fused.grad[0]!.data).forEach((v, i) =>
        expect(Math.abs(v - composed.grad[0]!.data[i]!)).toBeLessThan(1e-12),
      );
    }
  });
});
