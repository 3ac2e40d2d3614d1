/**
 * Sudoku puzzles as users type them: "1.3.....2..." (row-major; '.', '0' or '_' for a blank;
 * spaces, '|', '-' and '+' ignored), 16, 36 or 81 cells. Tokens follow the official layout:
 * blank 1, digit d → d+1.
 */
import * as E from 'fp-ts/lib/Either.js';
import { BOXES, type Box } from './sudoku.js';

/** A parsed puzzle: its size, box shape and cells as tokens. */
export interface ParsedPuzzle {
  /** Side of the grid: 4, 6 or 9. */
  readonly size: 4 | 6 | 9;
  /** Box shape [rows, columns]: [2, 2], [2, 3] or [3, 3]. */
  readonly box: Box;
  /** The cells in row-major order as tokens: blank 1, digit d → d+1. */
  readonly tokens: number[];
}

/** Parses a typed puzzle (see the module comment); Left with a message naming the bad cell or count. */
export const parsePuzzle = (text: string): E.Either<string, ParsedPuzzle> => {
  const cells = [...text.replace(/[\s|+-]/g, '')];
  const size = Math.round(Math.sqrt(cells.length));
  if (size * size !== cells.length || (size !== 4 && size !== 6 && size !== 9)) {
    return E.left(`a puzzle has 16, 36 or 81 cells (4×4, 6×6, 9×9); got ${cells.length}`);
  }
  const tokens: number[] = [];
  for (const [i, c] of cells.entries()) {
    if (c === '.' || c === '0' || c === '_') tokens.push(1);
    else if (/^[1-9]$/.test(c) && Number(c) <= size) tokens.push(Number(c) + 1);
    else
      return E.left(
        `cell ${i + 1} (row ${Math.floor(i / size) + 1}, column ${(i % size) + 1}) is '${c}': expected 1..${size} or '.'`,
      );
  }
  return E.right({ size, box: BOXES[size], tokens });
};

/** Tokens back to a compact string ('.' for blank). */
export const puzzleString = (tokens: ArrayLike<number>): string =>
  Array.from(tokens, (t) => (t <= 1 ? '.' : String(t - 1))).join('');

/** True when the board (tokens) is a complete valid Sudoku that keeps every given of the puzzle. */
export const isSolution = (box: Box, puzzle: ArrayLike<number>, board: ArrayLike<number>): boolean => {
  const [br, bc] = box;
  const n = br * bc;
  if (board.length !== n * n) return false;
  for (let i = 0; i < n * n; i++) {
    const v = board[i]! - 1;
    if (v < 1 || v > n) return false;
    if (puzzle[i]! > 1 && puzzle[i] !== board[i]) return false;
  }
  const ok = (cells: number[]): boolean => new Set(cells.map((c) => board[c])).size === n;
  for (let r = 0; r < n; r++) if (!ok(Array.from({ length: n }, (_, c) => r * n + c))) return false;
  for (let c = 0; c < n; c++) if (!ok(Array.from({ length: n }, (_, r) => r * n + c))) return false;
  for (let b = 0; b < n; b++) {
    const r0 = Math.floor(b / (n / bc)) * br;
    const c0 = (b % (n / bc)) * bc;
    const cells: number[] = [];
    for (let r = 0; r < br; r++) for (let c = 0; c < bc; c++) cells.push((r0 + r) * n + c0 + c);
    if (!ok(cells)) return false;
  }
  return true;
};
