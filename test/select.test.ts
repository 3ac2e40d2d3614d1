/**
 * Choosing kernels by name (src/accel/select.ts): the CLI's --backend and --threads, TRM_THREADS,
 * and how a run names what it ran on.
 */
import { describe, expect, it } from 'vitest';
import { reference } from '../src/backend/reference.js';
import { jsBackend } from '../src/accel/js/index.js';
import { createBackend, describeBackend, parseThreads } from '../src/accel/select.js';
import { type WasmBackend, wasmSimdSupported } from '../src/accel/wasm/index.js';

describe('parseThreads', () => {
  it('takes whole numbers from 1 to 256', () => {
    expect(parseThreads('1')).toBe(1);
    expect(parseThreads(' 16 ')).toBe(16);
    expect(parseThreads('256')).toBe(256);
  });

  it('refuses anything else, naming where the value came from', () => {
    for (const bad of ['0', '257', '-2', '1.5', 'two', '', '1e2']) {
      expect(() => parseThreads(bad, 'TRM_THREADS')).toThrow(
        /^TRM_THREADS: expected a whole number of threads from 1 to 256/,
      );
    }
  });
});

describe('createBackend', () => {
  it('gives the reference backend by name, and refuses unknown names', async () => {
    expect(await createBackend('reference')).toBe(reference);
    await expect(createBackend('tpu')).rejects.toThrow(
      /unknown backend 'tpu' \(available: auto, reference, js, wasm, gpujs\)/,
    );
  });

  it('gives the tuned plain-JS backend as js', async () => {
    const js = await createBackend('js');
    expect(js).toBe(jsBackend);
    expect(js.name).toBe('js');
    expect(describeBackend(js)).toBe('js');
  });

  it.runIf(wasmSimdSupported())('makes the WebAssembly backend with the threads asked for, and names it', async () => {
    for (const [name, threads] of [
      ['wasm', 1],
      ['auto', 2],
    ] as const) {
      const be = (await createBackend(name, { threads })) as WasmBackend;
      try {
        const s = be.stats();
        expect(s).toMatchObject({ threads, threadsReady: threads });
        expect(describeBackend(be)).toBe(
          `wasm (${threads} thread${threads === 1 ? '' : 's'}, ${s.fma ? 'fma' : 'mul + add'})`,
        );
      } finally {
        be.close();
      }
    }
    expect(describeBackend(reference)).toBe('reference');
  });
});
