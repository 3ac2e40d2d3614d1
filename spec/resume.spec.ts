/**
 * Resume law: N steps, then resume from the checkpoint for N more, gives exactly the bytes of 2N
 * uninterrupted steps (checkpoint and log).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { reference } from '../src/backend/reference.js';
import { loadCheckpoint } from '../src/train/checkpoint-file.js';
import { PRESETS } from '../src/train/presets.js';
import { runTraining } from '../src/train/run.js';

const preset = PRESETS.sudoku4!;
const small = {
  arch: {
    ...preset.arch,
    hidden_size: 16,
    puzzle_emb_ndim: 16,
    batch_size: 8,
    halt_max_steps: 3,
    halt_exploration_prob: 0.5,
  },
  hyper: { ...preset.hyper, global_batch_size: 8, lr_warmup_steps: 2, total_steps: 20, ema: true },
  data: { trainCount: 40, testCount: 10 },
};
const quiet = { update: () => undefined, done: () => undefined };

const run = (out: string, steps: number, resumeFrom: string | null) => {
  const resume = resumeFrom === null ? null : loadCheckpoint(resumeFrom);
  if (resume !== null && E.isLeft(resume)) throw new Error(resume.left.message);
  const r = runTraining({
    preset,
    ...small,
    steps,
    out,
    resume: resume === null ? null : resume.right,
    timeBudgetS: null,
    checkpointEvery: 1000,
    progress: quiet,
    backend: reference,
  });
  if (E.isLeft(r)) throw new Error(r.left);
  return r.right;
};

describe('resume', () => {
  it('N + N steps equal 2N steps, byte for byte', () => {
    const N = 3;
    const a = mkdtempSync(join(tmpdir(), 'trm-resume-a-'));
    const b = mkdtempSync(join(tmpdir(), 'trm-resume-b-'));
    run(a, 2 * N, null);
    run(b, N, null);
    run(b, 2 * N, join(b, 'checkpoint.safetensors'));
    const ca = readFileSync(join(a, 'checkpoint.safetensors'));
    const cb = readFileSync(join(b, 'checkpoint.safetensors'));
    expect(cb.length).toBe(ca.length);
    expect(Buffer.compare(ca, cb)).toBe(0);
    // The log of the resumed run continues the first one: same lines except the elapsed time.
    const strip = (f: string) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => ({ ...JSON.parse(l), elapsed_s: 0 }));
    expect(strip(join(b, 'log.jsonl'))).toEqual(strip(join(a, 'log.jsonl')));
  });

  it('a different seed gives a different run (the law above is not vacuous)', () => {
    const a = mkdtempSync(join(tmpdir(), 'trm-resume-c-'));
    const r1 = run(a, 2, null);
    const r2 = runTraining({
      preset,
      ...small,
      hyper: { ...small.hyper, seed: 7 },
      steps: 2,
      out: mkdtempSync(join(tmpdir(), 'trm-resume-d-')),
      resume: null,
      timeBudgetS: null,
      checkpointEvery: 1000,
      progress: quiet,
      backend: reference,
    });
    if (E.isLeft(r2)) throw new Error(r2.left);
    expect(r1.log[1]!.loss).not.toBe(r2.right.log[1]!.loss);
  });
});
