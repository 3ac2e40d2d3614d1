/**
 * SwiGLU's fused gate and its VJP on every backend kernel set: the WebAssembly SIMD kernels and the
 * gpu.js kernels (cpu mode) against the reference, which evaluates each formula in doubles and
 * rounds once; and the fused op against its unfused definition silu(a)·u.
 */
import { describe, expect, it } from 'vitest';
import { reference } from '../../src/backend/reference.js';
import { createWasmBackend } from '../../src/accel/wasm/index.js';
import { createGpuJsBackend } from '../../src/accel/gpujs/index.js';
import { vjp } from '../../src/autodiff/grad.js';
import * as ops from '../../src/ops/index.js';
import { uniform } from './data.js';
import { tensor } from '../../src/tensor/tensor.js';

/** Largest |x − y| relative to max(|y|, floor), NaN where exactly one is NaN. */
const worst = (x: Float32Array, y: Float32Array, floor: number): number => {
  let w = 0;
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]!) || Number.isNaN(y[i]!)) {
      if (Number.isNaN(x[i]!) !== Number.isNaN(y[i]!)) return NaN;
      continue;
    }
    w = Math.max(w, Math.abs(x[i]! - y[i]!) / Math.max(Math.abs(y[i]!), floor));
  }
  return w;
};

describe('fused SwiGLU gate kernels', () => {
  const cases = [
    { rows: 1, inter: 4 },
    { rows: 7, inter: 12 },
    { rows: 300, inter: 256 },
  ];

  it.each(cases)('wasm equals the reference within float32 rounding ($rows × 2·$inter)', ({ rows, inter }) => {
    const be = createWasmBackend({ minElements: 1 });
    const h = uniform(rows * 2 * inter, rows * 31 + inter, -12, 12);
    h[0] = -Infinity;
    h[1] = NaN;
    h[2] = -95;
    const g = uniform(rows * inter, inter * 7 + 1, -3, 3);
    const out = be.swiglu(h, rows, inter) as Float32Array;
    const grad = be.swigluGrad(g, h, rows, inter) as Float32Array;
    expect(be.stats().wasm).toMatchObject({ swiglu: 1, swigluGrad: 1 });
    expect(worst(out, reference.swiglu(h, rows, inter) as Float32Array, 1e-30)).toBeLessThan(5e-7);
    // silu′(a) = σ·(1 + a·(1 − σ)) cancels near a ≈ −1.28: measure the gate half against the size of
    // its terms, |g·u·σ|·(1 + |a·(1 − σ)|), as float32 rounding of those terms is all that can differ.
    const ref = reference.swigluGrad(g, h, rows, inter) as Float32Array;
    let w = 0;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < 2 * inter; j++) {
        const i = r * 2 * inter + j;
        const a = h[r * 2 * inter + (j % inter)]!;
        const s = 1 / (1 + Math.exp(-a));
        const terms =
          j < inter ? Math.abs(g[r * inter + j]! * h[i + inter]! * s) * (1 + Math.abs(a * (1 - s))) : Math.abs(ref[i]!);
        if (!Number.isFinite(a)) continue;
        w = Math.max(w, Math.abs(grad[i]! - ref[i]!) / Math.max(terms, 1e-30));
      }
    }
    // Up to seven float32 roundings (σ itself within 2 ulps): 10 ulps (2⁻²³ ≈ 1.2e-7 each).
    expect(w).toBeLessThan(1.2e-6);
    expect(Number.isNaN(out[0]!) && Number.isNaN(out[1]!)).toBe(true);
    be.close();
  });

  it('wasm hands odd widths, float64 and small jobs to the reference, counted', () => {
    const be = createWasmBackend();
    be.swiglu(uniform(2 * 2 * 3, 1, -1, 1), 2, 3);
    be.swiglu(Float64Array.from(uniform(2 * 2 * 512, 1, -1, 1)), 2, 512);
    be.swiglu(uniform(2 * 2 * 8, 1, -1, 1), 2, 8);
    expect(Object.values(be.stats().delegated).reduce((a, b) => a + b, 0)).toBe(3);
    be.close();
  });

  it('gpu.js (cpu mode) equals the reference within float32 rounding', () => {
    const be = createGpuJsBackend({ mode: 'cpu', minElements: 1 });
    const [rows, inter] = [5, 6];
    const h = uniform(rows * 2 * inter, 3, -6, 6);
    const g = uniform(rows * inter, 4, -2, 2);
    expect(
      worst(be.swiglu(h, rows, inter) as Float32Array, reference.swiglu(h, rows, inter) as Float32Array, 1e-6),
    ).toBeLessThan(1e-6);
    expect(
      worst(
        be.swigluGrad(g, h, rows, inter) as Float32Array,
        reference.swigluGrad(g, h, rows, inter) as Float32Array,
        1e-6,
      ),
    ).toBeLessThan(1e-6);
    expect(be.stats().gpujs).toMatchObject({ swiglu: 1, swigluGrad: 1 });
    be.close();
  });
});

describe('swigluGate', () => {
  it('is silu(gate)·up over the halves of the last axis, forward and backward (float64)', () => {
    const h = tensor(Float64Array.from(uniform(3 * 2 * 10, 9, -5, 5)), [3, 2, 10]);
    const dy = tensor(Float64Array.from(uniform(3 * 2 * 5, 10, -1, 1)), [3, 2, 5]);
    const fused = vjp(([x]) => ops.swigluGate(x!), [h], dy);
    const composed = vjp(
      ([x]) => ops.mul(ops.silu(ops.slice(x!, [0, 0, 0], [3, 2, 5])), ops.slice(x!, [0, 0, 5])),
      [h],
      dy,
    );
    const close = (a: ArrayLike<number>, b: ArrayLike<number>): void =>
      Array.from(a).forEach((v, i) => expect(Math.abs(v - b[i]!)).toBeLessThan(1e-12 * Math.max(1, Math.abs(b[i]!))));
    close(fused.value.data, composed.value.data);
    close(fused.grad[0]!.data, composed.grad[0]!.data);
  });

  it('names the op and the shape when the last axis is odd', () => {
    expect(() => ops.swigluGate(tensor(new Float32Array(6), [2, 3]))).toThrow(
      'swigluGate: the last axis must have even length [gate | up], got [2,3]',
    );
  });
});
