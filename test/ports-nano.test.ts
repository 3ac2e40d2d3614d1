/**
 * A third-party port checked end to end (docs/ports.md): olivkoch/nano-trm's own model code, run
 * by tools/ports/record_nano_trm.py on the weights and batches of a trm-ts reference written in
 * its names (`trm trace --layout tools/ports/nano-trm.yaml`). Its supervision steps (forward,
 * halting, losses, gradients) agree with trm-ts; its training loop parts at the first optimizer
 * step, where it clips the gradient norm to 1 and starts its learning-rate warmup at 0. Runs where
 * a nano-trm checkout and torch are available (TRM_NANO_REPO).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../src/io/safetensors.js';
import { storage } from '../src/tensor/tensor.js';
import { buildCli, root, trm } from './helpers/cli.js';
import { applyLayoutMap, decodeLayoutMap } from '../src/crosscheck/layout-map.js';
import { nanoRepo, nanoSkip, officialRepo, officialSkip, pyEnv, scratch, torchPython } from './helpers/python.js';

const MAP = join(root, 'tools', 'ports', 'nano-trm.yaml');
const BASE = {
  vocab_size: 6,
  seq_len: 9,
  hidden_size: 16,
  num_heads: 2,
  batch_size: 3,
  puzzle_emb_ndim: 16,
  num_puzzle_identifiers: 3,
  halt_max_steps: 3,
  halt_exploration_prob: 0,
};

interface Row {
  step: number;
  tensor: string;
  ok: boolean;
}
interface Report {
  ok: boolean;
  files: { ok: boolean; rows: Row[]; first_divergence: Row | null; not_comparable: string[] }[];
}

/** The reference in nano-trm's names, then nano-trm's own trace of the same weights and data. */
const record = (name: string, config: object, args: readonly string[]): { ref: string; nano: string } => {
  const ref = join(scratch, `${name}.ref.safetensors`);
  const nano = join(scratch, `${name}.nano.safetensors`);
  const t = trm(['trace', '--config', JSON.stringify(config), '--seed', '5', ...args, '--layout', MAP, '--out', ref]);
  expect(t.status, t.stderr).toBe(0);
  const r = spawnSync(
    torchPython!,
    [join(root, 'tools', 'ports', 'record_nano_trm.py'), '--repo', nanoRepo!, '--reference', ref, '--out', nano],
    { env: pyEnv, encoding: 'utf8', timeout: 120_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return { ref, nano };
};

const crosscheck = (file: string): Report['files'][number] => {
  const r = trm(['crosscheck', file, '--json']);
  expect([0, 1]).toContain(r.status);
  return (JSON.parse(r.stdout) as Report).files[0]!;
};

const file = (path: string) => {
  const st = decodeSafetensors(readFileSync(path), path);
  if (E.isLeft(st)) throw new Error(st.left.message);
  return st.right;
};
const tensors = (path: string) => file(path).tensors;

/** got ≈ scale · ref within trm-ts's tensor tolerance: 1e-4 of the largest value, plus 1e-7. */
const expectClose = (name: string, got: ArrayLike<number>, ref: ArrayLike<number>, scale: number): void => {
  const want = Array.from(ref, (v) => v * scale);
  const tol = 1e-4 * Math.max(...want.map(Math.abs)) + 1e-7;
  const worst = Math.max(...want.map((v, i) => Math.abs(got[i]! - v)));
  expect(worst, name).toBeLessThanOrEqual(tol);
};

beforeAll(() => {
  if (nanoSkip === '') buildCli();
}, 120_000);

describe.skipIf(nanoSkip !== '')(`olivkoch/nano-trm${nanoSkip}`, () => {
  it.each([
    ['attention, RoPE', 'train', BASE],
    ['attention, RoPE', 'eval', BASE],
    [
      'MLP-t, no positions, a 2-position prefix',
      'train',
      { ...BASE, mlp_t: true, pos_encodings: 'none', puzzle_emb_ndim: 8, puzzle_emb_len: 2 },
    ],
  ] as const)(
    '%s, %s: every supervision step agrees with trm-ts',
    (what, mode, config) => {
      const { ref, nano } = record(`${mode}-${what.slice(0, 4)}`, config, ['--mode', mode]);
      const rep = crosscheck(nano);
      expect(rep.first_divergence, what).toBe(null);
      expect(rep.rows.length).toBeGreaterThan(50);
      expect(rep.not_comparable).toContain('q_continue_logits');
      if (!what.startsWith('MLP-t')) {
        // File against file, as a port's own test compares; MLP-t's free-running float32 rounding
        // growth is documented in docs/crosscheck.md.
        const check = spawnSync(torchPython!, [join(root, 'tools', 'trm_check.py'), ref, nano], {
          env: pyEnv,
          encoding: 'utf8',
        });
        expect(check.status, check.stdout).toBe(0);
      }
    },
    300_000,
  );

  it('a training run parts at the first optimizer step: a learning rate of 0 and the gradient clipped to norm 1', () => {
    const { ref, nano } = record('run', { ...BASE, halt_exploration_prob: 0.5 }, [
      '--mode',
      'train-run',
      '--steps',
      '3',
    ]);
    const rep = crosscheck(nano);
    const d = rep.first_divergence!;
    expect([d.step, d.tensor]).toEqual([0, 'lr']);
    // Everything the first step computes before the optimizer agrees.
    const before = rep.rows.filter(
      (r) => r.step === 0 && !/^(lr|puzzle_emb_lr|grad\/|params\/|exp_avg|ema)/.test(r.tensor),
    );
    expect(before.length).toBeGreaterThan(20);
    expect(before.filter((r) => !r.ok)).toEqual([]);
    const ours = tensors(ref);
    const theirs = tensors(nano);
    expect(storage(theirs.get('step/0/lr')!)[0]).toBe(0);
    expect(storage(ours.get('step/0/lr')!)[0]).toBeGreaterThan(0);
    // One factor scales every trained gradient to a global norm of 1 (torch's clip_grad_norm_,
    // 1 / (norm + 1e-6)), within trm-ts's tensor tolerance; the puzzle rows, outside
    // model.parameters(), are not clipped.
    const grads = [...ours].filter(([n]) => n.startsWith('grad/0/') && !n.endsWith('local_weights'));
    const norm = Math.sqrt(
      grads.reduce((acc, [, g]) => acc + Array.from(storage(g)).reduce((a, v) => a + v * v, 0), 0),
    );
    expect(norm).toBeGreaterThan(1);
    const scale = 1 / (norm + 1e-6);
    for (const [name, g] of grads) expectClose(name, storage(theirs.get(name)!), storage(g), scale);
    const lw = 'grad/0/puzzle_emb.local_weights';
    expectClose(lw, storage(theirs.get(lw)!), storage(ours.get(lw)!), 1);
  }, 300_000);

  it.skipIf(officialSkip !== '')(
    `its model is the official one bit for bit: the same weights and batch give the same trace${officialSkip}`,
    () => {
      for (const [what, config] of [
        ['attention', BASE],
        ['MLP-t', { ...BASE, mlp_t: true, pos_encodings: 'none', puzzle_emb_ndim: 8, puzzle_emb_len: 2 }],
      ] as const) {
        const { nano } = record(`bits-${what}`, config, ['--mode', 'train']);
        const ours = join(scratch, `bits-${what}.official-names.safetensors`);
        const official = join(scratch, `bits-${what}.official.safetensors`);
        const t = trm(['trace', '--config', JSON.stringify(config), '--seed', '5', '--mode', 'train', '--out', ours]);
        expect(t.status, t.stderr).toBe(0);
        const r = spawnSync(
          torchPython!,
          [join(root, 'tools', 'export_trace.py'), '--repo', officialRepo!, '--init-from', ours, '--out', official],
          { env: pyEnv, encoding: 'utf8', timeout: 120_000 },
        );
        expect(r.status, r.stderr).toBe(0);
        const map = decodeLayoutMap(JSON.parse(file(nano).metadata.layout!), nano);
        if (E.isLeft(map)) throw new Error(map.left.message);
        const mapped = applyLayoutMap(file(nano), map.right, nano);
        if (E.isLeft(mapped)) throw new Error(mapped.left.message);
        const theirs = tensors(official);
        let compared = 0;
        for (const [name, t] of mapped.right.file.tensors) {
          const want = theirs.get(name);
          if (want === undefined) continue;
          // nano-trm's Q head is the official halt row; the continue row is not its own.
          const rows = name.endsWith('q_head.weight') || name.endsWith('q_head.bias') ? 1 : t.shape[0]!;
          const n = (storage(t).length / (t.shape[0] ?? 1)) * rows;
          expect(Array.from(storage(t).slice(0, n)), `${what}: ${name}`).toEqual(Array.from(storage(want).slice(0, n)));
          compared++;
        }
        expect(compared, what).toBeGreaterThan(150);
      }
    },
    300_000,
  );
});
