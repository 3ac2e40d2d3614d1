/** Sudoku examples (§1): token layout, determinism, disjoint held-out sets, the dataset layout, CSV import, speed. */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { key } from '../../src/random/index.js';
import { parsePuzzleCsv } from '../../src/io/csv.js';
import { formatBoundaryError } from '../../src/io/errors.js';
import { BOXES, generateSudokuSet, puzzleKey, relabelKey } from '../../src/data/sudoku.js';
import { generateSudokuSplits, splitDisjoint, sudokuDataset, sudokuFromCsv } from '../../src/data/sudoku-dataset.js';

describe('sudoku generation', () => {
  it('uses the official token layout: PAD 0, blank 1, digit d → d+1; vocab n+2, seq_len n²', () => {
    const s = generateSudokuSet(key(0), { box: BOXES[6], count: 5 });
    expect([s.size, s.seqLen, s.vocabSize]).toEqual([6, 36, 8]);
    for (const it of s.items) {
      expect(it.puzzle.every((t) => t >= 1 && t <= 7)).toBe(true);
      expect(it.solution.every((t) => t >= 2 && t <= 7)).toBe(true);
      expect(it.givens).toBe(it.puzzle.filter((t) => t > 1).length);
    }
  });

  it('is deterministic for a key and differs across keys', () => {
    const a = generateSudokuSet(key(7), { box: BOXES[9], count: 3 });
    const b = generateSudokuSet(key(7), { box: BOXES[9], count: 3 });
    const c = generateSudokuSet(key(8), { box: BOXES[9], count: 3 });
    expect(a.items.map((i) => puzzleKey(i.puzzle))).toEqual(b.items.map((i) => puzzleKey(i.puzzle)));
    expect(a.items.map((i) => puzzleKey(i.puzzle))).not.toEqual(c.items.map((i) => puzzleKey(i.puzzle)));
  });

  it('4×4 minimal puzzles have 4–6 givens; minGivens and the rating window are honoured', () => {
    const s = generateSudokuSet(key(1), { box: BOXES[4], count: 50 });
    expect(s.items.every((i) => i.givens >= 4 && i.givens <= 6)).toBe(true);
    const easy = generateSudokuSet(key(1), { box: BOXES[9], count: 5, minGivens: 40 });
    expect(easy.items.every((i) => i.givens === 40)).toBe(true);
    const hard = generateSudokuSet(key(1), { box: BOXES[9], count: 5, minRating: 20 });
    expect(hard.items.every((i) => i.rating >= 20)).toBe(true);
    const singles = generateSudokuSet(key(1), { box: BOXES[6], count: 5, maxRating: 0 });
    expect(singles.items.every((i) => i.rating === 0)).toBe(true);
  });

  it('held-out splits share no puzzle string (or relabelling class) with training', () => {
    for (const by of ['puzzle', 'relabel'] as const) {
      const { train, test } = generateSudokuSplits(key(3), {
        box: BOXES[4],
        trainCount: 100,
        testCount: 50,
        disjointBy: by,
      });
      const k = by === 'puzzle' ? puzzleKey : relabelKey;
      const held = new Set(test.items.map((i) => k(i.puzzle)));
      expect(train.items.length).toBe(100);
      expect(train.items.some((i) => held.has(k(i.puzzle)))).toBe(false);
    }
    const set = generateSudokuSet(key(4), { box: BOXES[4], count: 60 });
    const { train, test } = splitDisjoint(set, 20, 'relabel');
    const held = new Set(test.items.map((i) => relabelKey(i.puzzle)));
    expect(train.items.some((i) => held.has(relabelKey(i.puzzle)))).toBe(false);
  });

  it('9×9: 100 puzzles take well under a second each', () => {
    const t0 = performance.now();
    generateSudokuSet(key(5), { box: BOXES[9], count: 100 });
    const ms = (performance.now() - t0) / 100;
    expect(ms).toBeLessThan(100);
  });
});

describe('sudoku dataset layout (§1)', () => {
  const { train, test } = generateSudokuSplits(key(9), { box: BOXES[4], trainCount: 10, testCount: 5 });
  const ds = sudokuDataset(key(10), train, test, { numAug: 3 });

  it('groups hold the original then num_aug copies; ids all 0; total_puzzles = groups', () => {
    const m = ds.splits.train!.metadata;
    expect(m).toMatchObject({
      pad_id: 0,
      ignore_label_id: 0,
      blank_identifier_id: 0,
      vocab_size: 6,
      seq_len: 16,
      num_puzzle_identifiers: 1,
      total_groups: 10,
      total_puzzles: 10,
      mean_puzzle_examples: 1,
      sets: ['all'],
    });
    const s = ds.splits.train!.sets[0]!;
    expect(Array.from(s.groupIndices)).toEqual(Array.from({ length: 11 }, (_, g) => 4 * g));
    expect(s.puzzleIdentifiers.every((id) => id === 0)).toBe(true);
    expect(Array.from(s.inputs.subarray(0, 16))).toEqual(Array.from(train.items[0]!.puzzle));
    expect(ds.splits.test!.sets[0]!.inputs.length).toBe(5 * 16);
    expect(ds.identifiers).toEqual(['<blank>']);
  });

  it('augmented training puzzles never equal a held-out puzzle string', () => {
    const held = new Set(test.items.map((i) => puzzleKey(i.puzzle)));
    const s = ds.splits.train!.sets[0]!;
    for (let p = 0; p < s.inputs.length / 16; p++)
      expect(held.has(puzzleKey(s.inputs.subarray(p * 16, p * 16 + 16)))).toBe(false);
  });
});

describe('official CSV import (§1)', () => {
  const q = '.'.repeat(80) + '5';
  const a = '534678912672195348198342567859761423426853791713924856961537284287419635345286179';
  it('maps "." to blank and digits to d+1; filters by rating', () => {
    const rows = parsePuzzleCsv('train.csv', `source,q,a,rating\nx,${q},${a},3\ny,${q},${a},0\n`);
    const s = E.flatMap(rows, (r) => sudokuFromCsv('train.csv', r, { minDifficulty: 1 }));
    expect(E.isRight(s)).toBe(true);
    if (E.isRight(s)) {
      expect(s.right.items.length).toBe(1);
      expect(s.right.items[0]!.puzzle[80]).toBe(6);
      expect(s.right.items[0]!.puzzle[0]).toBe(1);
      expect(s.right.items[0]!.solution[0]).toBe(6);
    }
  });
  it('names the file, line and column of bad rows', () => {
    const bad = (text: string): string => {
      const r = E.flatMap(parsePuzzleCsv('t.csv', text), (rows) => sudokuFromCsv('t.csv', rows));
      return E.isLeft(r) ? formatBoundaryError(r.left) : 'ok';
    };
    expect(bad('source,q,a\n')).toMatch(/^t\.csv: line 1 \(header\)/);
    expect(bad(`source,q,a,rating\nx,${q},${a}\n`)).toMatch(/t\.csv: line 2: expected 4 columns/);
    expect(bad(`source,q,a,rating\nx,${q},${a},hard\n`)).toMatch(/line 2 column rating/);
    expect(bad(`source,q,a,rating\nx,${q},${a},1\nx,${q.slice(1)},${a},1\n`)).toMatch(
      /line 3 column q: expected 81 characters/,
    );
    expect(bad(`source,q,a,rating\nx,${q},${a.slice(0, 80)}x,1\n`)).toMatch(
      /line 2 column a cell 80: bad character "x"/,
    );
  });
});
