/**
 * The official Sudoku augmentation (`shuffle_sudoku`, §1), generalised to a br×bc box:
 * a digit permutation (blank and PAD fixed), a transpose with probability ½ (only when the box is
 * square, since transposing a 2×3-box grid gives 3×2 boxes), a permutation of the bands (groups of
 * br rows) and of the rows within each band, and the same for stacks (groups of bc columns).
 * Draw order and composition follow the official code: digit map, transpose flag, bands+rows,
 * stacks+columns; then transpose, then new[i][j] = old[row_perm[i]][col_perm[j]], then the digit map.
 * Every such map sends a valid (puzzle, solution) pair to a valid pair.
 */
import { type Draws, type Key, draws } from './draws.js';
import type { Box } from './sudoku-solver.js';

export interface SudokuTransform {
  /** Token map: 0→0, 1→1, d+1 → perm(d)+1. Length n+2. */
  readonly tokenMap: Uint8Array;
  readonly transpose: boolean;
  readonly rowPerm: Int32Array;
  readonly colPerm: Int32Array;
}

const groupedPermutation = (d: Draws, groups: number, size: number): Int32Array => {
  const out = new Int32Array(groups * size);
  const order = d.permutation(groups);
  order.forEach((b, i) => {
    const inner = d.permutation(size);
    inner.forEach((x, j) => (out[i * size + j] = b * size + x));
  });
  return out;
};

/** Draws a transform for a box shape, in the official order. */
export const drawSudokuTransform = (k: Key, box: Box, opts: { digitsOnly?: boolean } = {}): SudokuTransform => {
  const d = draws(k);
  const [br, bc] = box;
  const n = br * bc;
  const perm = d.permutation(n);
  const tokenMap = Uint8Array.from({ length: n + 2 }, (_, t) => (t < 2 ? t : perm[t - 2]! + 2));
  const identity = (m: number): Int32Array => Int32Array.from({ length: m }, (_, i) => i);
  if (opts.digitsOnly === true) return { tokenMap, transpose: false, rowPerm: identity(n), colPerm: identity(n) };
  const transpose = br === bc && d.uniform() < 0.5;
  const rowPerm = groupedPermutation(d, n / br, br);
  const colPerm = groupedPermutation(d, n / bc, bc);
  return { tokenMap, transpose, rowPerm, colPerm };
};

/** Applies a transform to an n×n token grid. */
export const applySudokuTransform = (t: SudokuTransform, tokens: ArrayLike<number>): Uint8Array => {
  const n = t.rowPerm.length;
  const out = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const r = t.rowPerm[i]!;
      const c = t.colPerm[j]!;
      const src = t.transpose ? c * n + r : r * n + c;
      out[i * n + j] = t.tokenMap[tokens[src] ?? 0] ?? 0;
    }
  }
  return out;
};

/** One augmented copy of a (puzzle, solution) token pair; the label is the transformed solution. */
export const augmentSudoku = (
  k: Key,
  puzzle: ArrayLike<number>,
  solution: ArrayLike<number>,
  box: Box,
  opts: { digitsOnly?: boolean } = {},
): { puzzle: Uint8Array; solution: Uint8Array } => {
  const t = drawSudokuTransform(k, box, opts);
  return { puzzle: applySudokuTransform(t, puzzle), solution: applySudokuTransform(t, solution) };
};
