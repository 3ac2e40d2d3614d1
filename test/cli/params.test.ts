/**
 * `trm params`: the parameter checklist, as text and JSON, and (where the official code can run)
 * checked against the official model's state_dict: the same names in the same order, the same
 * shapes, and initial values that follow the declared distributions.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, root, trm } from '../helpers/cli.js';
import { officialRepo, officialSkip, pyEnv, torchPython } from '../helpers/python.js';

interface Row {
  readonly name: string;
  readonly shape: number[];
  readonly kind: 'parameter' | 'buffer';
  readonly layout: { axes: string[]; fused: { part: string; rows: [number, number] }[] };
  readonly init: { dist: 'trunc_normal'; std: number } | { dist: 'zeros' } | { dist: 'constant'; value: number };
}

const params = (config: object): { params: Row[]; trainable_parameters: number } => {
  const r = trm(['params', '--config', JSON.stringify(config), '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
};

const CONFIGS = {
  'attention, RoPE, puzzle embedding': {
    vocab_size: 11,
    seq_len: 16,
    hidden_size: 64,
    num_heads: 4,
    expansion: 2,
    num_puzzle_identifiers: 5,
  },
  'mlp_t, learned positions, 3 layers': {
    vocab_size: 6,
    seq_len: 9,
    hidden_size: 32,
    mlp_t: true,
    pos_encodings: 'learned',
    L_layers: 3,
    puzzle_emb_ndim: 48,
    puzzle_emb_len: 2,
    num_puzzle_identifiers: 3,
  },
  'attention, no positions, no puzzle embedding': {
    vocab_size: 4,
    seq_len: 8,
    hidden_size: 32,
    num_heads: 2,
    pos_encodings: 'none',
    puzzle_emb_ndim: 0,
    puzzle_emb_len: 0,
  },
};

beforeAll(buildCli, 120_000);

describe('trm params', () => {
  it('lists the official names, shapes, layouts and inits, with the fused halves and heads', () => {
    const { params: rows, trainable_parameters } = params(CONFIGS['attention, RoPE, puzzle embedding']);
    const by = new Map(rows.map((r) => [r.name, r]));
    expect(rows.map((r) => r.name).slice(0, 7)).toEqual([
      'inner.H_init',
      'inner.L_init',
      'inner.embed_tokens.embedding_weight',
      'inner.lm_head.weight',
      'inner.q_head.weight',
      'inner.q_head.bias',
      'inner.puzzle_emb.weights',
    ]);
    expect(by.get('inner.L_level.layers.1.self_attn.qkv_proj.weight')).toEqual({
      name: 'inner.L_level.layers.1.self_attn.qkv_proj.weight',
      shape: [192, 64],
      kind: 'parameter',
      layout: {
        axes: ['out', 'in'],
        fused: ['q', 'k', 'v'].map((part, i) => ({
          part,
          rows: [64 * i, 64 * (i + 1)],
          within: { axes: ['head', 'head_dim'], shape: [4, 16] },
        })),
      },
      init: { dist: 'trunc_normal', std: 1 / 8 },
    });
    expect(by.get('inner.L_level.layers.0.mlp.gate_up_proj.weight')!.layout.fused).toEqual([
      { part: 'gate', rows: [0, 256] },
      { part: 'up', rows: [256, 512] },
    ]);
    expect(by.get('inner.L_level.layers.0.mlp.down_proj.weight')!.init).toEqual({ dist: 'trunc_normal', std: 1 / 16 });
    expect(by.get('inner.q_head.weight')!.init).toEqual({ dist: 'zeros' });
    expect(by.get('inner.q_head.bias')!.init).toEqual({ dist: 'constant', value: -5 });
    expect(by.get('inner.puzzle_emb.weights')).toMatchObject({
      kind: 'buffer',
      shape: [5, 64],
      init: { dist: 'zeros' },
    });
    expect(by.get('inner.H_init')).toMatchObject({ kind: 'buffer', init: { dist: 'trunc_normal', std: 1 } });
    const trainable = rows
      .filter((r) => r.kind === 'parameter')
      .reduce((n, r) => n + r.shape.reduce((a, b) => a * b, 1), 0);
    expect(trainable_parameters).toBe(trainable);
  });

  it('prints a table by default, and reads the config from a file', () => {
    const r = trm(['params', '--config', join(root, 'test', 'fixtures', 'configs', 'params-mlp.yaml')]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('inner.L_level.layers.0.mlp_t.gate_up_proj.weight');
    expect(r.stdout).toMatch(/\[out, in\], out rows gate 0:256 \| up 256:512 +truncated normal, std 0\.176777/);
    expect(r.stdout).toMatch(/trainable parameters: [\d,]+ \(buffers excluded\)/);
  });

  it('refuses a bad config with one line naming the field, and exit 2', () => {
    for (const [arg, message] of [
      ['{"vocab_size": 6, "seq_len": 0}', 'trm: --config: seq_len: must be ≥ 1, got 0'],
      ['{"vocab_size": 6', 'trm: --config: not valid JSON'],
      ['missing.yaml', 'trm: missing.yaml: cannot read (ENOENT)'],
    ] as const) {
      const r = trm(['params', '--config', arg]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });

  it.skipIf(officialSkip !== '')(
    `matches the official state_dict and its initial values${officialSkip}`,
    () => {
      for (const [what, config] of Object.entries(CONFIGS)) {
        const ours = params(config).params;
        const r = spawnSync(
          torchPython!,
          [
            join(root, 'tools', 'export_trace.py'),
            '--repo',
            officialRepo!,
            '--list-params',
            '--config',
            JSON.stringify(config),
          ],
          { env: pyEnv, encoding: 'utf8', timeout: 120_000 },
        );
        expect(r.status, r.stderr).toBe(0);
        const official = (
          JSON.parse(r.stdout) as { params: { name: string; shape: number[]; std: number; min: number; max: number }[] }
        ).params;
        expect(
          ours.map((p) => [p.name, p.shape]),
          what,
        ).toEqual(official.map((p) => [p.name, p.shape]));
        official.forEach((o, i) => {
          const init = ours[i]!.init;
          const size = o.shape.reduce((a, b) => a * b, 1);
          if (init.dist === 'zeros') expect([o.min, o.max], o.name).toEqual([0, 0]);
          else if (init.dist === 'constant') expect([o.min, o.max], o.name).toEqual([init.value, init.value]);
          else {
            // The sample std of n values is within a few 1/√(2n) of the true one; truncation at ±2 of
            // the compensated std keeps every value below 2.3 std.
            expect(Math.abs(o.std / init.std - 1), `${what}: ${o.name}`).toBeLessThan(5 / Math.sqrt(2 * size));
            expect(Math.max(-o.min, o.max), o.name).toBeLessThan(2.3 * init.std);
          }
        });
      }
    },
    300_000,
  );
});
