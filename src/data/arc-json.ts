/**
 * Loading ARC puzzles: `{prefix}_{subset}_challenges.json` (id → {train: [{input, output}],
 * test: [{input}]}) and the optional `{prefix}_{subset}_solutions.json` (id → output grids,
 * index-aligned with `test`); without a solutions file every test output is [[0]] (§3.1).
 * Grids are checked as `arc_grid_to_np` does (2-D, both sides ≤ 30, colours 0..9), plus ragged rows.
 * The JSON key order of each puzzle (`train`/`test`) is kept: it decides example order (§3.2).
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, catchBoundary, fsError, fail, orFail } from '../io/errors.js';
import { type Grid, toRows } from './grid.js';
import { orderedEntries } from '../io/json-order.js';

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

/** Decodes one grid; `where` is its path for errors (e.g. `puzzle 007bbfb7 train[0].input`). */
const decodeGrid = (file: string, where: string, u: unknown): Grid => {
  if (!Array.isArray(u) || u.length === 0) return fail(file, where, 'expected a non-empty list of rows');
  if (u.length > MAX_ARC_SIDE) fail(file, where, `grid has ${u.length} rows (max ${MAX_ARC_SIDE})`);
  const first = u[0];
  if (!Array.isArray(first) || first.length === 0)
    return fail(file, `${where} row 0`, 'expected a non-empty list of colours');
  const w = first.length;
  if (w > MAX_ARC_SIDE) fail(file, `${where} row 0`, `grid has ${w} columns (max ${MAX_ARC_SIDE})`);
  const data = new Uint8Array(u.length * w);
  u.forEach((row, r) => {
    if (!Array.isArray(row)) return fail(file, `${where} row ${r}`, 'expected a list of colours');
    if (row.length !== w) fail(file, `${where} row ${r}`, `ragged row: ${row.length} cells, row 0 has ${w}`);
    row.forEach((v, c) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 9)
        fail(file, `${where} row ${r} col ${c}`, `colour ${JSON.stringify(v)} is not an integer in 0..9`);
      data[r * w + c] = v as number;
    });
  });
  return { h: u.length, w, data };
};

/** Reads a JSON object file as entries in file order (ids like "22168020" must not jump ahead). */
const readObjectEntries = (file: string, what: string): [string, unknown][] => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return orFail(E.left(fsError(file, '', e)));
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return fail(file, '', `malformed JSON (${(e as Error).message})`);
  }
  if (!isRecord(parsed)) return fail(file, '', `expected an object: ${what}`);
  return orderedEntries(text, parsed);
};

const ZERO: Grid = { h: 1, w: 1, data: new Uint8Array(1) };

const decodePuzzle = (
  file: string,
  id: string,
  u: unknown,
  solutions: readonly Grid[] | null,
  solFile: string,
): ArcPuzzle => {
  const at = `puzzle ${id}`;
  if (!isRecord(u)) return fail(file, at, 'expected an object with "train" and "test"');
  const keyOrder = Object.keys(u).filter((k): k is ArcKind => k === 'train' || k === 'test');
  if (keyOrder.length !== 2) fail(file, at, 'expected both "train" and "test" lists');
  const list = (kind: ArcKind): unknown[] => {
    const v = u[kind];
    return Array.isArray(v) ? v : fail(file, `${at} ${kind}`, 'expected a list of pairs');
  };
  const train = list('train').map((p, i) => {
    if (!isRecord(p)) return fail(file, `${at} train[${i}]`, 'expected {input, output}');
    return {
      input: decodeGrid(file, `${at} train[${i}].input`, p.input),
      output: decodeGrid(file, `${at} train[${i}].output`, p.output),
    };
  });
  const testRaw = list('test');
  if (solutions !== null && solutions.length !== testRaw.length) {
    fail(solFile, at, `${solutions.length} solutions for ${testRaw.length} test inputs`);
  }
  const test = testRaw.map((p, i) => {
    if (!isRecord(p)) return fail(file, `${at} test[${i}]`, 'expected {input}');
    const input = decodeGrid(file, `${at} test[${i}].input`, p.input);
    const given = p.output === undefined ? ZERO : decodeGrid(file, `${at} test[${i}].output`, p.output);
    return { input, output: solutions?.[i] ?? given };
  });
  return { id, keyOrder, train, test };
};

const decodeSolutions = (file: string): Map<string, Grid[]> =>
  new Map(
    readObjectEntries(file, 'puzzle id -> list of output grids').map(([id, v]) => {
      if (!Array.isArray(v)) return fail(file, `puzzle ${id}`, 'expected a list of output grids');
      return [id, v.map((g, i) => decodeGrid(file, `puzzle ${id} solution[${i}]`, g))] as const;
    }),
  );

export const challengesFile = (prefix: string, subset: string): string => `${prefix}_${subset}_challenges.json`;
export const solutionsFile = (prefix: string, subset: string): string => `${prefix}_${subset}_solutions.json`;

/** Loads a subset in JSON order, with solutions filled in (or [[0]] when the solutions file is absent). */
export const loadArcSubset = (
  prefix: string,
  subset: string,
  fileExists: (f: string) => boolean,
): E.Either<BoundaryError, ArcPuzzle[]> =>
  catchBoundary(() => {
    const cf = challengesFile(prefix, subset);
    const sf = solutionsFile(prefix, subset);
    const challenges = readObjectEntries(cf, 'puzzle id -> puzzle');
    const solutions = fileExists(sf) ? decodeSolutions(sf) : null;
    return challenges.map(([id, p]) => {
      const sol =
        solutions === null ? null : (solutions.get(id) ?? fail(sf, `puzzle ${id}`, 'missing from the solutions file'));
      return decodePuzzle(cf, id, p, sol, sf);
    });
  });

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
): E.Either<BoundaryError, ArcPuzzle[]> =>
  catchBoundary(() => entries.map(([id, p]) => decodePuzzle(file, id, p, null, file)));

/** Reads test_puzzles.json from a dataset directory, in file order. */
export const readTestPuzzles = (file: string): E.Either<BoundaryError, ArcPuzzle[]> =>
  catchBoundary(() => orFail(decodeTestPuzzles(file, readObjectEntries(file, 'puzzle id -> puzzle'))));
