/**
 * Loading ARC puzzles: `{prefix}_{subset}_challenges.json` (id → {train: [{input, output}],
 * test: [{input}]}) and the optional `{prefix}_{subset}_solutions.json` (id → output grids,
 * index-aligned with `test`); without a solutions file every test output is [[0]] (§3.1).
 * Grids are checked as `arc_grid_to_np` does (2-D, both sides ≤ 30, colours 0..9), plus ragged rows.
 * The JSON key order of each puzzle (`train`/`test`) is kept: it decides example order (§3.2).
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { type BoundaryError, fail } from '../io/errors.js';
import { objectEntries, readText } from '../io/files.js';
import { type Grid, toRows } from './grid.js';

export interface ArcPair {
  readonly input: Grid;
  readonly output: Grid;
}

export type ArcKind = 'train' | 'test';

export interface ArcPuzzle {
  readonly id: string;
  /** `train` and `test` in the order the JSON object lists them. */
  readonly keyOrder: readonly ArcKind[];
  readonly train: readonly ArcPair[];
  readonly test: readonly ArcPair[];
}

export const MAX_ARC_SIDE = 30;

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

type Decoded<A> = E.Either<BoundaryError, A>;

/** Decodes one grid; `where` is its path for errors (e.g. `puzzle 007bbfb7 train[0].input`). */
const decodeGrid = (file: string, where: string, u: unknown): Decoded<Grid> => {
  if (!Array.isArray(u) || u.length === 0) return fail(file, where, 'expected a non-empty list of rows');
  if (u.length > MAX_ARC_SIDE) return fail(file, where, `grid has ${u.length} rows (max ${MAX_ARC_SIDE})`);
  const first: unknown = u[0];
  if (!Array.isArray(first) || first.length === 0)
    return fail(file, `${where} row 0`, 'expected a non-empty list of colours');
  const w = first.length;
  if (w > MAX_ARC_SIDE) return fail(file, `${where} row 0`, `grid has ${w} columns (max ${MAX_ARC_SIDE})`);
  const data = new Uint8Array(u.length * w);
  for (let r = 0; r < u.length; r++) {
    const row: unknown = u[r];
    if (!Array.isArray(row)) return fail(file, `${where} row ${r}`, 'expected a list of colours');
    if (row.length !== w) return fail(file, `${where} row ${r}`, `ragged row: ${row.length} cells, row 0 has ${w}`);
    for (let c = 0; c < row.length; c++) {
      const v: unknown = row[c];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 9)
        return fail(file, `${where} row ${r} col ${c}`, `colour ${JSON.stringify(v)} is not an integer in 0..9`);
      data[r * w + c] = v;
    }
  }
  return E.right({ h: u.length, w, data });
};

/** Reads a JSON object file as entries in file order (ids like "22168020" must not jump ahead). */
const readObjectEntries = (file: string, what: string): Decoded<[string, unknown][]> =>
  pipe(
    readText(file),
    E.chain((text) => objectEntries(file, text, what)),
  );

const ZERO: Grid = { h: 1, w: 1, data: new Uint8Array(1) };

const decodePuzzle = (
  file: string,
  id: string,
  u: unknown,
  solutions: readonly Grid[] | null,
  solFile: string,
): Decoded<ArcPuzzle> => {
  const at = `puzzle ${id}`;
  if (!isRecord(u)) return fail(file, at, 'expected an object with "train" and "test"');
  const keyOrder = Object.keys(u).filter((k): k is ArcKind => k === 'train' || k === 'test');
  if (keyOrder.length !== 2) return fail(file, at, 'expected both "train" and "test" lists');
  const list = (kind: ArcKind): Decoded<readonly unknown[]> => {
    const v = u[kind];
    return Array.isArray(v) ? E.right(v) : fail(file, `${at} ${kind}`, 'expected a list of pairs');
  };
  const trainPair = (i: number, p: unknown): Decoded<ArcPair> =>
    !isRecord(p)
      ? fail(file, `${at} train[${i}]`, 'expected {input, output}')
      : pipe(
          E.Do,
          E.bind('input', () => decodeGrid(file, `${at} train[${i}].input`, p.input)),
          E.bind('output', () => decodeGrid(file, `${at} train[${i}].output`, p.output)),
        );
  const testPair = (i: number, p: unknown): Decoded<ArcPair> =>
    !isRecord(p)
      ? fail(file, `${at} test[${i}]`, 'expected {input}')
      : pipe(
          E.Do,
          E.bind('input', () => decodeGrid(file, `${at} test[${i}].input`, p.input)),
          E.bind('given', () =>
            p.output === undefined ? E.right(ZERO) : decodeGrid(file, `${at} test[${i}].output`, p.output),
          ),
          E.map(({ input, given }) => ({ input, output: solutions?.[i] ?? given })),
        );
  return pipe(
    E.Do,
    E.bind('train', () => pipe(list('train'), E.chain(E.traverseArrayWithIndex(trainPair)))),
    E.bind('testRaw', () => list('test')),
    E.chainFirst(({ testRaw }) =>
      solutions !== null && solutions.length !== testRaw.length
        ? fail(solFile, at, `${solutions.length} solutions for ${testRaw.length} test inputs`)
        : E.right(undefined),
    ),
    E.bind('test', ({ testRaw }) => E.traverseArrayWithIndex(testPair)(testRaw)),
    E.map(({ train, test }) => ({ id, keyOrder, train, test })),
  );
};

const decodeSolutions = (file: string): Decoded<Map<string, readonly Grid[]>> =>
  pipe(
    readObjectEntries(file, 'puzzle id -> list of output grids'),
    E.chain(
      E.traverseArray(([id, v]) =>
        !Array.isArray(v)
          ? fail(file, `puzzle ${id}`, 'expected a list of output grids')
          : pipe(
              v,
              E.traverseArrayWithIndex((i, g: unknown) => decodeGrid(file, `puzzle ${id} solution[${i}]`, g)),
              E.map((grids) => [id, grids] as const),
            ),
      ),
    ),
    E.map((entries) => new Map(entries)),
  );

export const challengesFile = (prefix: string, subset: string): string => `${prefix}_${subset}_challenges.json`;
export const solutionsFile = (prefix: string, subset: string): string => `${prefix}_${subset}_solutions.json`;

/** Loads a subset in JSON order, with solutions filled in (or [[0]] when the solutions file is absent). */
export const loadArcSubset = (
  prefix: string,
  subset: string,
  fileExists: (f: string) => boolean,
): Decoded<ArcPuzzle[]> => {
  const cf = challengesFile(prefix, subset);
  const sf = solutionsFile(prefix, subset);
  const challenges = readObjectEntries(cf, 'puzzle id -> puzzle');
  if (E.isLeft(challenges)) return challenges;
  const solutions = fileExists(sf) ? decodeSolutions(sf) : E.right(null);
  if (E.isLeft(solutions)) return solutions;
  const puzzles: ArcPuzzle[] = [];
  for (const [id, p] of challenges.right) {
    let sol: readonly Grid[] | null = null;
    if (solutions.right !== null) {
      const found = solutions.right.get(id);
      if (found === undefined) return fail(sf, `puzzle ${id}`, 'missing from the solutions file');
      sol = found;
    }
    const puzzle = decodePuzzle(cf, id, p, sol, sf);
    if (E.isLeft(puzzle)) return puzzle;
    puzzles.push(puzzle.right);
  }
  return E.right(puzzles);
};

/** The raw JSON form of a puzzle with its solutions, keys in the original order (test_puzzles.json, §3.7). */
export const puzzleToJson = (p: ArcPuzzle): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const k of p.keyOrder) {
    out[k] = p[k].map((pair) => ({ input: toRows(pair.input), output: toRows(pair.output) }));
  }
  return out;
};

/** Decodes ordered entries of test_puzzles.json (written by the builder) back into puzzles. */
export const decodeTestPuzzles = (
  file: string,
  entries: readonly (readonly [string, unknown])[],
): Decoded<ArcPuzzle[]> =>
  pipe(
    entries,
    E.traverseArray(([id, p]) => decodePuzzle(file, id, p, null, file)),
    E.map((puzzles) => [...puzzles]),
  );

/** Reads test_puzzles.json from a dataset directory, in file order. */
export const readTestPuzzles = (file: string): Decoded<ArcPuzzle[]> =>
  pipe(
    readObjectEntries(file, 'puzzle id -> puzzle'),
    E.chain((entries) => decodeTestPuzzles(file, entries)),
  );
