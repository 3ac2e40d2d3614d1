/**
 * The official on-disk dataset format (§0), read and written so datasets move both ways between
 * trm-ts and the official code:
 *
 *   <out>/<split>/dataset.json                     metadata (PuzzleDatasetMetadata)
 *   <out>/<split>/<set>__inputs.npy                uint8 [N_examples, seq_len]
 *   <out>/<split>/<set>__labels.npy                uint8 [N_examples, seq_len]
 *   <out>/<split>/<set>__puzzle_identifiers.npy    int32 [N_puzzles]
 *   <out>/<split>/<set>__puzzle_indices.npy        int32 [N_puzzles+1]
 *   <out>/<split>/<set>__group_indices.npy         int32 [N_groups+1]
 *   <out>/identifiers.json                         id -> name, index 0 = "<blank>"
 *   <out>/test_puzzles.json                        (ARC only) raw test-subset puzzles
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { NonNegativeInt, NonNegativeNumber, PositiveInt } from '../io/codecs.js';
import { type AtomicOptions, type OutputFile, writeDirAtomic } from '../io/atomic-dir.js';
import { type BoundaryError, decode, fail, fsError } from '../io/errors.js';
import { objectEntries, parseJson, readBytes } from '../io/files.js';
import { stringifyEntries } from '../io/json-order.js';
import { decodeNpy, encodeNpy, npyToInt32 } from '../io/npy.js';

/** `PuzzleDatasetMetadata` (§0), field names as the official JSON spells them. */
export const Metadata = t.type(
  {
    // Ids are plain integers (an ignore label may be negative, like PyTorch's -100); counts are refined.
    pad_id: t.Int,
    ignore_label_id: t.union([t.Int, t.null]),
    blank_identifier_id: t.Int,
    vocab_size: PositiveInt,
    seq_len: PositiveInt,
    num_puzzle_identifiers: PositiveInt,
    total_groups: NonNegativeInt,
    mean_puzzle_examples: NonNegativeNumber,
    total_puzzles: NonNegativeInt,
    sets: t.array(t.string),
  },
  'PuzzleDatasetMetadata',
);
export type Metadata = t.OutputOf<typeof Metadata>;

/** One set of a split: examples, puzzles and groups as flat arrays (§0 hierarchy). */
export interface PuzzleSet {
  readonly name: string;
  /** Token ids, [N_examples × seq_len] row-major. */
  readonly inputs: Uint8Array;
  /** Token ids, same shape; 0 (= ignore_label_id) becomes −100 when batched (§4). */
  readonly labels: Uint8Array;
  readonly puzzleIdentifiers: Int32Array;
  /** puzzle p owns examples [pi[p], pi[p+1]) */
  readonly puzzleIndices: Int32Array;
  /** group g owns puzzles [gi[g], gi[g+1]) */
  readonly groupIndices: Int32Array;
}

export interface Split {
  readonly metadata: Metadata;
  readonly sets: readonly PuzzleSet[];
}

export interface Dataset {
  /** Usually `train` and `test`, in that order. */
  readonly splits: Readonly<Record<string, Split>>;
  readonly identifiers: readonly string[];
  /** ARC only: the raw test-subset puzzles with solutions (§3.7), as ordered (id, JSON) entries. */
  readonly testPuzzles?: readonly (readonly [string, unknown])[];
}

export const numExamples = (s: PuzzleSet, seqLen: number): number => s.inputs.length / seqLen;

// ---------------------------------------------------------------------------------------------
// Building metadata

export interface MetadataFields {
  readonly vocabSize: number;
  readonly seqLen: number;
  readonly numPuzzleIdentifiers: number;
  /** The Sudoku and Maze builders report total_puzzles = number of groups (§1); pass it here. */
  readonly totalPuzzles?: number;
}

/** Metadata of a split holding `sets`, with the constants every official builder uses (§0). */
export const metadataFor = (sets: readonly PuzzleSet[], f: MetadataFields): Metadata => {
  const totalGroups = sets.reduce((a, s) => a + s.groupIndices.length - 1, 0);
  const puzzles = sets.reduce((a, s) => a + s.puzzleIdentifiers.length, 0);
  const examples = sets.reduce((a, s) => a + s.inputs.length / f.seqLen, 0);
  return {
    pad_id: 0,
    ignore_label_id: 0,
    blank_identifier_id: 0,
    vocab_size: f.vocabSize,
    seq_len: f.seqLen,
    num_puzzle_identifiers: f.numPuzzleIdentifiers,
    total_groups: totalGroups,
    mean_puzzle_examples: puzzles === 0 ? 0 : examples / puzzles,
    total_puzzles: f.totalPuzzles ?? puzzles,
    sets: sets.map((s) => s.name),
  };
};

/** Python's `json.dump` of the pydantic model: floats keep their `.0`. */
const pyFloat = (x: number): string => (Number.isInteger(x) ? `${x}.0` : `${x}`);
export const metadataJson = (m: Metadata): string =>
  `{"pad_id": ${m.pad_id}, "ignore_label_id": ${m.ignore_label_id === null ? 'null' : m.ignore_label_id}, ` +
  `"blank_identifier_id": ${m.blank_identifier_id}, "vocab_size": ${m.vocab_size}, "seq_len": ${m.seq_len}, ` +
  `"num_puzzle_identifiers": ${m.num_puzzle_identifiers}, "total_groups": ${m.total_groups}, ` +
  `"mean_puzzle_examples": ${pyFloat(m.mean_puzzle_examples)}, "total_puzzles": ${m.total_puzzles}, ` +
  `"sets": ${JSON.stringify(m.sets)}}`;

// ---------------------------------------------------------------------------------------------
// Validation (shared by the reader and the writer)

type Checked<A> = E.Either<BoundaryError, A>;

const checkIndices = (file: string, what: string, idx: Int32Array, end: number): Checked<void> => {
  if (idx.length < 1 || idx[0] !== 0) return fail(file, what, 'must start at 0');
  for (let i = 1; i < idx.length; i++) {
    if ((idx[i] ?? 0) < (idx[i - 1] ?? 0)) return fail(file, `${what}[${i}]`, `decreases (${idx[i - 1]} -> ${idx[i]})`);
  }
  if (idx[idx.length - 1] !== end) return fail(file, what, `must end at ${end}, ends at ${idx[idx.length - 1]}`);
  return E.right(undefined);
};

const checkTokens = (file: string, m: Metadata, what: string, a: Uint8Array): Checked<void> => {
  for (let i = 0; i < a.length; i++) {
    if ((a[i] ?? 0) >= m.vocab_size) {
      return fail(
        file,
        `${what} example ${Math.floor(i / m.seq_len)} position ${i % m.seq_len}`,
        `token ${a[i]} >= vocab_size ${m.vocab_size}`,
      );
    }
  }
  return E.right(undefined);
};

/** Checks the invariants the loader relies on; `where` names the split directory. */
export const validateSet = (where: string, m: Metadata, s: PuzzleSet): Checked<PuzzleSet> => {
  const file = join(where, `${s.name}__*.npy`);
  if (s.inputs.length % m.seq_len !== 0)
    return fail(file, 'inputs', `length ${s.inputs.length} is not a multiple of seq_len ${m.seq_len}`);
  if (s.labels.length !== s.inputs.length)
    return fail(file, 'labels', `has ${s.labels.length} values, inputs have ${s.inputs.length}`);
  const n = s.inputs.length / m.seq_len;
  const puzzles = checkIndices(file, 'puzzle_indices', s.puzzleIndices, n);
  if (E.isLeft(puzzles)) return puzzles;
  if (s.puzzleIdentifiers.length !== s.puzzleIndices.length - 1) {
    return fail(
      file,
      'puzzle_identifiers',
      `has ${s.puzzleIdentifiers.length} entries for ${s.puzzleIndices.length - 1} puzzles`,
    );
  }
  const groups = checkIndices(file, 'group_indices', s.groupIndices, s.puzzleIdentifiers.length);
  if (E.isLeft(groups)) return groups;
  const bad = s.puzzleIdentifiers.findIndex((id) => id < 0 || id >= m.num_puzzle_identifiers);
  if (bad >= 0) {
    return fail(
      file,
      `puzzle_identifiers[${bad}]`,
      `${s.puzzleIdentifiers[bad]} is outside 0..${m.num_puzzle_identifiers - 1}`,
    );
  }
  return pipe(
    checkTokens(file, m, 'inputs', s.inputs),
    E.chain(() => checkTokens(file, m, 'labels', s.labels)),
    E.map(() => s),
  );
};

// ---------------------------------------------------------------------------------------------
// Reading

const readJson = (file: string): Checked<unknown> =>
  pipe(
    readBytes(file),
    E.chain((bytes) => parseJson(file, new TextDecoder().decode(bytes))),
  );

const readInt32 = (file: string, rank: number): Checked<{ shape: readonly number[]; data: Int32Array }> =>
  pipe(
    readBytes(file),
    E.chain((bytes) => decodeNpy(file, bytes)),
    E.chain((a) =>
      a.shape.length !== rank
        ? fail(file, 'npy header shape', `expected rank ${rank}, got (${a.shape.join(', ')})`)
        : pipe(
            npyToInt32(file, a),
            E.map((data) => ({ shape: a.shape, data })),
          ),
    ),
  );

const readTokens = (file: string, seqLen: number): Checked<Uint8Array> =>
  pipe(
    readInt32(file, 2),
    E.chain(({ shape, data }) => {
      if (shape[1] !== seqLen)
        return fail(file, 'npy header shape', `expected [N, ${seqLen}] (seq_len), got (${shape.join(', ')})`);
      const out = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) {
        const v = data[i] ?? 0;
        if (v < 0 || v > 255)
          return fail(file, `example ${Math.floor(i / seqLen)} position ${i % seqLen}`, `token ${v} is not a uint8`);
        out[i] = v;
      }
      return E.right(out);
    }),
  );

const readSet = (splitDir: string, metadata: Metadata, name: string): Checked<PuzzleSet> => {
  const f = (field: string): string => join(splitDir, `${name}__${field}.npy`);
  return pipe(
    E.Do,
    E.bind('inputs', () => readTokens(f('inputs'), metadata.seq_len)),
    E.bind('labels', () => readTokens(f('labels'), metadata.seq_len)),
    E.bind('puzzleIdentifiers', () => readInt32(f('puzzle_identifiers'), 1)),
    E.bind('puzzleIndices', () => readInt32(f('puzzle_indices'), 1)),
    E.bind('groupIndices', () => readInt32(f('group_indices'), 1)),
    E.chain((r) =>
      validateSet(splitDir, metadata, {
        name,
        inputs: r.inputs,
        labels: r.labels,
        puzzleIdentifiers: r.puzzleIdentifiers.data,
        puzzleIndices: r.puzzleIndices.data,
        groupIndices: r.groupIndices.data,
      }),
    ),
  );
};

/** Reads `<dir>/<split>/`: metadata and every set it lists. */
export const readSplit = (dir: string, split: string): Checked<Split> => {
  const splitDir = join(dir, split);
  const file = join(splitDir, 'dataset.json');
  return pipe(
    readJson(file),
    E.chain((u) => decode(Metadata, file, u, 'metadata')),
    E.chain((metadata) =>
      pipe(
        metadata.sets,
        E.traverseArray((name) => readSet(splitDir, metadata, name)),
        E.map((sets): Split => ({ metadata, sets })),
      ),
    ),
  );
};

const decodeIdentifiers = (file: string, u: unknown): Checked<string[]> => {
  if (!Array.isArray(u)) return fail(file, '', 'expected a JSON list of identifier names');
  const bad = u.findIndex((x) => typeof x !== 'string');
  if (bad >= 0) return fail(file, `[${bad}]`, `expected a string, got ${JSON.stringify(u[bad])}`);
  return E.right(u as string[]);
};

/** test_puzzles.json as ordered entries, or `undefined` when the file is absent. */
const readTestPuzzleEntries = (tp: string): Checked<[string, unknown][] | undefined> => {
  let text: string;
  try {
    text = readFileSync(tp, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException | null)?.code === 'ENOENT') return E.right(undefined);
    return E.left(fsError(tp, '', e));
  }
  return objectEntries(tp, text, 'puzzle id -> puzzle');
};

/** Reads a dataset directory: the given splits (default train and test), identifiers.json, test_puzzles.json if present. */
export const readDataset = (dir: string, splits: readonly string[] = ['train', 'test']): Checked<Dataset> => {
  const out: Record<string, Split> = {};
  for (const s of splits) {
    const split = readSplit(dir, s);
    if (E.isLeft(split)) return split;
    out[s] = split.right;
  }
  const idFile = join(dir, 'identifiers.json');
  const identifiers = pipe(
    readJson(idFile),
    E.chain((u) => decodeIdentifiers(idFile, u)),
  );
  if (E.isLeft(identifiers)) return identifiers;
  const testPuzzles = readTestPuzzleEntries(join(dir, 'test_puzzles.json'));
  if (E.isLeft(testPuzzles)) return testPuzzles;
  return E.right(
    testPuzzles.right === undefined
      ? { splits: out, identifiers: identifiers.right }
      : { splits: out, identifiers: identifiers.right, testPuzzles: testPuzzles.right },
  );
};

// ---------------------------------------------------------------------------------------------
// Writing

const setFiles = (split: string, m: Metadata, s: PuzzleSet): OutputFile[] => {
  const n = s.inputs.length / m.seq_len;
  const p = (field: string): string => join(split, `${s.name}__${field}.npy`);
  return [
    [p('inputs'), encodeNpy([n, m.seq_len], s.inputs)],
    [p('labels'), encodeNpy([n, m.seq_len], s.labels)],
    [p('puzzle_identifiers'), encodeNpy([s.puzzleIdentifiers.length], s.puzzleIdentifiers)],
    [p('puzzle_indices'), encodeNpy([s.puzzleIndices.length], s.puzzleIndices)],
    [p('group_indices'), encodeNpy([s.groupIndices.length], s.groupIndices)],
  ];
};

/** The files of a dataset, relative to its directory. Validates every set first. */
export const datasetFiles = (ds: Dataset): Checked<OutputFile[]> => {
  const files: OutputFile[] = [];
  for (const [name, split] of Object.entries(ds.splits)) {
    files.push([join(name, 'dataset.json'), metadataJson(split.metadata)]);
    for (const s of split.sets) {
      const valid = validateSet(name, split.metadata, s);
      if (E.isLeft(valid)) return valid;
      files.push(...setFiles(name, split.metadata, s));
    }
  }
  files.push(['identifiers.json', JSON.stringify(ds.identifiers)]);
  if (ds.testPuzzles !== undefined) files.push(['test_puzzles.json', stringifyEntries(ds.testPuzzles)]);
  return E.right(files);
};

/** Writes a dataset in the official format, atomically (no partial directory on failure). */
export const writeDataset = async (
  outDir: string,
  ds: Dataset,
  opts: AtomicOptions = {},
): Promise<E.Either<BoundaryError, void>> => {
  const files = datasetFiles(ds);
  if (E.isLeft(files)) return files;
  return writeDirAtomic(outDir, files.right, opts);
};

/** Flat index arrays for the common "one example per puzzle, `k` puzzles per group" layout (Sudoku, Maze). */
export const uniformLayout = (
  groups: number,
  puzzlesPerGroup: readonly number[] | number,
): { puzzleIndices: Int32Array; groupIndices: Int32Array } => {
  const sizes = typeof puzzlesPerGroup === 'number' ? new Array<number>(groups).fill(puzzlesPerGroup) : puzzlesPerGroup;
  const total = sizes.reduce((a, b) => a + b, 0);
  const puzzleIndices = Int32Array.from({ length: total + 1 }, (_, i) => i);
  const groupIndices = new Int32Array(groups + 1);
  sizes.forEach((k, g) => (groupIndices[g + 1] = (groupIndices[g] ?? 0) + k));
  return { puzzleIndices, groupIndices };
};
