/** `trm data` through runDataCommand: writes the official format, bad input gives exit 2 and no partial directory. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { runDataCommand } from '../../src/cli/data.js';
import { readDataset } from '../../src/data/dataset.js';
import { formatBoundaryError } from '../../src/io/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'trm-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const capture = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) }, out, err };
};

describe('trm data', () => {
  it('sudoku --size 4 writes train/test in the official format', async () => {
    const c = capture();
    const out = join(dir, 'sudoku4');
    expect(
      await runDataCommand('sudoku', { size: '4', count: '20', testCount: '10', numAug: '2', out, seed: '1' }, c.io),
    ).toBe(0);
    const ds = readDataset(out);
    expect(E.isRight(ds)).toBe(true);
    if (E.isRight(ds)) {
      expect(ds.right.splits.train!.metadata.total_groups).toBe(20);
      expect(ds.right.splits.train!.sets[0]!.inputs.length).toBe(20 * 3 * 16);
      expect(ds.right.splits.test!.metadata.total_groups).toBe(10);
    }
    expect(readFileSync(join(out, 'train', 'dataset.json'), 'utf8')).toContain('"mean_puzzle_examples": 1.0');
  });

  it('sudoku --size 9 --count 1000 takes well under a minute', async () => {
    const c = capture();
    const t0 = performance.now();
    expect(
      await runDataCommand('sudoku', { size: 9, count: 1000, testCount: 0, out: join(dir, 'sudoku9') }, c.io),
    ).toBe(0);
    expect(performance.now() - t0).toBeLessThan(30_000);
  });

  it('maze and arc', async () => {
    const c = capture();
    expect(await runDataCommand('maze', { size: '10', count: '3', out: join(dir, 'maze') }, c.io)).toBe(0);
    expect(
      await runDataCommand(
        'arc',
        {
          prefix: 'test/fixtures/arc/tiny',
          subsets: ['training', 'evaluation'],
          testSet: 'evaluation',
          numAug: '2',
          out: join(dir, 'arc'),
        },
        c.io,
      ),
    ).toBe(0);
    expect(existsSync(join(dir, 'arc', 'test_puzzles.json'))).toBe(true);
    expect(E.isRight(readDataset(join(dir, 'arc')))).toBe(true);
  });

  it('arc reports progress per puzzle augmented to the progress sink it is given, and finishes it', async () => {
    const c = capture();
    const seen: [string | undefined, number, number][] = [];
    let finished = 0;
    const progress = {
      update: (f: { unit?: string; step: number; total: number }) => seen.push([f.unit, f.step, f.total]),
      done: () => finished++,
    };
    const args = {
      prefix: 'test/fixtures/arc/tiny',
      subsets: ['training', 'evaluation'],
      testSet: 'evaluation',
      numAug: '1',
    };
    expect(await runDataCommand('arc', { ...args, out: join(dir, 'arc-progress') }, { ...c.io, progress })).toBe(0);
    expect(seen.length).toBeGreaterThan(1);
    const total = seen[0]![2];
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => ['puzzle', i + 1, total]));
    expect(finished).toBe(1);
    // The same bytes as without progress.
    expect(await runDataCommand('arc', { ...args, out: join(dir, 'arc-quiet') }, capture().io)).toBe(0);
    for (const f of readdirSync(join(dir, 'arc-quiet'), { recursive: true }) as string[])
      if (f.endsWith('.npy') || f.endsWith('.json'))
        expect(readFileSync(join(dir, 'arc-progress', f)).equals(readFileSync(join(dir, 'arc-quiet', f))), f).toBe(
          true,
        );
  });

  it('bad options and bad input: exit 2, one line naming the problem, no output directory left', async () => {
    const c = capture();
    expect(await runDataCommand('sudoku', { size: '5', out: join(dir, 'x1') }, c.io)).toBe(2);
    expect(c.err.at(-1)).toMatch(/--size: sudoku supports 4, 6 or 9/);
    expect(await runDataCommand('sudoku', { size: '4' }, c.io)).toBe(2);
    expect(await runDataCommand('maze', { count: 'many', out: join(dir, 'x2') }, c.io)).toBe(2);
    writeFileSync(
      join(dir, 'bad_broken_challenges.json'),
      JSON.stringify({ p: { train: [{ input: [[1, 2], [3]], output: [[0]] }], test: [] } }),
    );
    expect(
      await runDataCommand(
        'arc',
        { prefix: join(dir, 'bad'), subsets: 'broken', testSet: 'broken', numAug: 1, out: join(dir, 'x3') },
        c.io,
      ),
    ).toBe(2);
    expect(c.err.at(-1)).toMatch(/bad_broken_challenges\.json: puzzle p train\[0\]\.input row 1: ragged row/);
    expect(readdirSync(dir).filter((f) => f.startsWith('x') || f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses to overwrite without --overwrite, and never replaces a non-dataset directory', async () => {
    const c = capture();
    const out = join(dir, 'again');
    expect(await runDataCommand('maze', { size: '6', count: '1', out }, c.io)).toBe(0);
    expect(await runDataCommand('maze', { size: '6', count: '1', out }, c.io)).toBe(2);
    expect(await runDataCommand('maze', { size: '6', count: '1', out, overwrite: true }, c.io)).toBe(0);
    const other = join(dir, 'other');
    writeFileSync(join(dir, 'keep.txt'), 'x');
    expect(await runDataCommand('maze', { size: '6', count: '1', out: dir, overwrite: true }, c.io)).toBe(2);
    expect(existsSync(join(dir, 'keep.txt'))).toBe(true);
    expect(existsSync(other)).toBe(false);
  });
});

describe('reading a damaged dataset names the file', () => {
  it('malformed npy and metadata', async () => {
    const out = join(dir, 'damaged');
    expect(await runDataCommand('maze', { size: '6', count: '2', out }, capture().io)).toBe(0);
    writeFileSync(join(out, 'train', 'all__labels.npy'), 'garbage');
    const r = readDataset(out);
    expect(E.isLeft(r) && formatBoundaryError(r.left)).toMatch(/train\/all__labels\.npy: npy magic: not a \.npy file/);
    writeFileSync(join(out, 'test', 'dataset.json'), '{"pad_id": 0}');
    const m = readDataset(out, ['test']);
    expect(E.isLeft(m) && formatBoundaryError(m.left)).toMatch(
      /test\/dataset\.json: metadata\.ignore_label_id: expected Int, got nothing/,
    );
  });
});
