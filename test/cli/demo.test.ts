/**
 * `npm start` end to end with a tiny budget: it trains, evaluates, solves a held-out puzzle step by
 * step and writes the run folder. (The full-budget figures are in README.md and docs/training.md.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';

import { buildCli, root } from '../helpers/cli.js';

beforeAll(buildCli, 120_000);

it('trm demo trains, evaluates, solves and writes pictures', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'trm-demo-')), 'run');
  const r = spawnSync(
    process.execPath,
    [join(root, 'bin', 'trm.js'), 'demo', '--budget', '4', '--eval-count', '32', '--out', out],
    {
      cwd: root,
      encoding: 'utf8',
      timeout: 300_000,
    },
  );
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/held-out: 32 puzzles never seen in training/);
  expect(r.stdout).toMatch(/after supervision step 4: P\(halt\) = /);
  for (const f of [
    'checkpoint.safetensors',
    'log.jsonl',
    ...['loss', 'accuracy', 'lr', 'halting', 'exact_by_step', 'refinement'].flatMap((n) => [`${n}.svg`, `${n}.png`]),
    'summary.json',
  ]) {
    expect(existsSync(join(out, f)), f).toBe(true);
  }
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as {
    steps: number;
    held_out: { count: number };
  };
  expect(summary.steps).toBeGreaterThan(0);
  expect(summary.held_out.count).toBe(32);
  expect(readFileSync(join(out, 'refinement.svg'), 'utf8')).toMatch(/^<svg/);
}, 300_000);

it('trm demo --json prints only the summary, as one JSON object', () => {
  const out = join(mkdtempSync(join(tmpdir(), 'trm-demo-')), 'run');
  const r = spawnSync(
    process.execPath,
    [join(root, 'bin', 'trm.js'), 'demo', '--budget', '2', '--eval-count', '8', '--out', out, '--json'],
    { cwd: root, encoding: 'utf8', timeout: 300_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout.trim().split('\n')).toHaveLength(1);
  const doc = JSON.parse(r.stdout) as { out: string; held_out: { count: number } };
  expect(doc.out).toBe(out);
  expect(doc.held_out.count).toBe(8);
  expect(JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'))).toEqual(
    Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'out')),
  );
}, 300_000);
