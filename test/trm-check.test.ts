/**
 * tools/trm_check.py, the NumPy-only checker a port's Python tests import: on the same pair of
 * traces it gives the same rows, errors and first divergence as `trm crosscheck --mode
 * free-running`; a tampered candidate fails at the tampered tensor (exit 1); a candidate run on
 * other weights is bad input (exit 2). Needs a python3 with numpy (Debian: python3-numpy).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, root, trm } from './helpers/cli.js';
import { numpyPython, pyEnv, scratch } from './helpers/python.js';

const checker = join(root, 'tools', 'trm_check.py');
const skip = numpyPython === undefined ? ' (skipped: no python3 with numpy; Debian: python3-numpy)' : '';

interface JsonRow {
  step: number;
  cycle: number | null;
  update: number | string | null;
  tensor: string;
  max_abs_err: number | string;
  ok: boolean;
}

const check = (args: readonly string[]) =>
  spawnSync(numpyPython!, [checker, ...args], { env: pyEnv, encoding: 'utf8', timeout: 120_000 });

/** Runs Python code with trm_check importable; returns stdout. */
const py = (code: string): string => {
  const r = spawnSync(
    numpyPython!,
    ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(join(root, 'tools'))})\n${code}`],
    {
      env: pyEnv,
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

const fixtures = ['official', 'exported'].flatMap((d) =>
  readdirSync(join(root, 'test', 'fixtures', d)).map((f) => join(root, 'test', 'fixtures', d, f)),
);

const ours = (fixture: string): string => join(scratch, `ours-${fixture.split('/').slice(-2).join('-')}`);

beforeAll(() => {
  buildCli();
  if (skip !== '') return;
  for (const f of fixtures) {
    const r = trm(['trace', '--init-from', f, '--blocks', '--out', ours(f)]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
}, 300_000);

describe(`tools/trm_check.py${skip}`, () => {
  it.skipIf(skip !== '')('gives the rows, errors and first divergence of trm crosscheck --mode free-running', () => {
    for (const f of fixtures) {
      // MLP-t grows float32 rounding step after step, so free-running its traces leave the
      // tolerance (docs/crosscheck.md): both tools must then fail at the same row.
      const a = check([f, ours(f), '--json']);
      expect(a.stderr).toBe('');
      const mine = JSON.parse(a.stdout) as {
        ok: boolean;
        rows: JsonRow[];
        first_divergence: unknown;
        not_compared: string[];
      };
      const b = trm(['crosscheck', '--mode', 'free-running', f, '--json']);
      expect(a.status, f).toBe(b.status);
      const theirs = (JSON.parse(b.stdout) as { files: { rows: JsonRow[]; first_divergence: unknown }[] }).files[0]!;
      const key = (r: JsonRow) => [r.step, r.cycle, r.update, r.tensor, r.max_abs_err, r.ok];
      expect(mine.rows.map(key), f).toEqual(theirs.rows.map(key));
      expect(mine.first_divergence).toEqual(theirs.first_divergence);
      expect(mine.not_compared).toEqual([]);
    }
  });

  it.skipIf(skip !== '')(
    'names the first tampered tensor (exit 1), and refuses a candidate run on other weights (exit 2)',
    () => {
      const f = fixtures.find((x) => x.endsWith('act_continue_train.safetensors'))!;
      const tampered = join(scratch, 'tampered.safetensors');
      py(`import trm_check, numpy as np
meta, t = trm_check.read_safetensors(${JSON.stringify(ours(f))})
t = dict(t)
z = t['step/1/cycle/0/z_L/1'].copy(); z.flat[7] += 1e-2
t['step/1/cycle/0/z_L/1'] = z
trm_check.write_safetensors(${JSON.stringify(tampered)}, t, meta)`);
      const r = check([f, tampered]);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('FIRST DIVERGENCE: step 1 · cycle 0 · latent update 1 · z_L');
      const json = JSON.parse(check([f, tampered, '--json']).stdout) as { first_divergence: JsonRow };
      expect(json.first_divergence).toMatchObject({ step: 1, cycle: 0, update: 1, tensor: 'z_L', ok: false });

      const other = join(scratch, 'other-weights.safetensors');
      py(`import trm_check
meta, t = trm_check.read_safetensors(${JSON.stringify(ours(f))})
t = dict(t)
t['params/inner.lm_head.weight'] = t['params/inner.lm_head.weight'] * 2
trm_check.write_safetensors(${JSON.stringify(other)}, t, meta)`);
      const bad = check([f, other]);
      expect(bad.status).toBe(2);
      expect(bad.stderr.trim()).toBe(
        `trm_check: ${other}: params/inner.lm_head.weight differs from the reference's: the candidate was not run on the reference's weights and data`,
      );
      expect(check([f, join(scratch, 'missing.safetensors')]).status).toBe(2);
      expect(check([join(root, 'package.json'), ours(f)]).status).toBe(2);
    },
  );

  it.skipIf(skip !== '')('compares what a candidate has; what it lacks is listed, and fails with --strict', () => {
    const f = fixtures.find((x) => x.endsWith('arc_attn_rope_eval.safetensors'))!;
    const partial = join(scratch, 'partial.safetensors');
    py(`import trm_check
meta, t = trm_check.read_safetensors(${JSON.stringify(ours(f))})
keep = {k: v for k, v in t.items() if k.endswith('/logits') or k.startswith(('params/', 'batch/'))}
trm_check.write_safetensors(${JSON.stringify(partial)}, keep, meta)`);
    const r = check([f, partial, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { rows: JsonRow[]; not_compared: string[] };
    expect(new Set(doc.rows.map((x) => x.tensor))).toEqual(new Set(['logits']));
    expect(doc.not_compared.length).toBeGreaterThan(10);
    expect(check([f, partial, '--strict']).status).toBe(1);
    const none = join(scratch, 'none.safetensors');
    py(`import trm_check
meta, t = trm_check.read_safetensors(${JSON.stringify(ours(f))})
trm_check.write_safetensors(${JSON.stringify(none)}, {k: v for k, v in t.items() if k.startswith('params/')}, meta)`);
    const n = check([f, none]);
    expect(n.status).toBe(1);
    expect(n.stdout).toContain('MISMATCH: no tensor of the reference is in the candidate');
  });

  it.skipIf(skip !== '')(
    "writes a reference in a port's names as trm trace --layout does, tensor for tensor and byte for byte",
    () => {
      const config = JSON.stringify({
        vocab_size: 5,
        seq_len: 6,
        hidden_size: 16,
        num_heads: 2,
        batch_size: 2,
        L_layers: 2,
        num_puzzle_identifiers: 3,
        halt_max_steps: 2,
        halt_exploration_prob: 0,
      });
      const map = join(scratch, 'port-map.json');
      writeFileSync(
        map,
        JSON.stringify({
          prefix: 'net.',
          rename: {
            'blocks.': 'inner.L_level.layers.',
            'first.': 'inner.L_level.layers.0.',
            tok: 'inner.embed_tokens.embedding_weight',
            y: 'z_H',
          },
          transpose: ['inner.lm_head.weight'],
          fuse: { 'inner.L_level.layers.1.mlp.gate_up_proj.weight': ['gate1', 'up1'] },
          rows: {
            'inner.q_head.weight': { name: 'halt.w', count: 1 },
            'inner.q_head.bias': { name: 'halt.b', count: 1 },
          },
          missing: ['q_continue_logits', 'inner.L_init'],
        }),
      );
      const plain = join(scratch, 'plain.safetensors');
      const port = join(scratch, 'port.safetensors');
      for (const extra of [[], ['--layout', map]]) {
        const r = trm([
          'trace',
          '--config',
          config,
          '--seed',
          '9',
          '--mode',
          'train-run',
          '--steps',
          '2',
          '--out',
          extra.length > 0 ? port : plain,
          ...extra,
        ]);
        expect(r.status, r.stderr).toBe(0);
      }
      const out = py(`import json, numpy as np, trm_check
_, plain = trm_check.read_safetensors(${JSON.stringify(plain)})
meta, port = trm_check.read_safetensors(${JSON.stringify(port)})
ours, dropped = trm_check.to_port_layout(plain, trm_check.read_layout_map(${JSON.stringify(map)}))
ref = trm_check.load_reference(${JSON.stringify(plain)}, layout=${JSON.stringify(map)})
print(json.dumps({
  "same_names": sorted(ours) == sorted(port),
  "same_bytes": all(ours[k].dtype == port[k].dtype and ours[k].shape == port[k].shape and ours[k].tobytes() == port[k].tobytes() for k in port),
  "dropped": dropped,
  "params": sorted(k for k in ref.params if not k.startswith("net.")),
  "halt": list(ref.params["net.halt.w"].shape),
  "map_in_metadata": json.loads(meta["layout"]) == trm_check.read_layout_map(${JSON.stringify(map)}),
}))`);
      const doc = JSON.parse(out) as Record<string, unknown>;
      expect(doc).toEqual({
        same_names: true,
        same_bytes: true,
        dropped: [
          'inner.L_init',
          'inner.q_head.weight (rows 1 to 1)',
          'inner.q_head.bias (rows 1 to 1)',
          'q_continue_logits',
        ],
        params: [],
        halt: [1, 16],
        map_in_metadata: true,
      });
      const refused = () =>
        py(`import trm_check
try:
    trm_check.to_port_layout({"params/inner.q_head.bias": __import__("numpy").zeros(2)}, {"rows": {"inner.q_head.bias": "h"}}, "m.json")
except trm_check.TraceError as e:
    print(e)`);
      expect(refused().trim()).toBe(
        'm.json: rows.inner.q_head.bias: give {name, count} to write a trace in this layout',
      );
    },
  );
});
