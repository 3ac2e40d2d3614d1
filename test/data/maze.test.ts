/** Maze examples (§2): the official charset, the dataset layout with and without dihedral augmentation, CSV import. */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { key } from '../../src/random/index.js';
import { parsePuzzleCsv } from '../../src/io/csv.js';
import { formatBoundaryError } from '../../src/io/errors.js';
import { MAZE_CHARSET, generateMazes, isShortestPathLabel } from '../../src/data/maze.js';
import { mazeDataset, mazesFromCsv } from '../../src/data/maze-dataset.js';

const toText = (t: Uint8Array): string => Array.from(t, (v) => MAZE_CHARSET[v - 1]).join('');

describe('maze dataset', () => {
  const mazes = generateMazes(key(0), 4, { size: 12 });
  it('vocab 6, seq_len N², ids 0; --aug puts the 8 dihedral transforms in each training group', () => {
    const ds = mazeDataset(mazes, mazes.slice(0, 2), { aug: true });
    expect(ds.splits.train!.metadata).toMatchObject({
      vocab_size: 6,
      seq_len: 144,
      total_groups: 4,
      total_puzzles: 4,
      num_puzzle_identifiers: 1,
    });
    expect(Array.from(ds.splits.train!.sets[0]!.groupIndices)).toEqual([0, 8, 16, 24, 32]);
    expect(ds.splits.test!.sets[0]!.inputs.length).toBe(2 * 144);
  });

  it('round-trips through the official CSV text', () => {
    const text = ['source,q,a,rating', ...mazes.map((m) => `gen,${toText(m.input)},${toText(m.label)},0`)].join('\n');
    const back = E.flatMap(parsePuzzleCsv('m.csv', text), (rows) => mazesFromCsv('m.csv', rows));
    expect(E.isRight(back)).toBe(true);
    if (E.isRight(back)) {
      back.right.forEach((m, i) => {
        expect(m.input).toEqual(mazes[i]!.input);
        expect(m.pathLength).toBe(mazes[i]!.pathLength);
        expect(isShortestPathLabel(m.input, m.label, 12)).toBe(true);
      });
    }
  });

  it('rejects characters outside "# SGo" with file, line, column and cell', () => {
    const r = E.flatMap(parsePuzzleCsv('m.csv', `source,q,a,rating\nx,# SX,# SG,0\n`), (rows) =>
      mazesFromCsv('m.csv', rows),
    );
    expect(E.isLeft(r) && formatBoundaryError(r.left)).toBe(
      'm.csv: line 2 column q cell 3: character "X" is not in "# SGo"',
    );
  });
});
