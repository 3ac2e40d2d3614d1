/**
 * Sudoku in the official dataset layout (§1), and the splits and imports around it.
 *
 * Layout: one example per puzzle; a group is a source puzzle and its `numAug` augmented copies
 * (original first); puzzle identifiers are all 0 (blank), num_puzzle_identifiers = 1,
 * total_puzzles = total_groups = number of source puzzles (the official builder's count),
 * identifiers.json = ["<blank>"].
 */
import * as E from 'fp-ts/lib/Either.js';
import { foldIn } from '../random/index.js';
import type { CsvRow } from '../io/csv.js';
import { type Dataset, type PuzzleSet, type Split, metadataFor, uniformLayout } from './dataset.js';
import type { Key } from './draws.js';
import { type BoundaryError, fail } from '../io/errors.js';
import { augmentSudoku } from './sudoku-augment.js';
import {
  type Box,
  BOXES,
  type SudokuItem,
  type SudokuOptions,
  type SudokuSet,
  generateSudoku,
  puzzleKey,
  relabelKey,
  sudokuSet,
} from './sudoku.js';

export type DisjointBy = 'puzzle' | 'relabel';

const keyFn = (by: DisjointBy): ((t: ArrayLike<number>) => string) => (by === 'puzzle' ? puzzleKey : relabelKey);

/**
 * Splits a set into train and held-out parts with no shared puzzle: held-out = the last `testCount`
 * items; train = the rest minus any item equal to a held-out one (as a string, or up to digit
 * relabelling with `by: 'relabel'`).
 */
export const splitDisjoint = (
  set: SudokuSet,
  testCount: number,
  by: DisjointBy = 'puzzle',
): { train: SudokuSet; test: SudokuSet } => {
  const k = keyFn(by);
  const test = set.items.slice(set.items.length - testCount);
  const held = new Set(test.map((it) => k(it.puzzle)));
  const train = set.items.slice(0, set.items.length - testCount).filter((it) => !held.has(k(it.puzzle)));
  return { train: sudokuSet(set.box, train), test: sudokuSet(set.box, test) };
};

export interface SudokuSplitOptions extends Omit<SudokuOptions, 'count'> {
  readonly trainCount: number;
  readonly testCount: number;
  /** What "disjoint" means: distinct puzzle strings (default) or distinct up to digit relabelling. */
  readonly disjointBy?: DisjointBy;
}

/**
 * Train and held-out puzzles, disjoint by construction: puzzles are drawn from `foldIn(key, i)`
 * and kept only if their key (string or relabel class) is new; the first `testCount` kept go to the
 * held-out split (so the held-out set does not depend on trainCount), the next `trainCount` to train.
 */
export const generateSudokuSplits = (k: Key, opts: SudokuSplitOptions): { train: SudokuSet; test: SudokuSet } => {
  const kf = keyFn(opts.disjointBy ?? 'puzzle');
  const seen = new Set<string>();
  const items: SudokuItem[] = [];
  const want = opts.trainCount + opts.testCount;
  const maxDraws = Math.max(100, want * 50);
  for (let i = 0; items.length < want; i++) {
    if (i >= maxDraws)
      throw new Error(
        `sudoku: only ${items.length} distinct puzzles after ${i} draws (asked for ${want}); 4×4 has few minimal puzzles, try disjointBy 'puzzle' or fewer`,
      );
    const item = generateSudoku(foldIn(k, i), opts);
    const s = kf(item.puzzle);
    if (seen.has(s)) continue;
    seen.add(s);
    items.push(item);
  }
  return {
    test: sudokuSet(opts.box, items.slice(0, opts.testCount)),
    train: sudokuSet(opts.box, items.slice(opts.testCount)),
  };
};

export interface AugmentOptions {
  /** Augmented copies per source puzzle (train only in the official builder). */
  readonly numAug: number;
  /** Only permute digits (no band/stack/row/column moves). */
  readonly digitsOnly?: boolean;
  /** Puzzle strings an augmentation must not produce (e.g. the held-out set); such draws are redrawn. */
  readonly avoid?: ReadonlySet<string>;
  /** Redraws allowed per augmented copy before giving up on that copy (default 100). */
  readonly maxRedraws?: number;
}

/** The augmented copies of item `i`: draw j uses `foldIn(foldIn(key, i), j)`. */
const augmentations = (
  k: Key,
  box: Box,
  item: SudokuItem,
  opts: AugmentOptions,
): { puzzle: Uint8Array; solution: Uint8Array }[] => {
  const out: { puzzle: Uint8Array; solution: Uint8Array }[] = [];
  const maxRedraws = opts.maxRedraws ?? 100;
  let draw = 0;
  for (let j = 0; j < opts.numAug; j++) {
    for (let tries = 0; tries <= maxRedraws; tries++) {
      const a = augmentSudoku(foldIn(k, draw++), item.puzzle, item.solution, box, {
        digitsOnly: opts.digitsOnly === true,
      });
      if (opts.avoid === undefined || !opts.avoid.has(puzzleKey(a.puzzle))) {
        out.push(a);
        break;
      }
    }
  }
  return out;
};

/** One split ("all" set) of a Sudoku set with `numAug` augmentations per group. */
export const sudokuSplit = (k: Key, set: SudokuSet, opts: AugmentOptions = { numAug: 0 }): Split => {
  const groups = set.items.map((item, i) => [
    item,
    ...(opts.numAug > 0 ? augmentations(foldIn(k, i), set.box, item, opts) : []),
  ]);
  const sizes = groups.map((g) => g.length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const inputs = new Uint8Array(total * set.seqLen);
  const labels = new Uint8Array(total * set.seqLen);
  let p = 0;
  for (const g of groups) {
    for (const ex of g) {
      inputs.set(ex.puzzle, p * set.seqLen);
      labels.set(ex.solution, p * set.seqLen);
      p++;
    }
  }
  const sets: PuzzleSet[] = [
    {
      name: 'all',
      inputs,
      labels,
      puzzleIdentifiers: new Int32Array(total),
      ...uniformLayout(set.items.length, sizes),
    },
  ];
  return {
    metadata: metadataFor(sets, {
      vocabSize: set.vocabSize,
      seqLen: set.seqLen,
      numPuzzleIdentifiers: 1,
      totalPuzzles: set.items.length,
    }),
    sets,
  };
};

/** The official two-split dataset: train augmented (avoiding held-out strings), test not augmented. */
export const sudokuDataset = (
  k: Key,
  train: SudokuSet,
  test: SudokuSet,
  opts: AugmentOptions = { numAug: 0 },
): Dataset => {
  const avoid = new Set([...(opts.avoid ?? []), ...test.items.map((it) => puzzleKey(it.puzzle))]);
  return {
    splits: { train: sudokuSplit(foldIn(k, 0), train, { ...opts, avoid }), test: sudokuSplit(foldIn(k, 1), test) },
    identifiers: ['<blank>'],
  };
};

// ---------------------------------------------------------------------------------------------
// The official CSV (Sudoku-Extreme)

const SIDE_OF_LENGTH: Readonly<Record<number, 4 | 6 | 9>> = { 16: 4, 36: 6, 81: 9 };

/**
 * Converts CSV rows to items as the official builder does (§1): in `q`, '.' (or '0') is blank and a
 * digit is itself; `a` holds digits 1..n. Rows with rating < minDifficulty are dropped.
 * The side comes from the first row's length (16, 36 or 81).
 */
export const sudokuFromCsv = (
  file: string,
  rows: readonly CsvRow[],
  opts: { minDifficulty?: number } = {},
): E.Either<BoundaryError, SudokuSet> => {
  const n = SIDE_OF_LENGTH[rows[0]?.q.length ?? 81];
  if (n === undefined) {
    return fail(file, `line ${rows[0]?.line ?? 2} column q`, `length ${rows[0]?.q.length} is not 16, 36 or 81`);
  }
  const cells = n * n;
  const cell = (row: CsvRow, col: 'q' | 'a', blankOk: boolean): E.Either<BoundaryError, Uint8Array> => {
    const s = row[col];
    if (s.length !== cells) {
      return fail(file, `line ${row.line} column ${col}`, `expected ${cells} characters, got ${s.length}`);
    }
    const out = new Uint8Array(cells);
    for (let i = 0; i < cells; i++) {
      const ch = s[i]!;
      const d = ch === '.' ? 0 : ch.charCodeAt(0) - 48;
      if (!(d >= (blankOk ? 0 : 1) && d <= n)) {
        return fail(file, `line ${row.line} column ${col} cell ${i}`, `bad character ${JSON.stringify(ch)}`);
      }
      out[i] = d + 1;
    }
    return E.right(out);
  };
  const items: SudokuItem[] = [];
  for (const row of rows) {
    if (opts.minDifficulty !== undefined && row.rating < opts.minDifficulty) continue;
    const puzzle = cell(row, 'q', true);
    if (E.isLeft(puzzle)) return puzzle;
    const solution = cell(row, 'a', false);
    if (E.isLeft(solution)) return solution;
    const givens = puzzle.right.reduce((a, t) => a + (t > 1 ? 1 : 0), 0);
    items.push({ puzzle: puzzle.right, solution: solution.right, givens, rating: row.rating });
  }
  return E.right(sudokuSet(BOXES[n], items));
};
