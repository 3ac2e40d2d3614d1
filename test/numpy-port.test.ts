/**
 * A second TRM in a second language, checked in CI: tools/examples/numpy_trm.py (plain NumPy,
 * laid out nothing like the official code) against `trm trace` references through
 * tools/trm_check.py, for the attention and MLP-t variants, RoPE, learned and no positions, with
 * and without the puzzle prefix. Breaking one line of the port makes the check fail at the first
 * tensor it changes. The worked pytest example runs too where pytest is installed.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, root, trm } from './helpers/cli.js';
import { numpyPython, pyEnv, scratch } from './helpers/python.js';

const skip = numpyPython === undefined ? ' (skipped: no python3 with numpy; Debian: python3-numpy)' : '';
const port = join(root, 'tools', 'examples', 'numpy_trm.py');
const checker = join(root, 'tools', 'trm_check.py');

const base = { vocab_size: 7, seq_len: 6, hidden_size: 16, batch_size: 3, halt_max_steps: 3, halt_exploration_prob: 0 };
const CONFIGS: Record<string, object> = {
  'attention-rope-prefix': { ...base, num_heads: 2, puzzle_emb_ndim: 24, num_puzzle_identifiers: 4 },
  'attention-learned': { ...base, num_heads: 4, pos_encodings: 'learned', puzzle_emb_ndim: 16 },
  'attention-none-no-puzzle': { ...base, num_heads: 2, pos_encodings: 'none', puzzle_emb_ndim: 0, puzzle_emb_len: 0 },
  'mlp_t-prefix': { ...base, mlp_t: true, pos_encodings: 'none', puzzle_emb_ndim: 16, puzzle_emb_len: 2 },
  'mlp_t-learned-3-layers': { ...base, mlp_t: true, pos_encodings: 'learned', L_layers: 3, H_cycles: 2, L_cycles: 2 },
};

const reference = (name: string) => join(scratch, `ref-${name}.safetensors`);
const py = (args: readonly string[], env: NodeJS.ProcessEnv = pyEnv) =>
  spawnSync(numpyPython!, args, { env, encoding: 'utf8', timeout: 120_000 });

beforeAll(() => {
  buildCli();
  if (skip !== '') return;
  for (const [name, config] of Object.entries(CONFIGS)) {
    const r = trm([
      'trace',
      '--config',
      JSON.stringify(config),
      '--mode',
      'eval',
      '--seed',
      '7',
      '--out',
      reference(name),
    ]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
}, 300_000);

describe(`tools/examples/numpy_trm.py${skip}`, () => {
  it.skipIf(skip !== '').each(Object.keys(CONFIGS))('agrees with trm trace (%s) under trm_check.py', (name) => {
    const out = join(scratch, `numpy-${name}.safetensors`);
    const run = py([port, reference(name), '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    const r = py([checker, reference(name), out, '--json']);
    expect(r.status, r.stdout.slice(0, 2000)).toBe(0);
    const doc = JSON.parse(r.stdout) as { rows: { tensor: string }[] };
    const kinds = new Set(doc.rows.map((x) => x.tensor));
    for (const k of ['x', 'z_L', 'z_H', 'logits', 'q_halt_logits', 'halted', 'steps'])
      expect(kinds.has(k), k).toBe(true);
  });

  it.skipIf(skip !== '')('with one line broken, trm_check.py exits 1 and names the first tensor it changes', () => {
    const dir = join(scratch, 'broken');
    mkdirSync(join(dir, 'examples'), { recursive: true });
    cpSync(checker, join(dir, 'trm_check.py'));
    const source = readFileSync(port, 'utf8');
    const broken = source.replace('np.concatenate([-b, a], axis=-1)', 'np.concatenate([b, -a], axis=-1)');
    expect(broken).not.toBe(source);
    writeFileSync(join(dir, 'examples', 'numpy_trm.py'), broken);
    const out = join(dir, 'candidate.safetensors');
    expect(py([join(dir, 'examples', 'numpy_trm.py'), reference('attention-rope-prefix'), '--out', out]).status).toBe(
      0,
    );
    const r = py([checker, reference('attention-rope-prefix'), out]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('FIRST DIVERGENCE: step 0 · cycle 0 · latent update 0 · z_L');
  });

  const noPytest = skip !== '' || py(['-c', 'import pytest']).status !== 0;
  it.skipIf(noPytest)(
    `the worked pytest example passes on these references${noPytest ? ' (skipped: no pytest)' : ''}`,
    () => {
      const r = py(
        ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', join(root, 'tools', 'examples', 'test_numpy_trm.py')],
        {
          ...pyEnv,
          TRM_REFERENCES: join(scratch, 'ref-*.safetensors'),
        },
      );
      expect(r.status, r.stdout).toBe(0);
      expect(r.stdout).toMatch(/6 passed/);
    },
  );
});
