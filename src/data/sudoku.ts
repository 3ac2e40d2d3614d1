/**
 * Sudoku puzzles with exactly one solution, for box shapes 2×2 (4×4), 2×3 (6×6) and 3×3 (9×9), in
 * the official token layout (§1): PAD 0, blank 1, digit d → d+1; vocab = n+2, seq_len = n².
 * Every label cell is a target, givens included.
 *
 * Generation: a random complete grid (randomised exact search), then givens are removed one at a
 * time in random order whenever the puzzle stays unique. After one pass the puzzle is minimal
 * (removing any remaining given breaks uniqueness: fewer givens never reduce the solution count),
 * unless `minGivens` stopped the pass early. Uniqueness after removing cell c is tested by asking
 * the exact solver for a solution with c ≠ S[c], which is cheaper than counting to 2.
 * Difficulty: `minGivens` (more givens = easier) and a solver-effort rating window
 * (`minRating`/`maxRating`, the number of branch points the exact solver needs to prove uniqueness).
 */
import { type Draws, type Key, draws } from './draws.js';
import { foldIn } from '../random/index.js';
import { type Box, type Geometry, geometry, isValidSolution, solve } from './sudoku-solver.js';

export type { Box } from './sudoku-solver.js';

export const BOXES: Readonly<Record<4 | 6 | 9, Box>> = { 4: [2, 2], 6: [2, 3], 9: [3, 3] };

/** One puzzle in token layout. */
export interface SudokuItem {
  /** Tokens: 1 = blank, d+1 = given digit d. Length n². */
  readonly puzzle: Uint8Array;
  /** Tokens: d+1 for every cell. */
  readonly solution: Uint8Array;
  readonly givens: number;
  /** Branch points of the exact solver (0 = solvable by naked singles alone). */
  readonly rating: number;
}

export interface SudokuSet {
  readonly box: Box;
  readonly size: number;
  readonly seqLen: number;
  readonly vocabSize: number;
  readonly items: readonly SudokuItem[];
}

export interface SudokuOptions {
  readonly box: Box;
  readonly count: number;
  /** Stop removing givens at this many (default 0: minimal puzzles). */
  readonly minGivens?: number;
  /** Keep only puzzles whose rating is within [minRating, maxRating] (default: any). */
  readonly minRating?: number;
  readonly maxRating?: number;
  /** Give up after this many rejected candidates per requested puzzle (default 1000). */
  readonly maxAttemptsPerPuzzle?: number;
}

export const toTokens = (raw: ArrayLike<number>): Uint8Array => Uint8Array.from(raw, (d) => d + 1);
export const fromTokens = (tokens: ArrayLike<number>): Uint8Array => Uint8Array.from(tokens, (t) => Math.max(0, t - 1));

/** A uniformly random digit order, then the exact search fills an empty board with it. */
const randomSolution = (g: Geometry, d: Draws): Uint8Array => {
  // Seed the first row with a random permutation so the digit order matters from the start.
  const board = new Uint8Array(g.cells);
  const first = d.permutation(g.n);
  for (let c = 0; c < g.n; c++) board[c] = first[c]! + 1;
  const order = Array.from(d.permutation(g.n), (x) => x + 1);
  const r = solve(g, board, { limit: 1, digitOrder: order });
  if (r.solution === null) throw new Error('sudoku: no completion of a valid first row (impossible)');
  return r.solution;
};

/** Removes givens in random order while the puzzle stays unique (one pass ⇒ minimal). */
const carve = (g: Geometry, solution: Uint8Array, d: Draws, minGivens: number): Uint8Array => {
  const puzzle = solution.slice();
  let givens = g.cells;
  for (const k of d.permutation(g.cells)) {
    if (givens <= minGivens) break;
    const digit = puzzle[k]!;
    puzzle[k] = 0;
    const other = solve(g, puzzle, { limit: 1, forbid: { cell: k, digit } });
    if (other.count === 0) givens--;
    else puzzle[k] = digit;
  }
  return puzzle;
};

/** One unique puzzle from a key (no rating filter). Raw digits. */
export const generateRaw = (
  k: Key,
  box: Box,
  minGivens = 0,
): { puzzle: Uint8Array; solution: Uint8Array; rating: number } => {
  const g = geometry(box);
  const d = draws(k);
  const solution = randomSolution(g, d);
  const puzzle = carve(g, solution, d, minGivens);
  const rating = solve(g, puzzle, { limit: 2 }).guesses;
  return { puzzle, solution, rating };
};

const countGivens = (p: Uint8Array): number => p.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);

/** A puzzle satisfying the options, from key `k`; candidates are `foldIn(k, attempt)`. */
export const generateSudoku = (k: Key, opts: Omit<SudokuOptions, 'count'>): SudokuItem => {
  const maxAttempts = opts.maxAttemptsPerPuzzle ?? 1000;
  for (let a = 0; a < maxAttempts; a++) {
    const { puzzle, solution, rating } = generateRaw(foldIn(k, a), opts.box, opts.minGivens ?? 0);
    if (rating < (opts.minRating ?? 0) || rating > (opts.maxRating ?? Infinity)) continue;
    return { puzzle: toTokens(puzzle), solution: toTokens(solution), givens: countGivens(puzzle), rating };
  }
  throw new Error(
    `sudoku: no ${opts.box[0]}×${opts.box[1]} puzzle with rating in [${opts.minRating ?? 0}, ${opts.maxRating ?? '∞'}] after ${maxAttempts} attempts`,
  );
};

/**
 * `count` distinct puzzles (no two share a puzzle string), deterministic for the key.
 * Puzzle i is drawn from `foldIn(key, i')` for successive i', skipping duplicates.
 */
export const generateSudokuSet = (k: Key, opts: SudokuOptions): SudokuSet => {
  const seen = new Set<string>();
  const items: SudokuItem[] = [];
  const maxDraws = opts.count * (opts.maxAttemptsPerPuzzle ?? 1000);
  for (let i = 0; items.length < opts.count; i++) {
    if (i >= maxDraws)
      throw new Error(`sudoku: only ${items.length} distinct puzzles found after ${i} draws (asked for ${opts.count})`);
    const item = generateSudoku(foldIn(k, i), opts);
    const s = puzzleKey(item.puzzle);
    if (seen.has(s)) continue;
    seen.add(s);
    items.push(item);
  }
  return sudokuSet(opts.box, items);
};

export const sudokuSet = (box: Box, items: readonly SudokuItem[]): SudokuSet => {
  const n = box[0] * box[1];
  return { box, size: n, seqLen: n * n, vocabSize: n + 2, items };
};

/** A puzzle's identity as a string of tokens (the "no string overlap" of held-out sets). */
export const puzzleKey = (tokens: ArrayLike<number>): string =>
  String.fromCharCode(...Array.from(tokens, (t) => 48 + t));

/** The puzzle up to digit relabelling: digits renamed in order of first appearance. */
export const relabelKey = (tokens: ArrayLike<number>): string => {
  const map = new Map<number, number>();
  return String.fromCharCode(
    ...Array.from(tokens, (t) => {
      if (t < 2) return 48 + t;
      if (!map.has(t)) map.set(t, map.size + 2);
      return 48 + map.get(t)!;
    }),
  );
};

/** Checks a (puzzle, solution) token pair: the solution is valid and agrees with every given. */
export const isConsistentPair = (box: Box, puzzle: ArrayLike<number>, solution: ArrayLike<number>): boolean => {
  const g = geometry(box);
  const sol = fromTokens(solution);
  if (!isValidSolution(g, sol) || puzzle.length !== g.cells) return false;
  for (let k = 0; k < g.cells; k++) {
    const t = puzzle[k] ?? 0;
    if (t !== 1 && t !== (solution[k] ?? -1)) return false;
  }
  return true;
};

/** Exactly one solution, and it is `solution` (tokens). */
export const hasUniqueSolution = (box: Box, puzzle: ArrayLike<number>, solution: ArrayLike<number>): boolean => {
  const r = solve(geometry(box), fromTokens(puzzle), { limit: 2 });
  return r.count === 1 && r.solution !== null && r.solution.every((d, i) => d + 1 === solution[i]);
};
