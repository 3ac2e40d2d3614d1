/**
 * The official traces replay: every recorded tensor of every supervision step (every update of the
 * recursion, gradients included) and of every optimizer step of the recorded training runs
 * (learning rates, AdamATan2 moments, parameters, puzzle embedding, EMA), within the crosscheck
 * tolerance. This is what "correct" means for trm-ts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type FileReport, replayTrace } from '../src/crosscheck/replay.js';
import { readTrace } from '../src/crosscheck/trace-file.js';
import { formatBoundaryError } from '../src/io/errors.js';

const dir = join(import.meta.dirname, 'fixtures', 'official');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();

// The official six, traces made with tools/export_trace.py from the official code, and training runs.
const exportedDir = join(import.meta.dirname, 'fixtures', 'exported');
const runDir = join(import.meta.dirname, 'fixtures', 'train-run');
const inDir = (d: string) =>
  readdirSync(d)
    .filter((f) => f.endsWith('.safetensors'))
    .sort()
    .map((f) => join(d, f));
const runs = inDir(runDir);
const all = [...files.map((f) => join(dir, f)), ...inDir(exportedDir), ...runs];

const describeFailure = (rep: FileReport): string =>
  rep.firstDivergence === null
    ? ''
    : `first divergence at step ${rep.firstDivergence.step}, ${rep.firstDivergence.tensor}: max abs err ${rep.firstDivergence.maxAbsErr}, rel ${rep.firstDivergence.relErr}`;

describe('official golden traces', () => {
  it('has the six official traces', () => {
    expect(files).toHaveLength(6);
  });

  for (const path of all) {
    const f = path.slice(path.lastIndexOf('fixtures/') + 'fixtures/'.length);
    it(`${f} replays teacher-forced within tolerance`, () => {
      const t = readTrace(path);
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      const rep = replayTrace(t.right, { mode: 'teacher-forced' });
      expect(rep.rows.length).toBeGreaterThanOrEqual(10 * t.right.steps);
      expect(describeFailure(rep)).toBe('');
      expect(rep.ok).toBe(true);
      // Every step of a train trace compares gradients; every trm-trace/2 trace every update of the recursion.
      if (t.right.mode !== 'eval') expect(rep.rows.some((r) => r.tensor === 'grad/inner.lm_head.weight')).toBe(true);
      const T = t.right.config.T;
      const n = t.right.config.n;
      expect(rep.rows.filter((r) => r.step === 0 && r.cycle !== null && !r.tensor.includes('/block/'))).toHaveLength(
        T * (n + 1),
      );
      if (t.right.mode === 'train-run') {
        expect(rep.rows.some((r) => r.tensor === 'params/inner.lm_head.weight')).toBe(true);
        expect(rep.rows.some((r) => r.tensor === 'lr')).toBe(true);
      }
    });
  }

  for (const path of runs.filter((p) => !p.includes('mlp_t') && !p.includes('halt1'))) {
    it(`${path.slice(path.lastIndexOf('/') + 1)} replays free-running within tolerance`, () => {
      const t = readTrace(path);
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      expect(describeFailure(replayTrace(t.right, { mode: 'free-running' }))).toBe('');
    });
  }

  // trm-trace/1 files (no recursion probes) still replay: two reference traces as first recorded.
  for (const path of inDir(join(import.meta.dirname, 'fixtures', 'v1'))) {
    it(`trm-trace/1 ${path.slice(path.lastIndexOf('/') + 1)} replays teacher-forced within tolerance`, () => {
      const t = readTrace(path);
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      expect(t.right.format).toBe('trm-trace/1');
      const rep = replayTrace(t.right);
      expect(describeFailure(rep)).toBe('');
      expect(rep.rows.some((r) => r.cycle !== null || r.tensor === 'x')).toBe(false);
      expect(rep.rows.length).toBeGreaterThanOrEqual(10 * t.right.steps);
    });
  }

  it('names the step, cycle and update where a deliberate change to the official code first acts', () => {
    // Recorded from a copy of the official code whose second latent update of the cycle with
    // gradient sees x scaled by 1.001 (tools/record_fixtures.sh).
    const t = readTrace(join(import.meta.dirname, 'fixtures', 'mutated', 'x_scaled_cycle2_update1.safetensors'));
    if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
    expect(t.right.metadata['source']).toMatch(/\+local-changes$/);
    const rep = replayTrace(t.right);
    expect(rep.ok).toBe(false);
    expect(rep.firstDivergence).toMatchObject({ step: 0, cycle: 2, update: 1, tensor: 'z_L' });
    // Everything computed before it agrees.
    const i = rep.rows.indexOf(rep.firstDivergence!);
    expect(rep.rows.slice(0, i).map((r) => r.tensor)).toEqual([
      'x',
      'z_L',
      'z_L',
      'z_L',
      'z_H',
      'z_L',
      'z_L',
      'z_L',
      'z_H',
      'z_L',
    ]);
  });

  for (const f of files.filter((name) => name.includes('attn'))) {
    it(`${f} replays free-running within tolerance`, () => {
      const t = readTrace(join(dir, f));
      if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
      const rep = replayTrace(t.right, { mode: 'free-running' });
      expect(describeFailure(rep)).toBe('');
    });
  }
});
