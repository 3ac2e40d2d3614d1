/**
 * The golden replays of test/golden.test.ts with the kernels on the other backends (js, wasm in
 * both builds, gpu.js in cpu mode): the model code does not change, only the kernels.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type FileReport, replayTrace } from '../src/crosscheck/replay.js';
import { readTrace } from '../src/crosscheck/trace-file.js';
import { createWasmBackend, relaxedSimdSupported } from '../src/accel/wasm/index.js';
import { enableRelaxedSimd } from '../src/accel/wasm/relaxed-simd.js';
import { formatBoundaryError } from '../src/io/errors.js';

const inDir = (d: string) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.safetensors'))
    .sort()
    .map((f) => join(d, f));
const fixtures = join(import.meta.dirname, 'fixtures');
const all = ['official', 'exported', 'train-run'].flatMap((d) => inDir(join(fixtures, d)));

const describeFailure = (rep: FileReport): string =>
  rep.firstDivergence === null
    ? ''
    : `first divergence at step ${rep.firstDivergence.step}, ${rep.firstDivergence.tensor}: max abs err ${rep.firstDivergence.maxAbsErr}, rel ${rep.firstDivergence.relErr}`;

// This file runs in its own process (vitest pool: forks): relaxed SIMD on, as bin/trm.js sets it, so
// that the fused multiply-add build of the WebAssembly product replays the traces too.
enableRelaxedSimd();
const wasmBuilds = [false, ...(relaxedSimdSupported() ? [true] : [])].map(
  (fma) => [fma ? 'wasm (fma build)' : 'wasm', async () => createWasmBackend({ fma })] as const,
);

/** The same replays with the kernels on the other backends: the model code does not change. */
describe.each([
  ['js', async () => (await import('../src/accel/js/index.js')).jsBackend] as const,
  ...wasmBuilds,
  [
    'gpujs (cpu mode)',
    async () => (await import('../src/accel/gpujs/index.js')).createGpuJsBackend({ mode: 'cpu' }),
  ] as const,
])('official golden traces on the %s backend', (_name, make) => {
  for (const path of all) {
    it(`${path.slice(path.lastIndexOf('fixtures/') + 9)} replays teacher-forced within tolerance`, async () => {
      const t = readTrace(path);
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      const backend = await make();
      try {
        const rep = replayTrace(t.right, { mode: 'teacher-forced', backend });
        expect(describeFailure(rep)).toBe('');
      } finally {
        backend.close();
      }
    });
  }
});
