/**
 * `trm trace` as users run it: a trace trm-ts writes replays with error 0 (`trm crosscheck`), a
 * batch can come from another file, bad input gives one line and exit 2; and, where the official
 * code can run, the official recorder given the same weights and batch (`--init-from`) records a
 * trace that trm-ts replays within tolerance. With a layout map the trace is in a port's names.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../../src/io/safetensors.js';
import { buildCli, root, trm } from '../helpers/cli.js';
import { officialRepo, officialSkip, pyEnv, scratch, torchPython } from '../helpers/python.js';

const CONFIGS: Record<string, object> = {
  'attention, RoPE': { vocab_size: 6, seq_len: 9, hidden_size: 16, num_heads: 2, batch_size: 3, halt_max_steps: 3 },
  // MLP-t grows float32 rounding at every update (docs/crosscheck.md): two cycles of three updates.
  'mlp_t, learned positions, Q-continue': {
    H_cycles: 2,
    L_cycles: 3,
    vocab_size: 5,
    seq_len: 6,
    hidden_size: 16,
    batch_size: 4,
    mlp_t: true,
    pos_encodings: 'learned',
    no_ACT_continue: false,
    halt_max_steps: 3,
    num_puzzle_identifiers: 3,
  },
  'attention, learned positions, Q-continue': {
    vocab_size: 5,
    seq_len: 7,
    hidden_size: 16,
    num_heads: 2,
    batch_size: 3,
    pos_encodings: 'learned',
    no_ACT_continue: false,
    halt_max_steps: 3,
    num_puzzle_identifiers: 2,
  },
  'attention, no positions, no puzzle embedding': {
    vocab_size: 4,
    seq_len: 8,
    hidden_size: 16,
    num_heads: 4,
    batch_size: 2,
    pos_encodings: 'none',
    puzzle_emb_ndim: 0,
    puzzle_emb_len: 0,
    L_layers: 1,
    halt_max_steps: 2,
  },
};

interface Report {
  ok: boolean;
  files: { ok: boolean; rows: { max_abs_err: number }[] }[];
}

const crosscheck = (file: string): Report => {
  const r = trm(['crosscheck', file, '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Report;
};

beforeAll(buildCli, 120_000);

describe('trm trace', () => {
  it.each(['train', 'eval', 'train-run'])('writes a %s trace that trm crosscheck replays with error 0', (mode) => {
    const out = join(scratch, `own-${mode}.safetensors`);
    const config = JSON.stringify({ ...CONFIGS['mlp_t, learned positions, Q-continue'], halt_exploration_prob: 0.5 });
    const extra = mode === 'train-run' ? ['--train', '{"ema": true, "total_steps": 2}', '--blocks'] : [];
    const r = trm(['trace', '--config', config, '--seed', '4', '--mode', mode, '--steps', '3', '--out', out, ...extra]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^wrote .*: ${mode}, 3 `));
    // Train and eval traces run without exploration, and say so.
    expect(r.stderr).toBe(
      mode === 'train-run'
        ? ''
        : 'trm trace: halt_exploration_prob 0.5 replaced by 0 (a train or eval trace runs without exploration)\n',
    );
    const report = crosscheck(out);
    expect(report.ok).toBe(true);
    const rows = report.files[0]!.rows;
    expect(rows.length).toBeGreaterThan(20);
    expect(rows.every((row) => row.max_abs_err === 0)).toBe(true);
  });

  it('takes the batch from another file, and refuses one that does not fit the config', () => {
    const first = join(scratch, 'first.safetensors');
    const config = JSON.stringify(CONFIGS['attention, RoPE']);
    expect(trm(['trace', '--config', config, '--seed', '1', '--out', first]).status).toBe(0);
    const second = join(scratch, 'second.safetensors');
    const r = trm(['trace', '--config', config, '--seed', '2', '--batch', first, '--mode', 'eval', '--out', second]);
    expect(r.status, r.stderr).toBe(0);
    const bad = trm([
      'trace',
      '--config',
      JSON.stringify({ ...CONFIGS['attention, RoPE'], batch_size: 5 }),
      '--batch',
      first,
      '--out',
      second,
    ]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`${first}: batch/inputs: shape [3,9], expected [5,9]`);
  });

  it("writes a trace in a port's names by a layout map, which trm crosscheck reads back with error 0", () => {
    const out = join(scratch, 'nano-names.safetensors');
    const config = JSON.stringify({
      ...CONFIGS['attention, RoPE'],
      puzzle_emb_ndim: 16,
      num_puzzle_identifiers: 3,
      halt_exploration_prob: 0,
    });
    const map = join(root, 'tools', 'ports', 'nano-trm.yaml');
    const r = trm(['trace', '--config', config, '--seed', '3', '--layout', map, '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'left out (the layout map says the port lacks them): inner.q_head.weight (rows 1 to 1), inner.q_head.bias (rows 1 to 1), q_continue_logits',
    );
    const st = decodeSafetensors(readFileSync(out), out);
    if (E.isLeft(st)) throw new Error(st.left.message);
    const params = [...st.right.tensors.keys()].filter((n) => n.startsWith('params/'));
    expect(params).toContain('params/lenet.layers.0.self_attn.qkv_proj.weight');
    expect(params).toContain('params/z_H_init');
    expect(params).toContain('params/puzzle_emb.weights');
    expect(params.filter((n) => n.startsWith('params/inner.'))).toEqual([]);
    expect(st.right.tensors.get('params/q_head.weight')!.shape).toEqual([1, 16]);
    expect([...st.right.tensors.keys()].filter((n) => n.endsWith('q_continue_logits'))).toEqual([]);
    // The map travels in the metadata: no --layout needed to read the file back.
    const back = trm(['crosscheck', out, '--json']);
    expect(back.status, back.stderr).toBe(0);
    const report = JSON.parse(back.stdout) as Report & { files: { not_comparable: string[] }[] };
    expect(report.files[0]!.rows.every((row) => row.max_abs_err === 0)).toBe(true);
    expect(report.files[0]!.not_comparable).toContain('q_continue_logits');

    const json = trm(['trace', '--config', config, '--seed', '3', '--layout', map, '--out', out, '--json']);
    expect(json.status, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      out,
      mode: 'train',
      steps: 4,
      seed: 3,
      tensors: st.right.tensors.size,
      layout: map,
      left_out: ['inner.q_head.weight (rows 1 to 1)', 'inner.q_head.bias (rows 1 to 1)', 'q_continue_logits'],
    });

    const bad = join(scratch, 'one-way.yaml');
    writeFileSync(bad, 'rows:\n  inner.q_head.weight: halt.weight\n');
    const refused = trm(['trace', '--config', config, '--layout', bad, '--out', out]);
    expect(refused.status).toBe(2);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`${bad}: rows.inner.q_head.weight: give {name, count}`);
  });

  it('refuses bad arguments with one line and exit 2', () => {
    const config = JSON.stringify(CONFIGS['attention, RoPE']);
    const out = join(scratch, 'never.safetensors');
    for (const [args, message] of [
      [['--train', '{"lr": 1}'], '--train needs --mode train-run'],
      [['--mode', 'train-run', '--train', '{"learning_rate": 1}'], '--train: learning_rate: not a training field'],
      [['--mode', 'train-run', '--train', '{"lr": -1}'], '--train: lr'],
      [['--seed', '-1'], "--seed: expected an integer ≥ 0, got '-1'"],
      [['--steps', '0'], "--steps: expected a positive integer, got '0'"],
      [['--batch', 'missing.safetensors'], 'missing.safetensors: (file): no such file'],
    ] as const) {
      const r = trm(['trace', '--config', config, '--out', out, ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });

  it.skipIf(officialSkip !== '')(
    `the official code, given trm-ts's weights and batch, agrees${officialSkip}`,
    () => {
      for (const [what, config] of Object.entries(CONFIGS)) {
        const ours = join(scratch, `ours-${Object.keys(CONFIGS).indexOf(what)}.safetensors`);
        const official = `${ours}.official.safetensors`;
        expect(
          trm(['trace', '--config', JSON.stringify({ ...config, halt_exploration_prob: 0 }), '--out', ours]).status,
        ).toBe(0);
        const r = spawnSync(
          torchPython!,
          [join(root, 'tools', 'export_trace.py'), '--repo', officialRepo!, '--init-from', ours, '--out', official],
          { env: pyEnv, encoding: 'utf8', timeout: 120_000 },
        );
        expect(r.status, `${what}: ${r.stderr}`).toBe(0);
        expect(crosscheck(official).ok, what).toBe(true);
        // File against file, as a port's own test compares (free-running, with trm_check.py). MLP-t
        // grows float32 rounding about tenfold per supervision step (docs/crosscheck.md): its first
        // two steps agree, later ones leave the 1e-4 tolerance, as free-running replays of the
        // official MLP-t fixtures do.
        const check = spawnSync(torchPython!, [join(root, 'tools', 'trm_check.py'), official, ours, '--json'], {
          env: pyEnv,
          encoding: 'utf8',
        });
        const first = (JSON.parse(check.stdout) as { first_divergence: { step: number } | null }).first_divergence;
        if (what.startsWith('mlp_t')) expect(first?.step ?? Infinity, what).toBeGreaterThanOrEqual(2);
        else expect([check.status, first], what).toEqual([0, null]);
      }
      // The official recorder writes a port's names too; trm crosscheck reads the file as it is.
      const ours = join(scratch, 'ours-0.safetensors');
      const inPort = join(scratch, 'official-nano-names.safetensors');
      const map = join(root, 'tools', 'ports', 'nano-trm.yaml');
      const r = spawnSync(
        torchPython!,
        [
          join(root, 'tools', 'export_trace.py'),
          '--repo',
          officialRepo!,
          '--init-from',
          ours,
          '--layout',
          map,
          '--out',
          inPort,
        ],
        { env: pyEnv, encoding: 'utf8', timeout: 120_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(
        'left out (the layout map says the port lacks them): inner.q_head.weight (rows 1 to 1)',
      );
      expect(crosscheck(inPort).ok).toBe(true);
    },
    300_000,
  );
});
