/**
 * tools/export_trace.py: the Python recorder that turns a user's checkout of the official
 * TinyRecursiveModels code into a trm-trace/2 file (train, eval, or a training run).
 *
 * Usage (see docs/crosscheck.md, "Make a trace from any PyTorch TRM"):
 *
 *   python3 tools/export_trace.py --repo ~/src/TinyRecursiveModels --out my.safetensors \
 *     --config '{"hidden_size": 32, "num_heads": 2, "mlp_t": true, "pos_encodings": "none"}' \
 *     --seed 7 --mode train --steps 5
 *   npx trm crosscheck my.safetensors
 *
 * What runs here:
 * - the script compiles (`python3 -m py_compile`, cache redirected to a temp dir) and `--help` works;
 * - with numpy: its safetensors writer's output is parsed by an independent reader below
 *   (8-byte header length, space-padded JSON header, contiguous offsets, metadata strings);
 * - every fixture (official, exported, training runs) carries every tensor trace-format.md lists;
 * - end to end (only when TRM_OFFICIAL_REPO points at a checkout and a python with torch exists):
 *   the script records traces that have the same structure, and trm crosscheck replays a training run.
 * Missing python3 / numpy / torch / checkout skip the dependent tests, with the reason in the name.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { replayTrace } from '../src/crosscheck/replay.js';
import { readTrace } from '../src/crosscheck/trace-file.js';
import { formatBoundaryError } from '../src/io/errors.js';
import { numpyPython, officialRepo, officialSkip, pyEnv, python, scratch, torchPython } from './helpers/python.js';

const root = join(import.meta.dirname, '..');
const script = join(root, 'tools', 'export_trace.py');
const exportedDir = join(root, 'test', 'fixtures', 'exported');
const noPython = 'skipped: python3 not found';

// ---- an independent, minimal trace header reader (not the project's reader) -------------

type TensorInfo = {
  readonly dtype: string;
  readonly shape: readonly number[];
  readonly data_offsets: readonly [number, number];
};
type Header = { readonly meta: Readonly<Record<string, string>>; readonly tensors: ReadonlyMap<string, TensorInfo> };

const itemSize: Readonly<Record<string, number>> = { F64: 8, F32: 4, I32: 4, U8: 1 };

const readHeader = (file: string): Header => {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  expect(n % 8).toBe(0);
  expect(8 + n).toBeLessThanOrEqual(buf.length);
  const json = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const meta = (json['__metadata__'] ?? {}) as Record<string, string>;
  const tensors = new Map<string, TensorInfo>();
  let end = 0;
  for (const [k, v] of Object.entries(json)) {
    if (k === '__metadata__') continue;
    const info = v as TensorInfo;
    const size = itemSize[info.dtype];
    expect(size, `${k} dtype ${info.dtype}`).toBeDefined();
    const [b, e] = info.data_offsets;
    expect(e - b).toBe(info.shape.reduce((a, d) => a * d, 1) * (size ?? 0));
    expect(b).toBe(end); // laid out back to back, in header order
    end = e;
    tensors.set(k, info);
  }
  expect(8 + n + end).toBe(buf.length);
  return { meta, tensors };
};

/** Checks one trace against docs/trace-format.md: metadata, params, batch, steps, probes, grads, updates. */
const checkTraceStructure = (h: Header): void => {
  expect(h.meta['format']).toBe('trm-trace/2');
  const run = h.meta['mode'] === 'train-run';
  const cfg = JSON.parse(h.meta['config'] ?? '{}') as Record<string, number | boolean | string>;
  const steps = Number(h.meta['steps']);
  expect(steps).toBeGreaterThan(0);
  const B = Number(cfg['batch_size']);
  const S = Number(cfg['seq_len']);
  const V = Number(cfg['vocab_size']);
  const D = Number(cfg['hidden_size']);
  const P = Number(cfg['puzzle_emb_len']) || Math.ceil(Number(cfg['puzzle_emb_ndim']) / D);
  const shapeOf = (k: string): readonly number[] | undefined => h.tensors.get(k)?.shape;
  const dtypeOf = (k: string): string | undefined => h.tensors.get(k)?.dtype;
  const T = Number(cfg['H_cycles']);
  const n = Number(cfg['L_cycles']);
  const ndim = Number(cfg['puzzle_emb_ndim']);
  const total = run ? Number((JSON.parse(h.meta['train'] ?? '{}') as Record<string, number>)['total_steps']) : steps;
  for (const b of run ? Array.from({ length: steps }, (_, s) => `batch/${s}/`) : ['batch/']) {
    expect(shapeOf(`${b}inputs`)).toEqual([B, S]);
    expect(shapeOf(`${b}labels`)).toEqual([B, S]);
    expect(shapeOf(`${b}puzzle_identifiers`)).toEqual([B]);
    expect(dtypeOf(`${b}inputs`)).toBe('I32');
  }
  for (const k of [
    'inner.H_init',
    'inner.L_init',
    'inner.embed_tokens.embedding_weight',
    'inner.lm_head.weight',
    'inner.q_head.weight',
    'inner.q_head.bias',
  ]) {
    expect(dtypeOf(`params/${k}`), k).toBe('F32');
  }
  expect(h.tensors.has('params/inner.embed_pos.embedding_weight')).toBe(cfg['pos_encodings'] === 'learned');
  const trainable = [...h.tensors.keys()]
    .filter((k) => k.startsWith('params/'))
    .map((k) => k.slice('params/'.length))
    .filter((k) => !['inner.H_init', 'inner.L_init', 'inner.puzzle_emb.weights'].includes(k));
  const continueLoss =
    cfg['no_ACT_continue'] === false && h.meta['mode'] !== 'eval' && Number(cfg['halt_max_steps']) > 1;
  for (let s = 0; s < steps; s++) {
    const p = `step/${s}/`;
    if (run) {
      const up = `update/${s}/`;
      for (const k of trainable) expect(shapeOf(`${up}params/${k}`), k).toEqual(shapeOf(`params/${k}`));
      if (ndim > 0)
        expect(shapeOf(`${up}params/inner.puzzle_emb.weights`)).toEqual([Number(cfg['num_puzzle_identifiers']), ndim]);
      if (s + 1 > total) {
        expect([...h.tensors.keys()].some((k) => k.startsWith(p))).toBe(false);
        continue;
      }
      for (const k of trainable) expect(shapeOf(`${up}exp_avg_sq/${k}`), k).toEqual(shapeOf(`params/${k}`));
      expect(dtypeOf(`${p}min_halt_steps`)).toBe('I32');
      expect(shapeOf(`${p}lr`)).toEqual([1]);
      expect(shapeOf(`${p}data/inputs`)).toEqual([B, S]);
      for (const m of ['count', 'accuracy', 'exact_accuracy', 'q_halt_accuracy', 'steps'])
        expect(dtypeOf(`${p}metrics/${m}`)).toBe('F64');
    }
    expect(shapeOf(`${p}x`)).toEqual([B, P + S, D]);
    for (let c = 0; c < T; c++) {
      for (let i = 0; i < n; i++) expect(shapeOf(`${p}cycle/${c}/z_L/${i}`)).toEqual([B, P + S, D]);
      expect(shapeOf(`${p}cycle/${c}/z_H`)).toEqual([B, P + S, D]);
    }
    expect(shapeOf(`${p}z_H`)).toEqual([B, P + S, D]);
    expect(shapeOf(`${p}z_L`)).toEqual([B, P + S, D]);
    expect(shapeOf(`${p}logits`)).toEqual([B, S, V]);
    expect(shapeOf(`${p}q_halt_logits`)).toEqual([B]);
    expect(shapeOf(`${p}q_continue_logits`)).toEqual([B]);
    expect(dtypeOf(`${p}halted`)).toBe('U8');
    expect(dtypeOf(`${p}steps`)).toBe('I32');
    for (const l of ['loss', 'lm_loss', 'q_halt_loss']) expect(shapeOf(`${p}${l}`)).toEqual([1]);
    expect(dtypeOf(`${p}loss`)).toBe('F64');
    expect(h.tensors.has(`${p}target_q_continue`)).toBe(continueLoss);
    expect(h.tensors.has(`${p}q_continue_loss`)).toBe(continueLoss);
    if (h.meta['mode'] !== 'eval') {
      for (const k of trainable) expect(shapeOf(`grad/${s}/${k}`), k).toEqual(shapeOf(`params/${k}`));
      expect(shapeOf(`grad/${s}/inner.puzzle_emb.local_weights`)).toEqual(ndim > 0 ? [B, ndim] : undefined);
    }
  }
  if (h.meta['mode'] === 'eval') expect([...h.tensors.keys()].some((k) => k.startsWith('grad/'))).toBe(false);
};

// ---- tests ---------------------------------------------------------------------------------------

describe('tools/export_trace.py', () => {
  it.skipIf(python === undefined)(
    `compiles with python3 -m py_compile${python === undefined ? ` (${noPython})` : ''}`,
    () => {
      const r = spawnSync(python ?? 'python3', ['-m', 'py_compile', script], { env: pyEnv, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
  );

  it.skipIf(python === undefined)(
    `documents its options in --help${python === undefined ? ` (${noPython})` : ''}`,
    () => {
      const r = spawnSync(python ?? 'python3', [script, '--help'], { env: pyEnv, encoding: 'utf8' });
      expect(r.status).toBe(0);
      for (const opt of [
        '--repo',
        '--out',
        '--config',
        '--seed',
        '--mode',
        '--steps',
        '--loss',
        '--batch-size',
        '--case',
        '--init-from',
      ]) {
        expect(r.stdout).toContain(opt);
      }
    },
  );

  it.skipIf(python === undefined)(
    `exits 2 with one line when --repo is not a checkout${python === undefined ? ` (${noPython})` : ''}`,
    () => {
      const r = spawnSync(
        torchPython ?? python ?? 'python3',
        [script, '--repo', scratch, '--out', join(scratch, 'x.safetensors')],
        {
          env: pyEnv,
          encoding: 'utf8',
        },
      );
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^export_trace: /);
    },
  );

  it.skipIf(numpyPython === undefined)(
    `writes safetensors that an independent reader parses${numpyPython === undefined ? ' (skipped: no python3 with numpy)' : ''}`,
    () => {
      const out = join(scratch, 'writer.safetensors');
      const code = [
        'import sys, numpy as np',
        'sys.path.insert(0, sys.argv[1])',
        'from export_trace import write_safetensors, read_safetensors',
        't = {"a/f64": np.array([1.5], np.float64), "b/f32": np.arange(6, dtype=np.float32).reshape(2, 3),',
        '     "c/i32": np.array([-100, 7], np.int32), "d/u8": np.array([1, 0, 1], np.uint8)}',
        'write_safetensors(sys.argv[2], t, {"format": "trm-trace/1", "k": "v"})',
        'm, r = read_safetensors(sys.argv[2])',
        'assert m == {"format": "trm-trace/1", "k": "v"}, m',
        'assert all(np.array_equal(r[k], v) and r[k].dtype == v.dtype for k, v in t.items())',
      ].join('\n');
      const r = spawnSync(numpyPython ?? 'python3', ['-c', code, join(root, 'tools'), out], {
        env: pyEnv,
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const h = readHeader(out);
      expect(h.meta).toEqual({ format: 'trm-trace/1', k: 'v' });
      // Largest items first (the safetensors library's order), then by name.
      expect([...h.tensors.keys()]).toEqual(['a/f64', 'b/f32', 'c/i32', 'd/u8']);
      expect(h.tensors.get('b/f32')?.shape).toEqual([2, 3]);
      const raw = readFileSync(out);
      const n = Number(raw.readBigUInt64LE(0));
      const f32 = h.tensors.get('b/f32');
      const at = 8 + n + (f32?.data_offsets[0] ?? 0);
      expect([0, 1, 2, 3, 4, 5].map((i) => raw.readFloatLE(at + 4 * i))).toEqual([0, 1, 2, 3, 4, 5]);
    },
  );

  for (const dir of ['official', 'train-run', 'mutated']) {
    it(`the structure check accepts the ${dir} fixtures`, () => {
      const d = join(root, 'test', 'fixtures', dir);
      const files = readdirSync(d).filter((f) => f.endsWith('.safetensors'));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) checkTraceStructure(readHeader(join(d, f)));
    });
  }

  const fixtures = readdirSync(exportedDir)
    .filter((f) => f.endsWith('.safetensors'))
    .sort();
  it('ships exported fixtures, each under 500 KB', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(1);
    for (const f of fixtures) expect(statSync(join(exportedDir, f)).size).toBeLessThan(500_000);
  });
  for (const f of fixtures) {
    it(`fixture ${f} has every tensor trace-format.md lists`, () => {
      const h = readHeader(join(exportedDir, f));
      checkTraceStructure(h);
      expect(h.meta['recorder']).toBe('trm-ts tools/export_trace.py');
      expect(h.meta['source']).toMatch(/^SamsungSAILMontreal\/TinyRecursiveModels@[0-9a-f]{40}$/);
    });
  }

  it.skipIf(officialSkip !== '')(`records a trace from the official code end to end${officialSkip}`, () => {
    for (const [name, extra] of [
      [
        'mlp.safetensors',
        ['--mode', 'eval', '--config', '{"mlp_t": true, "pos_encodings": "none", "hidden_size": 16}'],
      ],
      [
        'cont.safetensors',
        ['--config', '{"no_ACT_continue": false, "hidden_size": 16}', '--loss', 'softmax_cross_entropy'],
      ],
      [
        'nopuzzle.safetensors',
        ['--config', '{"puzzle_emb_ndim": 0, "puzzle_emb_len": 0, "hidden_size": 16}', '--steps', '2'],
      ],
      [
        'run.safetensors',
        ['--mode', 'train-run', '--steps', '4', '--exploration', '0.5', '--ema', '--shadow', '--blocks'],
        ['--train', '{"total_steps": 3}', '--config', '{"hidden_size": 16, "L_layers": 1}'],
      ],
    ] as const) {
      const out = join(scratch, name);
      const r = spawnSync(
        torchPython ?? 'python3',
        [script, '--repo', officialRepo ?? '', '--out', out, '--seed', '3', ...extra.flat()],
        {
          env: pyEnv,
          encoding: 'utf8',
          timeout: 300_000,
        },
      );
      expect(r.stderr).not.toMatch(/Traceback/);
      expect(r.status).toBe(0);
      checkTraceStructure(readHeader(out));
    }
    // The recorded training run replays within tolerance.
    const t = readTrace(join(scratch, 'run.safetensors'));
    if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
    const rep = replayTrace(t.right);
    expect(rep.firstDivergence).toBe(null);
  });
});
