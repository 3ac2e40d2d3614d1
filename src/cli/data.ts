/**
 * `trm data sudoku|maze|arc [options] --out DIR`: builds a dataset in the official format (§0) and
 * writes it atomically. Commander-free: `runDataCommand` takes the parsed options object (strings
 * or numbers, as commander hands them over) and returns an exit code; `DATA_OPTIONS` describes the
 * options so the `trm` program can declare them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { Progress } from '../train/run.js';
import { counter, terminalProgress } from './progress.js';
import { foldIn, key } from '../random/index.js';
import { buildArcDataset } from '../data/arc-build.js';
import { type ArcPuzzle, loadArcSubset } from '../data/arc-json.js';
import { parsePuzzleCsv } from '../io/csv.js';
import { type Dataset, writeDataset } from '../data/dataset.js';
import { type BoundaryError, fail, formatBoundaryError } from '../io/errors.js';
import { defaultMinPath, generateMazes } from '../data/maze.js';
import { mazeDataset, mazesFromCsv } from '../data/maze-dataset.js';
import { BOXES, sudokuSet } from '../data/sudoku.js';
import { generateSudokuSplits, sudokuDataset, sudokuFromCsv } from '../data/sudoku-dataset.js';
import { draws } from '../data/draws.js';

export type DataKind = 'sudoku' | 'maze' | 'arc';

export interface DataOptionSpec {
  readonly flags: string;
  readonly description: string;
  readonly kinds: readonly DataKind[];
  readonly default?: string;
}

/** Every option of `trm data`, for the CLI to declare (values arrive as strings). */
export const DATA_OPTIONS: readonly DataOptionSpec[] = [
  { flags: '--out <dir>', description: 'output directory (written atomically)', kinds: ['sudoku', 'maze', 'arc'] },
  { flags: '--seed <n>', description: 'random seed', kinds: ['sudoku', 'maze', 'arc'], default: '0 (arc: 42)' },
  { flags: '--overwrite', description: 'replace an existing dataset directory', kinds: ['sudoku', 'maze', 'arc'] },
  { flags: '--json', description: 'print what was written as one JSON object', kinds: ['sudoku', 'maze', 'arc'] },
  {
    flags: '--size <n>',
    description: 'sudoku: grid side 4, 6 or 9 (boxes 2×2, 2×3, 3×3); maze: side N',
    kinds: ['sudoku', 'maze'],
    default: 'sudoku 9, maze 30',
  },
  { flags: '--count <n>', description: 'training puzzles to generate', kinds: ['sudoku', 'maze'], default: '1000' },
  {
    flags: '--test-count <n>',
    description: 'held-out puzzles to generate (disjoint from training)',
    kinds: ['sudoku', 'maze'],
    default: '--count',
  },
  {
    flags: '--num-aug <n>',
    description: 'augmented copies per training puzzle (sudoku, arc); maze: 8 dihedral copies if > 0',
    kinds: ['sudoku', 'maze', 'arc'],
    default: 'sudoku 0, maze 0, arc 1000',
  },
  {
    flags: '--min-givens <n>',
    description: 'sudoku difficulty: stop removing givens at this many',
    kinds: ['sudoku'],
    default: '0 (minimal puzzles)',
  },
  { flags: '--min-rating <n>', description: 'sudoku difficulty: minimum solver branch points', kinds: ['sudoku'] },
  { flags: '--max-rating <n>', description: 'sudoku difficulty: maximum solver branch points', kinds: ['sudoku'] },
  {
    flags: '--min-path <n>',
    description: 'maze: minimum shortest-path length in moves',
    kinds: ['maze'],
    default: '111 on 30×30, scaled by area',
  },
  {
    flags: '--from-csv <dir>',
    description: 'import train.csv/test.csv in the official format (source,q,a,rating) instead of generating',
    kinds: ['sudoku', 'maze'],
  },
  {
    flags: '--subsample-size <n>',
    description: 'with --from-csv: keep this many training rows',
    kinds: ['sudoku', 'maze'],
  },
  {
    flags: '--min-difficulty <n>',
    description: 'with --from-csv (sudoku): keep rows with rating ≥ n',
    kinds: ['sudoku'],
  },
  {
    flags: '--prefix <path>',
    description: 'arc: input file prefix, reads {prefix}_{subset}_challenges.json',
    kinds: ['arc'],
  },
  {
    flags: '--subsets <names...>',
    description: 'arc: subsets in order',
    kinds: ['arc'],
    default: 'training evaluation concept',
  },
  {
    flags: '--test-set <name>',
    description: 'arc: subset whose test pairs form the test split',
    kinds: ['arc'],
    default: 'evaluation',
  },
];

export interface DataCommandIO {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  /** A progress bar for long builds (ARC augmentation); absent: quiet. */
  readonly progress?: Progress;
}

const defaultIO = (): DataCommandIO => {
  const progress = terminalProgress();
  return {
    stdout: (l) => process.stdout.write(`${l}\n`),
    stderr: (l) => process.stderr.write(`${l}\n`),
    ...(progress === undefined ? {} : { progress }),
  };
};

class OptionError extends Error {}

type Raw = Readonly<Record<string, unknown>>;

const intOpt = (o: Raw, name: string, flag: string, dflt: number, min = 0): number => {
  const v = o[name];
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min)
    throw new OptionError(`${flag}: expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
};

const optInt = (o: Raw, name: string, flag: string): number | undefined =>
  o[name] === undefined ? undefined : intOpt(o, name, flag, 0);

const strOpt = (o: Raw, name: string, flag: string): string | undefined => {
  const v = o[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new OptionError(`${flag}: expected a non-empty string`);
  return v;
};

const readCsv = (
  file: string,
): E.Either<BoundaryError, ReturnType<typeof parsePuzzleCsv> extends E.Either<BoundaryError, infer R> ? R : never> => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return fail(file, '', (e as Error).message);
  }
  return parsePuzzleCsv(file, text);
};

/** Official subsampling (train only): a random subset of `size` rows, in the drawn order. */
const subsample = <T>(seed: number, rows: readonly T[], size: number | undefined): T[] =>
  size === undefined || size >= rows.length
    ? [...rows]
    : Array.from(draws(key(seed)).permutation(rows.length).subarray(0, size), (i) => rows[i]!);

const buildSudoku = (o: Raw, seed: number): E.Either<BoundaryError, Dataset> => {
  const size = intOpt(o, 'size', '--size', 9);
  if (size !== 4 && size !== 6 && size !== 9) throw new OptionError(`--size: sudoku supports 4, 6 or 9, got ${size}`);
  const numAug = intOpt(o, 'numAug', '--num-aug', 0);
  const k = key(seed);
  const dir = strOpt(o, 'fromCsv', '--from-csv');
  if (dir !== undefined) {
    const minDifficulty = optInt(o, 'minDifficulty', '--min-difficulty');
    const load = (name: string) =>
      E.flatMap(readCsv(join(dir, name)), (rows) =>
        sudokuFromCsv(join(dir, name), rows, minDifficulty === undefined ? {} : { minDifficulty }),
      );
    return E.flatMap(load('train.csv'), (train) =>
      E.flatMap(load('test.csv'), (test) =>
        E.right(
          sudokuDataset(
            k,
            sudokuSet(train.box, subsample(seed, train.items, optInt(o, 'subsampleSize', '--subsample-size'))),
            test,
            { numAug },
          ),
        ),
      ),
    );
  }
  const count = intOpt(o, 'count', '--count', 1000, 1);
  const opts = {
    box: BOXES[size],
    trainCount: count,
    testCount: intOpt(o, 'testCount', '--test-count', count),
    minGivens: intOpt(o, 'minGivens', '--min-givens', 0),
    ...(o.minRating === undefined ? {} : { minRating: intOpt(o, 'minRating', '--min-rating', 0) }),
    ...(o.maxRating === undefined ? {} : { maxRating: intOpt(o, 'maxRating', '--max-rating', 0) }),
  };
  const { train, test } = generateSudokuSplits(k, opts);
  return E.right(sudokuDataset(k, train, test, { numAug }));
};

const buildMaze = (o: Raw, seed: number): E.Either<BoundaryError, Dataset> => {
  const aug = intOpt(o, 'numAug', '--num-aug', 0) > 0;
  const dir = strOpt(o, 'fromCsv', '--from-csv');
  if (dir !== undefined) {
    const load = (name: string) => E.flatMap(readCsv(join(dir, name)), (rows) => mazesFromCsv(join(dir, name), rows));
    return E.flatMap(load('train.csv'), (train) =>
      E.flatMap(load('test.csv'), (test) =>
        E.right(mazeDataset(subsample(seed, train, optInt(o, 'subsampleSize', '--subsample-size')), test, { aug })),
      ),
    );
  }
  const size = intOpt(o, 'size', '--size', 30, 2);
  if (size > 255) throw new OptionError(`--size: maze side must be ≤ 255, got ${size}`);
  const count = intOpt(o, 'count', '--count', 1000, 1);
  const opts = { size, minPath: intOpt(o, 'minPath', '--min-path', defaultMinPath(size)) };
  const k = key(seed);
  // Train and test come from disjoint key streams (maze i of split s from foldIn(foldIn(k, s), i)).
  const train = generateMazes(foldIn(k, 0), count, opts);
  const test = generateMazes(foldIn(k, 1), intOpt(o, 'testCount', '--test-count', count), opts);
  return E.right(mazeDataset(train, test, { aug }));
};

const subsetsOpt = (o: Raw): string[] => {
  const v = o.subsets;
  if (v === undefined) return ['training', 'evaluation', 'concept'];
  const list = Array.isArray(v) ? v : typeof v === 'string' ? v.split(/[\s,]+/) : null;
  if (list === null || list.length === 0 || list.some((s) => typeof s !== 'string' || s === ''))
    throw new OptionError('--subsets: expected subset names');
  return list as string[];
};

const buildArc = (o: Raw, seed: number, io: DataCommandIO): E.Either<BoundaryError, Dataset> => {
  const prefix = strOpt(o, 'prefix', '--prefix') ?? 'kaggle/combined/arc-agi';
  const subsets = subsetsOpt(o);
  const loaded: [string, ArcPuzzle[]][] = [];
  for (const s of subsets) {
    const r = loadArcSubset(prefix, s, existsSync);
    if (E.isLeft(r)) return r;
    loaded.push([s, r.right]);
  }
  const { dataset, shortGroups } = buildArcDataset(key(seed), loaded, {
    testSetName: strOpt(o, 'testSet', '--test-set') ?? 'evaluation',
    numAug: intOpt(o, 'numAug', '--num-aug', 1000),
    ...(io.progress === undefined ? {} : { onPuzzle: counter(io.progress, 'puzzle') }),
  });
  io.progress?.done();
  for (const g of shortGroups) io.stderr(`[Puzzle ${g.id}] augmentation not full, only ${g.size}`);
  return E.right(dataset);
};

/** Runs `trm data <kind>`; 0 on success, 2 on bad input or options. */
export const runDataCommand = async (kind: string, o: Raw, io: DataCommandIO = defaultIO()): Promise<number> => {
  try {
    const out = strOpt(o, 'out', '--out');
    if (out === undefined) throw new OptionError('--out: required');
    const built =
      kind === 'sudoku'
        ? buildSudoku(o, intOpt(o, 'seed', '--seed', 0))
        : kind === 'maze'
          ? buildMaze(o, intOpt(o, 'seed', '--seed', 0))
          : kind === 'arc'
            ? buildArc(o, intOpt(o, 'seed', '--seed', 42), io)
            : (() => {
                throw new OptionError(`unknown dataset '${kind}' (expected sudoku, maze or arc)`);
              })();
    if (E.isLeft(built)) {
      io.stderr(`trm data: ${formatBoundaryError(built.left)}`);
      return 2;
    }
    const written = await writeDataset(out, built.right, { overwrite: o.overwrite === true });
    if (E.isLeft(written)) {
      io.stderr(`trm data: ${formatBoundaryError(written.left)}`);
      return 2;
    }
    const train = built.right.splits.train?.metadata;
    const test = built.right.splits.test?.metadata;
    if (o.json === true) {
      const split = (m: typeof train) =>
        m === undefined ? null : { groups: m.total_groups, puzzles: m.total_puzzles };
      io.stdout(
        JSON.stringify({
          out,
          kind,
          train: split(train),
          test: split(test),
          vocab_size: train?.vocab_size ?? test?.vocab_size ?? null,
          seq_len: train?.seq_len ?? test?.seq_len ?? null,
        }),
      );
      return 0;
    }
    io.stdout(
      `wrote ${out}: train ${train?.total_groups ?? 0} groups / ${train?.total_puzzles ?? 0} puzzles, test ${test?.total_groups ?? 0} groups; vocab ${train?.vocab_size}, seq_len ${train?.seq_len}`,
    );
    return 0;
  } catch (e) {
    if (e instanceof OptionError) {
      io.stderr(`trm data ${kind}: ${e.message}`);
      return 2;
    }
    throw e;
  }
};
