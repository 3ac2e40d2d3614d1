/**
 * The gpu.js backend as a whole: construction (cheap, explicit about the kernel class, honest
 * about GPUs), the kernel cache (evicts and destroys), close() (destroys everything), and the op
 * layer running unchanged on it.
 */
import { GPU } from 'gpu.js';
import { describe, expect, it } from 'vitest';
import { createGpuJsBackend, parseGpuJsMode } from '../../src/accel/gpujs/index.js';
import { reference } from '../../src/backend/reference.js';
import { matmul, rmsNorm, softmax, sum, add, gather, scatterAdd, where, gt } from '../../src/ops/index.js';
import { fromStorage, storage, tensor } from '../../src/tensor/tensor.js';
import { expectClose, expectedClass, modes, prng, randF32, rtolFor } from './helpers.js';

describe('mode selection', () => {
  it('parses mode names, with wasm as an alias of webasm', () => {
    expect(parseGpuJsMode('wasm')).toBe('webasm');
    expect(parseGpuJsMode(' CPU ')).toBe('cpu');
    expect(parseGpuJsMode('headlessgl')).toBe('headlessgl');
    expect(() => parseGpuJsMode('cuda')).toThrow(/unknown mode 'cuda'/);
  });

  it("'gpu' reports the class gpu.js actually picked, and never claims a GPU it lacks", () => {
    const be = createGpuJsBackend({ mode: 'gpu' });
    try {
      if (!GPU.isHeadlessGLSupported) {
        expect(be.kernelClass).toBe('WebAssemblyKernel');
        expect(be.onGpu).toBe(false);
      }
      expect(be.mode).toBe('gpu');
    } finally {
      be.close();
    }
  });

  it('requireGpu refuses a CPU kernel class', () => {
    expect(() => createGpuJsBackend({ mode: 'webasm', requireGpu: true })).toThrow(
      /WebAssemblyKernel, not on a graphics device/,
    );
    expect(() => createGpuJsBackend({ mode: 'cpu', requireGpu: true })).toThrow(/CPUKernel/);
  });

  it.skipIf(GPU.isHeadlessGLSupported)('headlessgl without a built `gl` says what is missing', () => {
    expect(() => createGpuJsBackend({ mode: 'headlessgl' })).toThrow(/libxi-dev.*npm rebuild gl.*xvfb/);
  });
});

describe.each(modes)('mode %s', (mode) => {
  it('constructs cheaply, compiling nothing until first use', () => {
    const t0 = performance.now();
    const be = createGpuJsBackend({ mode });
    const ms = performance.now() - t0;
    expect(be.stats()).toMatchObject({ compiled: 0, cached: 0, liveKernels: 0, closed: false });
    const want = expectedClass[mode];
    if (want !== null) expect(be.kernelClass).toBe(want);
    be.close();
    expect(ms).toBeLessThan(mode === 'cpu' || mode === 'webasm' ? 50 : 2000);
  });

  it('reuses a kernel per shape, evicts the least recently used and destroys it', () => {
    const be = createGpuJsBackend({ mode, maxCachedKernels: 2 });
    const x = (n: number): Float32Array => randF32(prng(n), n);
    be.unary('exp', x(3));
    be.unary('exp', x(3));
    expect(be.stats()).toMatchObject({ compiled: 1, cached: 1, destroyed: 0 });
    be.unary('exp', x(4));
    be.unary('exp', x(3)); // 3 becomes the most recent
    be.unary('exp', x(5)); // evicts 4
    expect(be.stats()).toMatchObject({ compiled: 3, cached: 2, destroyed: 1, liveKernels: 2 });
    be.unary('exp', x(3)); // still cached
    expect(be.stats().compiled).toBe(3);
    be.unary('exp', x(4)); // recompiled
    expect(be.stats()).toMatchObject({ compiled: 4, destroyed: 2 });
    be.close();
  });

  it('evicting kernels leaves the live ones correct (GL shares one drawing buffer per context)', () => {
    const be = createGpuJsBackend({ mode, maxCachedKernels: 4 });
    const rand = prng(9);
    const ge = (n: number, what: string): void => {
      const a = randF32(rand, n, -2, 2, 5);
      const b = randF32(rand, 1, -2, 2, 5);
      expect(Array.from(be.binary('ge', a, [n], b, [], [n])), what).toEqual(
        Array.from(reference.binary('ge', a, [n], b, [], [n])),
      );
    };
    for (let it = 0; it < 12; it++) {
      ge(500, `large, round ${it}`); // stays cached: used every round
      ge(1 + it, `small ${1 + it}`); // new kernels that evict the older small ones
    }
    expect(be.stats().destroyed).toBeGreaterThan(0);
    be.close();
  });

  it('bounds the values the cached kernels hold', () => {
    const be = createGpuJsBackend({ mode, maxCachedValues: 100 });
    be.unary('exp', randF32(prng(1), 30)); // holds 60
    be.unary('exp', randF32(prng(2), 20)); // 100
    expect(be.stats()).toMatchObject({ cached: 2, cachedValues: 100, destroyed: 0 });
    be.unary('exp', randF32(prng(3), 10)); // 120 > 100: the first goes
    expect(be.stats()).toMatchObject({ cached: 2, cachedValues: 60, destroyed: 1 });
    be.unary('exp', randF32(prng(4), 80)); // alone over the bound: kept while it runs, others go
    expect(be.stats()).toMatchObject({ cached: 1, cachedValues: 160, destroyed: 3 });
    be.close();
  });

  it('close() destroys every kernel, and the backend refuses work afterwards', () => {
    const be = createGpuJsBackend({ mode });
    const a = randF32(prng(1), 12);
    be.unary('sin', a);
    be.binary('add', a, [3, 4], a.subarray(0, 4), [4], [3, 4]);
    be.reduce('sum', a, 3, 4, 1);
    be.matmul(a, a, { m: 3, k: 4, n: 3, transA: false, transB: true, aOffsets: [0], bOffsets: [0] });
    const before = be.stats();
    expect(before.compiled).toBe(4);
    expect(before.liveKernels).toBe(4);
    be.close();
    const after = be.stats();
    expect(after).toMatchObject({ closed: true, cached: 0, liveKernels: 0, destroyed: 4 });
    expect(() => be.unary('sin', a)).toThrow(/after close/);
    expect(() => be.permute(a, [3, 4], [1, 0])).toThrow(/after close/);
    be.close(); // idempotent
  });

  it('the op layer runs unchanged on it (softmax, rmsNorm, batched matmul, gather/scatterAdd, where)', () => {
    const be = createGpuJsBackend({ mode });
    const rtol = rtolFor(mode);
    const rand = prng(5);
    const on = (data: Float32Array, shape: number[]) =>
      [fromStorage(shape, data.slice(), be), fromStorage(shape, data.slice(), reference)] as const;
    const [xg, xr] = on(randF32(rand, 2 * 3 * 5 * 7), [2, 3, 5, 7]);
    const [wg, wr] = on(randF32(rand, 7 * 6), [7, 6]);
    const pairs = [
      [softmax(xg, -1), softmax(xr, -1)],
      [rmsNorm(xg, 1e-5), rmsNorm(xr, 1e-5)],
      [matmul(xg, wg), matmul(xr, wr)],
      [sum(add(xg, 1), 1), sum(add(xr, 1), 1)],
      [where(gt(xg, 0), xg, 0), where(gt(xr, 0), xr, 0)],
    ] as const;
    for (const [g, r] of pairs) {
      expect(g.backend).toBe(be);
      expect(g.shape).toEqual(r.shape);
      expectClose(storage(g), storage(r), rtol * 10, undefined, 'op layer');
    }
    const ids = tensor([0, 2, 2, 1], [2, 2], { dtype: 'int32', backend: be });
    const idsR = tensor([0, 2, 2, 1], [2, 2], { dtype: 'int32' });
    const g = gather(wg, ids);
    expectClose(storage(g), storage(gather(wr, idsR)), 0);
    expectClose(storage(scatterAdd(g, ids, 7)), storage(scatterAdd(gather(wr, idsR), idsR, 7)), rtol * 4);
    const s = be.stats();
    for (const op of ['exp', 'max', 'sum', 'matmul', 'rmsNorm', 'where', 'gather', 'scatterAdd'])
      expect(s.gpujs[op] ?? 0, op).toBeGreaterThan(0);
    expect(Object.keys(s.ranOn)).toEqual([be.kernelClass]);
    be.close();
  });
});
