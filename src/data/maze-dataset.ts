/**
 * Mazes in the official dataset layout (§2): one example per puzzle, puzzle ids all 0,
 * num_puzzle_identifiers = 1, total_puzzles = total_groups = number of mazes, vocab 6, seq_len N².
 * With `aug` (train only; the official flag defaults to off) each group holds the 8 dihedral
 * transforms, tid 0..7 in order.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { CsvRow } from '../io/csv.js';
import { type Dataset, type PuzzleSet, type Split, metadataFor, uniformLayout } from './dataset.js';
import { DIHEDRAL_IDS } from './dihedral.js';
import { type BoundaryError, fail } from '../io/errors.js';
import { MAZE_VOCAB, type MazeItem, mazeDihedral, mazeTokens } from './maze.js';

export const mazeSplit = (items: readonly MazeItem[], opts: { aug?: boolean } = {}): Split => {
  const n = items[0]?.size ?? 30;
  const seqLen = n * n;
  const groups = items.map((m) => (opts.aug === true ? DIHEDRAL_IDS.map((t) => mazeDihedral(m, t)) : [m]));
  const total = groups.reduce((a, g) => a + g.length, 0);
  const inputs = new Uint8Array(total * seqLen);
  const labels = new Uint8Array(total * seqLen);
  groups.flat().forEach((m, p) => {
    if (m.size !== n) throw new Error(`maze: mixed sizes ${n} and ${m.size} in one split`);
    inputs.set(m.input, p * seqLen);
    labels.set(m.label, p * seqLen);
  });
  const sets: PuzzleSet[] = [
    {
      name: 'all',
      inputs,
      labels,
      puzzleIdentifiers: new Int32Array(total),
      ...uniformLayout(
        items.length,
        groups.map((g) => g.length),
      ),
    },
  ];
  return {
    metadata: metadataFor(sets, { vocabSize: MAZE_VOCAB, seqLen, numPuzzleIdentifiers: 1, totalPuzzles: items.length }),
    sets,
  };
};

export const mazeDataset = (
  train: readonly MazeItem[],
  test: readonly MazeItem[],
  opts: { aug?: boolean } = {},
): Dataset => ({
  splits: { train: mazeSplit(train, opts), test: mazeSplit(test) },
  identifiers: ['<blank>'],
});

/**
 * Converts official CSV rows (Maze-Hard) to maze items: the side is √len(q) of the first row, every
 * character must be in "# SGo" (the official builder asserts this), and `a` is the label.
 */
export const mazesFromCsv = (file: string, rows: readonly CsvRow[]): E.Either<BoundaryError, MazeItem[]> => {
  const first = rows[0]?.q.length ?? 0;
  const n = Math.round(Math.sqrt(first));
  if (n * n !== first) return fail(file, `line ${rows[0]?.line ?? 2} column q`, `length ${first} is not a square`);
  const parse = (row: CsvRow, col: 'q' | 'a'): E.Either<BoundaryError, Uint8Array> => {
    const s = row[col];
    if (s.length !== n * n) {
      return fail(file, `line ${row.line} column ${col}`, `expected ${n * n} characters, got ${s.length}`);
    }
    const t = mazeTokens(s);
    if (typeof t === 'number') {
      return fail(
        file,
        `line ${row.line} column ${col} cell ${t}`,
        `character ${JSON.stringify(s[t])} is not in "# SGo"`,
      );
    }
    return E.right(t);
  };
  const items: MazeItem[] = [];
  for (const row of rows) {
    const input = parse(row, 'q');
    if (E.isLeft(input)) return input;
    const label = parse(row, 'a');
    if (E.isLeft(label)) return label;
    const pathLength = label.right.reduce((a, v) => a + (v === 5 ? 1 : 0), 0) + 1;
    items.push({ size: n, input: input.right, label: label.right, pathLength });
  }
  return E.right(items);
};
