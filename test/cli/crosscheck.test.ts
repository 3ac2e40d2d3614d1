import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.js';
import { fromStorage, storage } from '../../src/tensor/tensor.js';
import * as E from 'fp-ts/lib/Either.js';
import { buildCli, root, trm } from '../helpers/cli.js';

const fixture = (name: string) => join(root, 'test', 'fixtures', 'official', name);

beforeAll(buildCli, 120_000);

describe('trm crosscheck', () => {
  it('exits 0 and prints one JSON object for matching traces', () => {
    const r = trm([
      'crosscheck',
      fixture('maze_attn_learned_train.safetensors'),
      fixture('arc_attn_rope_eval.safetensors'),
      '--json',
    ]);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      ok: boolean;
      files: { file: string; ok: boolean; first_divergence: unknown; rows: unknown[] }[];
    };
    expect(doc.ok).toBe(true);
    expect(doc.files).toHaveLength(2);
    for (const f of doc.files) {
      expect(f.ok).toBe(true);
      expect(f.first_divergence).toBeNull();
      expect(f.rows.length).toBeGreaterThan(0);
    }
  });

  it('prints one row per tensor kind and step, and names the first divergence of a tampered trace (exit 1)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trm-cc-'));
    const src = fixture('maze_attn_learned_train.safetensors');
    const st = decodeSafetensors(readFileSync(src), src);
    if (E.isLeft(st)) throw new Error('fixture unreadable');
    const entries = [...st.right.tensors].map(([name, tensor]) => {
      if (name !== 'step/1/logits') return { name, tensor, dtype: st.right.dtypes.get(name)! };
      const d = storage(tensor).slice();
      d[7] = d[7]! + 0.5; // a wrong logit at step 1
      return { name, tensor: fromStorage(tensor.shape, d), dtype: st.right.dtypes.get(name)! };
    });
    const bad = join(dir, 'tampered.safetensors');
    writeFileSync(bad, encodeSafetensors(entries, st.right.metadata));
    const r = trm(['crosscheck', bad]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FIRST DIVERGENCE: step 1 · logits/);
    expect(r.stdout).toMatch(/ok {3}step 0 · z_H/);
    const j = trm(['crosscheck', bad, '--json']);
    expect(j.status).toBe(1);
    const doc = JSON.parse(j.stdout) as {
      ok: boolean;
      files: { first_divergence: { step: number; tensor: string } }[];
    };
    expect(doc.ok).toBe(false);
    expect(doc.files[0]!.first_divergence).toMatchObject({ step: 1, cycle: null, update: null, tensor: 'logits' });
  });

  it('bad input: a missing file, a non-trace, a truncated file → one line naming the file, exit 2', () => {
    const dir = mkdtempSync(join(tmpdir(), 'trm-cc-'));
    const missing = trm(['crosscheck', join(dir, 'nope.safetensors')]);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('nope.safetensors');

    const notTrace = join(dir, 'plain.safetensors');
    writeFileSync(
      notTrace,
      encodeSafetensors([{ name: 'w', tensor: fromStorage([1], new Float32Array([1])) }], { format: 'something-else' }),
    );
    const r2 = trm(['crosscheck', notTrace]);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/plain\.safetensors: __metadata__\.format/);

    const truncated = join(dir, 'cut.safetensors');
    copyFileSync(fixture('arc_attn_rope_eval.safetensors'), truncated);
    writeFileSync(truncated, readFileSync(truncated).subarray(0, 5000));
    const r3 = trm(['crosscheck', truncated]);
    expect(r3.status).toBe(2);
    expect(r3.stderr).toContain('cut.safetensors');
    expect(r3.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('replays training runs, and names the step, cycle and update where a changed official code parts', () => {
    const runs = ['explore_ema_rope', 'continue_learned_wide_puzzle', 'no_puzzle_none_halt1'].map((n) =>
      join(root, 'test', 'fixtures', 'train-run', `${n}.safetensors`),
    );
    const ok = trm(['crosscheck', ...runs, '--json']);
    expect(ok.status).toBe(0);
    const doc = JSON.parse(ok.stdout) as { files: { trace_mode: string; ok: boolean }[] };
    expect(doc.files.map((f) => [f.trace_mode, f.ok])).toEqual(runs.map(() => ['train-run', true]));

    const mutated = join(root, 'test', 'fixtures', 'mutated', 'x_scaled_cycle2_update1.safetensors');
    const j = trm(['crosscheck', mutated, '--json']);
    expect(j.status).toBe(1);
    const first = (JSON.parse(j.stdout) as { files: { first_divergence: unknown }[] }).files[0]!.first_divergence;
    expect(first).toMatchObject({ step: 0, cycle: 2, update: 1, tensor: 'z_L', ok: false });
    const t = trm(['crosscheck', mutated]);
    expect(t.status).toBe(1);
    expect(t.stdout).toContain('FIRST DIVERGENCE: step 0 · cycle 2 · latent update 1 · z_L');
  });

  it('takes tolerances per tensor class, and a layout map whose missing tensors are reported as not comparable', () => {
    const f = fixture('arc_attn_rope_eval.safetensors');
    expect(trm(['crosscheck', f]).status).toBe(0);
    expect(trm(['crosscheck', f, '--rtol', '0', '--atol', '0']).status).toBe(1);
    expect(
      trm(['crosscheck', f, '--rtol', '1e-3', '--loss-rtol', '1e-3', '--update-rtol', '0', '--update-ulps', '0'])
        .status,
    ).toBe(0);
    const bad = trm(['crosscheck', f, '--rtol', '-1']);
    expect([bad.status, bad.stderr.trim()]).toEqual([2, "trm: --rtol: expected a number ≥ 0, got '-1'"]);

    const dir = mkdtempSync(join(tmpdir(), 'trm-map-'));
    const map = join(dir, 'map.yaml');
    writeFileSync(map, '# the port records no continue logit\nmissing: [q_continue_logits]\n');
    const r = trm(['crosscheck', f, '--layout', map, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { files: { not_comparable: string[] }[] }).files[0]!.not_comparable).toEqual([
      'q_continue_logits',
    ]);
    expect(trm(['crosscheck', f, '--layout', map]).stdout).toContain(
      'not comparable (the layout map says the recording lacks them): q_continue_logits',
    );
    writeFileSync(map, 'transpose: inner.lm_head.weight\n');
    const wrong = trm(['crosscheck', f, '--layout', map]);
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain(`${map}: transpose`);
  });

  it('has --help with examples', () => {
    const r = trm(['crosscheck', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--mode');
    expect(r.stdout).toContain('Examples');
  });
});
