/**
 * The WebAssembly backend's matrix product split over worker threads: bit-identical to the
 * one-thread backend in every transposed form, batched (batches split, or rows / columns of C split
 * when there are fewer batches than threads), across tile and cache-block edges and memory growth;
 * workers that are not ready, crash, hang or fail are not waited on forever; close() stops them.
 */
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MatmulSpec } from '../../src/backend/backend.js';
import { Fn, assemble, withSharedMemory } from '../../src/accel/wasm/asm.js';
import {
  KC,
  MC,
  NC,
  type WasmBackend,
  createThreadedWasmBackend,
  createWasmBackend,
  relaxedSimdSupported,
  wasmSimdSupported,
} from '../../src/accel/wasm/index.js';
import { enableRelaxedSimd } from '../../src/accel/wasm/relaxed-simd.js';
import { MR, NR, kernelModuleBytes } from '../../src/accel/wasm/kernels.js';
import type { KernelExports } from '../../src/accel/wasm/kernels.js';
import { LAYOUT, SYNC, type SharedJob, type WorkerConstructor, startWorkers } from '../../src/accel/wasm/threads.js';
import { uniform as randF32 } from './data.js';

const forms: readonly (readonly [boolean, boolean])[] = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

/** A product's operands: `batch` matrices at padded offsets, A and/or B possibly shared by all. */
const product = (
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
  batch = 1,
  shareA = false,
  shareB = false,
) => {
  const pad = 5;
  const aOffsets = Array.from({ length: batch }, (_, i) => (shareA ? pad : pad + i * (m * k + pad)));
  const bOffsets = Array.from({ length: batch }, (_, i) => (shareB ? 3 : 3 + i * (k * n + 1)));
  const spec: MatmulSpec = { m, k, n, transA, transB, aOffsets, bOffsets };
  const a = randF32(aOffsets[batch - 1]! + m * k + pad, m * 131 + k * 7 + batch);
  const b = randF32(bOffsets[batch - 1]! + k * n + 1, n * 17 + k + batch);
  return { a, b, spec };
};

const expectSameBits = (got: Float32Array, want: Float32Array, what: string): void => {
  expect(got.length, what).toBe(want.length);
  const g = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const w = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < w.length; i++) {
    if (g[i] !== w[i]) throw new Error(`${what}: index ${i}: got ${got[i]}, want ${want[i]}`);
  }
};

/** Runs one product on both backends and expects the same bits; returns whether `many` split it. */
const compare = (one: WasmBackend, many: WasmBackend, p: ReturnType<typeof product>): boolean => {
  const before = many.stats().splitMatmuls;
  const want = one.matmul(p.a, p.b, p.spec) as Float32Array;
  const got = many.matmul(p.a, p.b, p.spec) as Float32Array;
  const { m, k, n, transA, transB, aOffsets } = p.spec;
  expectSameBits(got, want, `m=${m} k=${k} n=${n} transA=${transA} transB=${transB} batch=${aOffsets.length}`);
  return many.stats().splitMatmuls > before;
};

/** Node's Worker, recording the workers it makes (and optionally replacing their source). */
const recordingWorker = (made: Worker[], source?: (real: string) => string): WorkerConstructor =>
  class extends Worker {
    constructor(src: string, options: { eval: true; workerData: unknown }) {
      super(source === undefined ? src : source(src), options);
      made.push(this);
    }
  };

const exited = (w: Worker): Promise<number> => new Promise((resolve) => w.once('exit', resolve));

describe('asm: shared memory import', () => {
  const fns = (): Fn[] => [new Fn('id', [['x', 'i32']], ['i32']).get('x')];
  const data = [{ offset: 16, bytes: new Uint8Array([1, 2, 3]) }];

  it('withSharedMemory gives what assemble gives with sharedMaxPages', () => {
    const shared = assemble(fns(), data, { sharedMaxPages: 300 });
    expect(withSharedMemory(assemble(fns(), data), 300)).toEqual(shared);
    expect(shared).not.toEqual(assemble(fns(), data));
    expect(() => withSharedMemory(shared, 300)).toThrow(/not the single unshared/);
    expect(() => assemble(fns(), [], { sharedMaxPages: 0 })).toThrow(/sharedMaxPages/);
  });

  it.runIf(wasmSimdSupported())('makes a kernel module that takes a shared memory, and only a shared one', () => {
    const api = (
      globalThis as unknown as {
        WebAssembly: {
          Module: new (b: Uint8Array) => object;
          Instance: new (m: object, i: object) => object;
          Memory: new (d: object) => object;
        };
      }
    ).WebAssembly;
    const module = new api.Module(withSharedMemory(kernelModuleBytes(), 1000));
    expect(
      () => new api.Instance(module, { env: { memory: new api.Memory({ initial: 1, maximum: 1000, shared: true }) } }),
    ).not.toThrow();
    expect(() => new api.Instance(module, { env: { memory: new api.Memory({ initial: 1 }) } })).toThrow();
    expect(
      () => new api.Instance(module, { env: { memory: new api.Memory({ initial: 1, maximum: 1001, shared: true }) } }),
    ).toThrow();
  });
});

// This file runs in its own process (vitest pool: forks): relaxed SIMD on, as bin/trm.js sets it, so
// the default build below is the fused one where the engine has it; the plain one is tested too.
enableRelaxedSimd();

describe.runIf(wasmSimdSupported())('wasm backend: threads', () => {
  let one: WasmBackend;
  let three: WasmBackend;
  beforeAll(async () => {
    one = createWasmBackend({ minMatmulFlops: 0 });
    three = await createThreadedWasmBackend({ threads: 3, minMatmulFlops: 0, minSplitFlops: 0 });
  });
  afterAll(() => {
    one.close();
    three.close();
  });

  it('starts its workers', () => {
    expect(three.stats()).toMatchObject({ threads: 3, threadsReady: 3, splitMatmuls: 0 });
    expect(one.stats()).toMatchObject({ threads: 1, threadsReady: 1, splitMatmuls: 0 });
  });

  it('is bit-identical to one thread in all four forms, across tile and cache-block edges', () => {
    const shapes: readonly (readonly [number, number, number])[] = [
      [64, 50, 72],
      [MR * 5 + 3, KC + 5, NR * 7 + 5], // m, n off the tiles; k past one KC block
      [13, 9, NC + NR + 3], // n past NC: split by columns
      [2 * MC + 1, 2 * KC + 1, 9], // m past MC: split by rows
      [MR * 2, 3, NR], // two row tiles for three threads
    ];
    for (const [m, k, n] of shapes) {
      for (const [transA, transB] of forms) expect(compare(one, three, product(m, k, n, transA, transB))).toBe(true);
    }
  });

  it('is bit-identical to one thread in both builds of the product (mul + add, and fused)', async () => {
    for (const fma of [false, ...(relaxedSimdSupported() ? [true] : [])]) {
      const single = createWasmBackend({ minMatmulFlops: 0, fma });
      const split = await createThreadedWasmBackend({ threads: 3, minMatmulFlops: 0, minSplitFlops: 0, fma });
      try {
        expect(split.stats()).toMatchObject({ fma, threadsReady: 3 });
        for (const [m, k, n] of [
          [MR * 5 + 3, KC + 5, NR * 7 + 5],
          [2 * MC + 1, 2 * KC + 1, 9],
          [13, 9, NC + NR + 3],
        ] as const) {
          for (const [transA, transB] of forms)
            expect(compare(single, split, product(m, k, n, transA, transB))).toBe(true);
        }
        expect(split.stats().splitMatmuls).toBeGreaterThan(0);
      } finally {
        single.close();
        split.close();
      }
    }
  });

  it("splits SwiGLU's gate, RMS norm and their VJPs by rows, bit-identical to one thread", async () => {
    const split = await createThreadedWasmBackend({ threads: 3, minSplitElements: 0, minElements: 0 });
    const single = createWasmBackend({ minElements: 0 });
    try {
      for (const [rows, inter] of [
        [1, 4],
        [2, 8],
        [7, 12],
        [130, 256],
      ] as const) {
        const h = randF32(rows * 2 * inter, rows + inter);
        const g = randF32(rows * inter, rows * 3 + inter);
        const before = split.stats().splitCalls;
        expectSameBits(
          split.swiglu(h, rows, inter) as Float32Array,
          single.swiglu(h, rows, inter) as Float32Array,
          `swiglu ${rows}×${inter}`,
        );
        expectSameBits(
          split.swigluGrad(g, h, rows, inter) as Float32Array,
          single.swigluGrad(g, h, rows, inter) as Float32Array,
          `swigluGrad ${rows}×${inter}`,
        );
        expect(split.stats().splitCalls - before).toBe(rows > 1 ? 2 : 0);
      }
      expect(single.stats().wasm).toMatchObject({ swiglu: 4, swigluGrad: 4 });
      // RMS norm and its VJP: rows of odd lengths, split by rows.
      for (const [rows, n] of [
        [3, 17],
        [130, 64],
      ] as const) {
        const x = randF32(rows * n, rows * 5 + n);
        const g = randF32(rows * n, rows + n * 3);
        const before = split.stats().splitCalls;
        expectSameBits(
          split.rmsNorm(x, rows, n, 1e-5) as Float32Array,
          single.rmsNorm(x, rows, n, 1e-5) as Float32Array,
          `rmsNorm ${rows}×${n}`,
        );
        expectSameBits(
          split.rmsNormGrad(g, x, rows, n, 1e-5) as Float32Array,
          single.rmsNormGrad(g, x, rows, n, 1e-5) as Float32Array,
          `rmsNormGrad ${rows}×${n}`,
        );
        expect(split.stats().splitCalls - before).toBe(2);
      }
    } finally {
      split.close();
      single.close();
    }
  });

  it('is bit-identical on batched products: split batches, split blocks, shared operands', () => {
    const cases: readonly (readonly [batch: number, shareA: boolean, shareB: boolean])[] = [
      [2, false, false], // fewer batches than threads: each batch's rows are split
      [3, false, true], // as many: one batch each, B broadcast
      [7, true, false], // more, unevenly: A broadcast
      [5, true, true],
    ];
    for (const [batch, shareA, shareB] of cases) {
      for (const [transA, transB] of forms) {
        expect(compare(one, three, product(MR * 3 + 1, 37, NR * 4 + 3, transA, transB, batch, shareA, shareB))).toBe(
          true,
        );
      }
    }
    // Fewer batches than threads, each past MC, KC and NC: the threads share every block of each
    // batch (2 batches × 2 column blocks × 3 depth blocks, the blocks going by turns into two
    // buffers of B).
    for (const [transA, transB] of forms) {
      expect(compare(one, three, product(MC + 5, 2 * KC + 3, NC + 2 * NR + 1, transA, transB, 2))).toBe(true);
    }
  });

  it('keeps the summation order and the buffers of B when one thread of a shared product lags far behind', async () => {
    // The worker sleeps 2 ms before each of its units, so the calling thread runs ahead into later
    // blocks: its units must wait for the lagging unit of the previous k block (same C tile), and
    // it must not repack a buffer of B that the lagging unit still reads.
    const marker = 'const packB = q === 0 ? packB0 : packB1;';
    const lagging = recordingWorker([], (src) => {
      expect(src).toContain(marker);
      return src.replace(marker, `${marker} if (self > 0) Atomics.wait(words, ABORT, 0, 2);`);
    });
    const be = createWasmBackend({ threads: 2, Worker: lagging, minSplitFlops: 0 });
    try {
      await be.ready();
      expect(be.stats().threadsReady).toBe(2);
      for (const [transA, transB] of forms.slice(0, 2)) {
        expect(compare(one, be, product(2 * MC + 3, 3 * KC + 5, NC + 2 * NR + 1, transA, transB))).toBe(true);
      }
    } finally {
      be.close();
    }
  });

  it('releases the workers of a shared product at once when the calling thread fails before its share', async () => {
    // The pool alone, on a 64×64·64×64 product laid out by hand (byte addresses in a 4 MiB memory).
    const api = (
      globalThis as unknown as {
        WebAssembly: {
          Module: new (b: Uint8Array) => object;
          Instance: new (m: object, i: object) => { exports: unknown };
          Memory: new (d: object) => { buffer: SharedArrayBuffer };
        };
      }
    ).WebAssembly;
    const module = new api.Module(withSharedMemory(kernelModuleBytes(), 1000));
    const memory = new api.Memory({ initial: 64, maximum: 1000, shared: true });
    const kern = new api.Instance(module, { env: { memory } }).exports as KernelExports;
    const words = new Int32Array(memory.buffer);
    const [sync, flags, table, A, B, C] = [0x100000, 0x100100, 0x100200, 0x101000, 0x105000, 0x109000];
    words.set([A, B, C], table >> 2);
    const n = 64;
    // table, count, m, n, k, aI, aP, bJ, bP, ldc, packA, tile, stride, packB0, packB1, KC, MC, NC, NR, sync, flags, flagCount, threads, self, timeoutMs
    const job = [
      table,
      1,
      n,
      n,
      n,
      n * 4,
      4,
      4,
      n * 4,
      n * 4,
      0x120000,
      0x160000,
      0x60000,
      0x200000,
      0x280000,
      KC,
      MC,
      NC,
      NR,
      sync,
      flags,
      64,
      0,
      0,
      60_000,
    ] as unknown as SharedJob;
    const pool = startWorkers({
      Worker: Worker as WorkerConstructor,
      workers: 1,
      module,
      memory,
      timeoutMs: 60_000,
      startupMs: 10_000,
    });
    try {
      await pool.ready();
      expect(pool.readyCount()).toBe(1);
      // Without the abort word the worker would wait for A for 60 s, past this test's timeout.
      const failing = (): void => {
        throw new RangeError('Array buffer allocation failed');
      };
      expect(() => pool.run(kern, words, [{ shared: job }, { shared: job }], () => 'the product', failing)).toThrow(
        /^wasm: the product: Array buffer allocation failed$/,
      );
      // The pool is still usable, and the same job runs when A is declared present.
      pool.run(
        kern,
        words,
        [{ shared: job }, { shared: job }],
        () => 'the product',
        () => Atomics.store(words, (sync >> 2) + SYNC.A_READY, 1),
      );
    } finally {
      pool.close();
    }
  });

  it('does not split tiny products (one tile, or below minSplitFlops)', async () => {
    for (const [m, k, n] of [
      [1, 1, 1],
      [MR, 300, NR],
      [3, 2, 5],
    ] as const) {
      expect(compare(one, three, product(m, k, n, false, false))).toBe(false);
    }
    const dflt = createWasmBackend({ threads: 2, Worker: Worker as WorkerConstructor });
    try {
      await dflt.ready();
      expect(dflt.stats().threadsReady).toBe(2);
      const small = product(16, 16, 16, false, true);
      dflt.matmul(small.a, small.b, small.spec);
      expect(dflt.stats().splitMatmuls).toBe(0);
    } finally {
      dflt.close();
    }
  });

  it('sees memory grown since its workers started (bit-identical after growth)', async () => {
    const fresh = await createThreadedWasmBackend({ threads: 2, minSplitFlops: 0 });
    try {
      const before = fresh.stats().memoryBytes;
      expect(compare(one, fresh, product(40, 30, 20, false, false))).toBe(true);
      expect(compare(one, fresh, product(300, 200, 260, true, false, 2))).toBe(true);
      expect(fresh.stats().memoryBytes).toBeGreaterThan(before);
      expect(compare(one, fresh, product(40, 30, 20, false, true))).toBe(true);
    } finally {
      fresh.close();
    }
  });

  it('close() terminates the workers, and later calls throw', async () => {
    const made: Worker[] = [];
    const be = createWasmBackend({ threads: 3, Worker: recordingWorker(made), minSplitFlops: 0 });
    await be.ready();
    expect(made).toHaveLength(2);
    const p = product(32, 32, 32, false, false);
    be.matmul(p.a, p.b, p.spec);
    expect(be.stats().splitMatmuls).toBe(1);
    const exits = made.map(exited);
    be.close();
    await Promise.all(exits);
    expect(() => be.matmul(p.a, p.b, p.spec)).toThrow(/closed/);
  });

  it('keeps two threaded backends independent', async () => {
    const x = await createThreadedWasmBackend({ threads: 2, minSplitFlops: 0 });
    const y = await createThreadedWasmBackend({ threads: 2, minSplitFlops: 0 });
    try {
      for (let i = 0; i < 3; i++) {
        expect(compare(one, x, product(50 + i, 70, 33, false, i === 1))).toBe(true);
        expect(compare(one, y, product(21, 90 + i, 64, i === 2, false, 2))).toBe(true);
      }
      x.close();
      expect(compare(one, y, product(64, 64, 64, true, true))).toBe(true);
      expect(y.stats().splitMatmuls).toBe(4);
    } finally {
      x.close();
      y.close();
    }
  });

  it('computes on the calling thread what workers not yet ready, or crashed, would have', async () => {
    // A worker that never signals ready.
    const silent = createWasmBackend({
      threads: 2,
      Worker: recordingWorker([], () => 'setInterval(() => {}, 1000)'),
      minSplitFlops: 0,
    });
    // A worker that dies at start.
    const crashing = createWasmBackend({
      threads: 3,
      Worker: recordingWorker([], () => 'throw new Error("boom")'),
      minSplitFlops: 0,
    });
    try {
      await crashing.ready();
      for (const be of [silent, crashing]) {
        expect(compare(one, be, product(64, 40, 48, false, true))).toBe(false);
        expect(be.stats().threadsReady).toBe(1);
      }
    } finally {
      silent.close();
      crashing.close();
    }
  });

  it('throws, naming the product, when a worker hangs or fails, instead of waiting forever', async () => {
    // Follows the control-block protocol far enough to look ready, then never answers.
    const hangs = recordingWorker([], () =>
      [
        "const { workerData, parentPort } = require('node:worker_threads');",
        `Atomics.store(new Int32Array(workerData.control), ${LAYOUT.STATE}, ${LAYOUT.READY});`,
        "parentPort.postMessage('ready');",
        'setInterval(() => {}, 1000);',
      ].join('\n'),
    );
    // The real worker, made to throw inside its job: a part of a product fails at its first kernel
    // call; a shared product's worker as soon as it starts (it may find no work left to do, the
    // caller having done it all, and must still fail the product through the abort word).
    const call = 'gemm(kern, words,';
    const sharedStart = 'const mBlocks = Math.ceil(m / MC);';
    const fails = recordingWorker([], (src) => {
      expect(src).toContain(call);
      expect(src).toContain(sharedStart);
      return src
        .replace(call, 'gemm(null, words,')
        .replace(sharedStart, `if (self > 0) throw new TypeError('injected'); ${sharedStart}`);
    });
    const p = product(64, 40, 48, false, false);
    for (const [Stub, message] of [
      [
        hangs,
        /matmul m=64 k=40 n=48 transA=false transB=false batch=1: worker 1 did not finish its part within 200 ms/,
      ],
      [fails, /matmul m=64 k=40 n=48 .*: worker 1 failed: TypeError/],
    ] as const) {
      const be = createWasmBackend({ threads: 2, Worker: Stub, minSplitFlops: 0, workerTimeoutMs: 200 });
      try {
        await be.ready();
        expect(be.stats().threadsReady).toBe(2);
        expect(() => be.matmul(p.a, p.b, p.spec)).toThrow(message);
      } finally {
        be.close();
      }
    }
  });
});
