import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { buildCli, trm } from '../helpers/cli.js';

const oneLine = (s: string) => s.trim().split('\n').length === 1;

// A tiny run shared by the tests below: trained once.
const dir = mkdtempSync(join(tmpdir(), 'trm-cli-'));
const ckpt = join(dir, 'run', 'checkpoint.safetensors');
const tiny = [
  'arch.hidden_size=16',
  'arch.puzzle_emb_ndim=16',
  'arch.batch_size=8',
  'global_batch_size=8',
  'data.train_count=40',
  'data.test_count=10',
];

beforeAll(() => {
  buildCli();
  const r = trm([
    'train',
    '--preset',
    'sudoku4',
    '--steps',
    '3',
    '--out',
    join(dir, 'run'),
    '--backend',
    'reference',
    ...tiny,
  ]);
  if (r.status !== 0) throw new Error(`train failed: ${r.stderr}`);
}, 300_000);

describe('trm train', () => {
  it('writes the checkpoint and a JSONL log with one line per step', () => {
    expect(existsSync(ckpt)).toBe(true);
    const lines = readFileSync(join(dir, 'run', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(lines).toHaveLength(3);
    const row = JSON.parse(lines[2]!) as Record<string, number>;
    for (const k of ['step', 'loss', 'lm_loss', 'q_halt_loss', 'accuracy', 'exact_accuracy', 'lr', 'elapsed_s'])
      expect(row).toHaveProperty(k);
    expect(row.step).toBe(3);
    // The same training pictures as npm start, SVG and PNG.
    for (const n of ['loss', 'accuracy', 'lr', 'halting'])
      for (const ext of ['svg', 'png']) expect(existsSync(join(dir, 'run', `${n}.${ext}`)), `${n}.${ext}`).toBe(true);
  });

  it('resumes up to --steps', () => {
    const r = trm(['train', '--resume', ckpt, '--steps', '4', '--out', join(dir, 'run'), '--backend', 'reference']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/now at step 4/);
  });

  it('--json prints a final summary as one JSON object, progress kept off stdout', async () => {
    const { loadCheckpoint } = await import('../../src/train/checkpoint-file.js');
    const start = loadCheckpoint(ckpt);
    if (start._tag === 'Left') throw new Error(start.left.message);
    const r = trm([
      'train',
      '--resume',
      ckpt,
      '--steps',
      '5',
      '--out',
      join(dir, 'run-json'),
      '--backend',
      'reference',
      '--json',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(oneLine(r.stdout)).toBe(true);
    const doc = JSON.parse(r.stdout) as Record<string, unknown> & { last: Record<string, number> };
    expect(doc).toMatchObject({
      steps_trained: 5 - start.right.state.step,
      step: 5,
      backend: 'reference',
      stopped_by_budget: false,
      checkpoint: join(dir, 'run-json', 'checkpoint.safetensors'),
      log: `${join(dir, 'run-json')}/log.jsonl`,
    });
    expect(doc.last.step).toBe(5);
    expect(typeof doc.seconds).toBe('number');
  });

  it('says which kernels ran: the WebAssembly backend with its threads and the fused product build', () => {
    // bin/trm.js turns on relaxed SIMD (a V8 flag in Node 20), so the product is the fma build.
    const r = trm([
      'train',
      '--resume',
      ckpt,
      '--steps',
      '6',
      '--out',
      join(dir, 'run-wasm'),
      '--backend',
      'wasm',
      '--threads',
      '2',
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/now at step 6\) in [\d.]+ s on wasm \(2 threads, fma\)/);
  });

  it('bad input: unknown preset, malformed key, bad value, missing resume file → one line, exit 2', () => {
    const cases: [string[], RegExp][] = [
      [['train', '--preset', 'nope', '--out', dir], /unknown preset 'nope'/],
      [['train', '--preset', 'sudoku4', '--out', dir, 'arch.hiden_size=3'], /unknown config key 'arch.hiden_size'/],
      [['train', '--preset', 'sudoku4', '--out', dir, 'lr'], /not key=value/],
      [['train', '--preset', 'sudoku4', '--out', dir, 'arch.hidden_size=abc'], /hidden_size/],
      [['train', '--preset', 'sudoku4', '--out', dir, '--steps', '0'], /--steps/],
      [['train', '--resume', join(dir, 'missing.safetensors'), '--out', dir], /missing\.safetensors/],
      [['train', '--preset', 'arc1', '--out', dir], /no built-in data/],
    ];
    for (const [args, msg] of cases) {
      const r = trm(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
    }
  });
});

describe('trm eval', () => {
  it('prints one JSON object with the official metrics', () => {
    const r = trm(['eval', '--checkpoint', ckpt, '--json', '--backend', 'reference']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(''); // no progress bar without a terminal
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    for (const k of ['exact_accuracy', 'accuracy', 'q_halt_accuracy', 'steps', 'count']) expect(doc).toHaveProperty(k);
    expect(doc.count).toBe(10);
    expect(doc.steps).toBe(4);
  });

  it('adaptive halting reports the steps used', () => {
    const r = trm(['eval', '--checkpoint', ckpt, '--json', '--halt', 'adaptive', '--backend', 'reference']);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout) as { steps: number; halt: string };
    expect(doc.halt).toBe('adaptive');
    expect(doc.steps).toBeGreaterThanOrEqual(1);
    expect(doc.steps).toBeLessThanOrEqual(4);
  });

  it('evaluates the test split of a dataset in the official format (--data), built with trm data', () => {
    const data = join(dir, 'sudoku4-data');
    const built = trm([
      'data',
      'sudoku',
      '--size',
      '4',
      '--count',
      '20',
      '--test-count',
      '12',
      '--out',
      data,
      '--json',
    ]);
    expect(built.status, built.stderr).toBe(0);
    expect(JSON.parse(built.stdout)).toEqual({
      out: data,
      kind: 'sudoku',
      train: { groups: 20, puzzles: 20 },
      test: { groups: 12, puzzles: 12 },
      vocab_size: 6,
      seq_len: 16,
    });
    const r = trm(['eval', '--checkpoint', ckpt, '--data', data, '--json', '--backend', 'reference']);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { count: number; data: string };
    expect(doc.count).toBe(12);
    expect(doc.data).toContain('test split');
    const bad = trm(['data', 'sudoku', '--size', '5', '--out', join(dir, 'x')]);
    expect(bad.status).toBe(2);
    expect(oneLine(bad.stderr), bad.stderr).toBe(true);
  });

  it('a missing checkpoint is one line, exit 2', () => {
    const r = trm(['eval', '--checkpoint', join(dir, 'nope.safetensors')]);
    expect(r.status).toBe(2);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toContain('nope.safetensors');
  });
});

describe('trm solve', () => {
  it('shows every supervision step and the halting probability; --json for tools', () => {
    const r = trm(['solve', '--checkpoint', ckpt, '--puzzle', '1..4.4.....3.2..', '--backend', 'reference']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/after supervision step 1: P\(halt\) = 0\.\d+/);
    expect(r.stdout).toMatch(/after supervision step 4/);
    const j = trm(['solve', '--checkpoint', ckpt, '--puzzle', '1..4.4.....3.2..', '--json', '--backend', 'reference']);
    const doc = JSON.parse(j.stdout) as {
      steps: { board: string; q_halt_prob: number }[];
      answer: string;
      valid: boolean;
    };
    expect(doc.steps).toHaveLength(4);
    expect(doc.answer).toHaveLength(16);
    expect(typeof doc.valid).toBe('boolean');
  });

  it('bad puzzles and files: one line, exit 2', () => {
    for (const args of [
      ['--puzzle', '1..4'],
      ['--puzzle', '1..4.4.....3.2.x'],
      ['--file', join(dir, 'nope.txt')],
      ['--puzzle', '1.3.....2.......................'.slice(0, 36)],
    ]) {
      const r = trm(['solve', '--checkpoint', ckpt, ...args, '--backend', 'reference']);
      expect(r.status, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
    }
  });
});

describe('trm export / import', () => {
  it('round-trips official weights: export → import → identical tensors', async () => {
    const off = join(dir, 'official.safetensors');
    expect(trm(['export', '--checkpoint', ckpt, '--out', off, '--weights', 'live']).status).toBe(0);
    const back = join(dir, 'imported.safetensors');
    const r = trm(['import', off, '--config', `${off}.config.json`, '--out', back, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ out: back, from: off, step: 0 });
    const ex = trm(['export', '--checkpoint', ckpt, '--out', off, '--weights', 'live', '--json']);
    expect(JSON.parse(ex.stdout)).toEqual({
      out: off,
      config: `${off}.config.json`,
      weights: 'live',
      prefix: '_orig_mod.model.',
    });
    const { readSafetensors } = await import('../../src/io/safetensors.js');
    const E = await import('fp-ts/lib/Either.js');
    const a = readSafetensors(ckpt);
    const b = readSafetensors(back);
    const o = readSafetensors(off);
    if (E.isLeft(a) || E.isLeft(b) || E.isLeft(o)) throw new Error('unreadable');
    let n = 0;
    for (const [name, t] of a.right.tensors) {
      if (!name.startsWith('model/')) continue;
      n++;
      const official = o.right.tensors.get(`_orig_mod.model.${name.slice(6)}`)!;
      expect(Array.from(official.data), name).toEqual(Array.from(t.data));
      expect(Array.from(b.right.tensors.get(name)!.data), name).toEqual(Array.from(t.data));
    }
    expect(n).toBeGreaterThan(8);
  });

  it('a config that does not fit the weights names the tensor, exit 2', () => {
    const off = join(dir, 'official2.safetensors');
    trm(['export', '--checkpoint', ckpt, '--out', off]);
    const cfg = JSON.parse(readFileSync(`${off}.config.json`, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      join(dir, 'wrong.yaml'),
      Object.entries({ ...cfg, hidden_size: 32 })
        .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
        .join('\n'),
    );
    const r = trm(['import', off, '--config', join(dir, 'wrong.yaml'), '--out', join(dir, 'x.safetensors')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/inner\.\S+: shape/);
    expect(oneLine(r.stderr)).toBe(true);
  });
});

describe('help and unknown commands', () => {
  it('every command has --help with examples', () => {
    for (const cmd of [
      'train',
      'eval',
      'solve',
      'data',
      'crosscheck',
      'export',
      'import',
      'trace',
      'params',
      'demo',
      'bench',
    ]) {
      const r = trm([cmd, '--help']);
      expect(r.status, cmd).toBe(0);
      expect(r.stdout, cmd).toContain('Usage: trm');
    }
  });

  it('an unknown command exits 2', () => {
    const r = trm(['frobnicate']);
    expect(r.status).toBe(2);
  });
});
