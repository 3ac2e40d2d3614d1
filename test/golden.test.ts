/**
 * The official traces replay: every recorded tensor of every supervision step, gradients
 * included, within the crosscheck tolerance. This is what "correct" means for trm-ts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type FileReport, replayTrace } from '../src/crosscheck/replay.js';
import { readTrace } from '../src/crosscheck/trace.js';
import { createWasmBackend, relaxedSimdSupported } from '../src/accel/wasm/index.js';
import { enableRelaxedSimd } from '../src/accel/wasm/relaxed-simd.js';
import { formatBoundaryError } from '../src/io/errors.js';

const dir = join(import.meta.dirname, 'fixtures', 'official');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();

const describeFailure = (rep: FileReport): string =>
  rep.firstDivergence === null
    ? ''
    : `first divergence at step ${rep.firstDivergence.step}, ${rep.firstDivergence.tensor}: max abs err ${rep.firstDivergence.maxAbsErr}, rel ${rep.firstDivergence.relErr}`;

describe('official golden traces', () => {
  it('has the six official traces', () => {
    expect(files).toHaveLength(6);
  });

  // The official six, plus traces made with tools/export_trace.py from the official code.
  const exportedDir = join(import.meta.dirname, 'fixtures', 'exported');
  const all = [
    ...files.map((f) => join(dir, f)),
    ...readdirSync(exportedDir)
      .filter((f) => f.endsWith('.safetensors'))
      .map((f) => join(exportedDir, f)),
  ];
  for (const path of all) {
    const f = path.slice(path.lastIndexOf('fixtures/') + 'fixtures/'.length);
    it(`${f} replays teacher-forced within tolerance`, () => {
      const t = readTrace(path);
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      const rep = replayTrace(t.right, { mode: 'teacher-forced' });
      expect(rep.rows.length).toBeGreaterThanOrEqual(10 * t.right.steps);
      expect(describeFailure(rep)).toBe('');
      expect(rep.ok).toBe(true);
      // Every step of a train trace compares gradients.
      if (t.right.mode === 'train') expect(rep.rows.some((r) => r.tensor === 'grad/inner.lm_head.weight')).toBe(true);
    });
  }

  for (const f of files.filter((name) => name.includes('attn'))) {
    it(`${f} replays free-running within tolerance`, () => {
      const t = readTrace(join(dir, f));
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      const rep = replayTrace(t.right, { mode: 'free-running' });
      expect(describeFailure(rep)).toBe('');
    });
  }
});

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
  for (const f of files) {
    it(`${f} replays teacher-forced within tolerance`, async () => {
      const t = readTrace(join(dir, f));
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
