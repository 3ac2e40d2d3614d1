/**
 * Batches as the official loader makes them (`puzzle_dataset.py`, §4), seeded by an explicit key.
 *
 * Training: per set, the groups in `epochsPerIter` concatenated random orders; for each group one
 * puzzle drawn uniformly among the original and its augmentations; as many of its examples as still
 * fit (a random subset in random order; the rest are dropped); a batch is emitted when full and the
 * last, short batch is dropped. Test: a sequential sweep over all examples in chunks, the last chunk
 * padded. Collate: int32, labels equal to ignore_label_id become −100, pad rows are inputs 0,
 * labels −100, puzzle id 0 (blank). Single process: rank 0 of 1 replica.
 */
import { type Tensor, tensor } from '../tensor/tensor.js';
import type { PuzzleSet, Split } from './dataset.js';
import { type Key, draws } from './draws.js';
import { foldIn } from '../random/index.js';

export const IGNORE_LABEL = -100;

export interface Batch {
  /** int32 [B, seq_len] */
  readonly inputs: Tensor;
  /** int32 [B, seq_len], −100 = ignore */
  readonly labels: Tensor;
  /** int32 [B] */
  readonly puzzleIdentifiers: Tensor;
}

export interface YieldedBatch {
  readonly setName: string;
  readonly batch: Batch;
  /** Rows that hold real examples (train: always the batch size; test: the chunk length). */
  readonly effectiveSize: number;
}

/** Raw rows before collation: example indices and their puzzle identifiers. */
interface Rows {
  readonly examples: readonly number[];
  readonly puzzleIds: readonly number[];
}

/** The official collate: int32, ignore → −100, pad to `batchSize` rows. */
export const collate = (split: Split, set: PuzzleSet, rows: Rows, batchSize: number): Batch => {
  const L = split.metadata.seq_len;
  const ignore = split.metadata.ignore_label_id;
  const inputs = new Int32Array(batchSize * L).fill(split.metadata.pad_id);
  const labels = new Int32Array(batchSize * L).fill(IGNORE_LABEL);
  const ids = new Int32Array(batchSize).fill(split.metadata.blank_identifier_id);
  rows.examples.forEach((e, r) => {
    for (let j = 0; j < L; j++) {
      inputs[r * L + j] = set.inputs[e * L + j]!;
      const y = set.labels[e * L + j]!;
      labels[r * L + j] = ignore !== null && y === ignore ? IGNORE_LABEL : y;
    }
    ids[r] = rows.puzzleIds[r]!;
  });
  return {
    inputs: tensor(inputs, [batchSize, L], { dtype: 'int32' }),
    labels: tensor(labels, [batchSize, L], { dtype: 'int32' }),
    puzzleIdentifiers: tensor(ids, [batchSize], { dtype: 'int32' }),
  };
};

export interface TrainingOptions {
  readonly globalBatchSize: number;
  /** Epochs per iterator pass (official: eval_interval, else epochs). Default 1. */
  readonly epochsPerIter?: number;
}

/** The row lists of one training pass over one set (§4 steps 3–5), before collation. */
export const trainingRows = (k: Key, set: PuzzleSet, opts: TrainingOptions): Rows[] => {
  const d = draws(k);
  const groups = set.groupIndices.length - 1;
  const order: number[] = [];
  for (let e = 0; e < (opts.epochsPerIter ?? 1); e++) order.push(...d.permutation(groups));
  const out: Rows[] = [];
  let start = 0;
  while (start < order.length) {
    const examples: number[] = [];
    const puzzleIds: number[] = [];
    while (start < order.length && examples.length < opts.globalBatchSize) {
      const g = order[start++]!;
      const p = d.int(set.groupIndices[g]!, set.groupIndices[g + 1]!);
      const first = set.puzzleIndices[p]!;
      const size = set.puzzleIndices[p + 1]! - first;
      const take = Math.min(size, opts.globalBatchSize - examples.length);
      const chosen = d.permutation(size).subarray(0, take);
      for (const c of chosen) {
        examples.push(first + c);
        puzzleIds.push(set.puzzleIdentifiers[p]!);
      }
    }
    if (examples.length < opts.globalBatchSize) break; // drop the last short batch
    out.push({ examples, puzzleIds });
  }
  return out;
};

/**
 * One training iterator pass: every set in order, set i drawing from `foldIn(key, i)`.
 * Pass a fresh key per pass (e.g. `foldIn(base, iteration)`), as the official seed+_iters does.
 */
export function* trainingBatches(k: Key, split: Split, opts: TrainingOptions): Generator<YieldedBatch> {
  for (const [i, set] of split.sets.entries()) {
    for (const rows of trainingRows(foldIn(k, i), set, opts)) {
      yield {
        setName: set.name,
        batch: collate(split, set, rows, opts.globalBatchSize),
        effectiveSize: opts.globalBatchSize,
      };
    }
  }
}

/** The puzzle of each example (the loader's binary search over puzzle_indices). */
export const examplePuzzles = (set: PuzzleSet): Int32Array => {
  const n = set.puzzleIndices[set.puzzleIndices.length - 1] ?? 0;
  const out = new Int32Array(n);
  for (let p = 0; p + 1 < set.puzzleIndices.length; p++) out.fill(p, set.puzzleIndices[p]!, set.puzzleIndices[p + 1]!);
  return out;
};

/** Test mode: all examples in order, chunks of `globalBatchSize`, the last one padded. */
export function* testBatches(split: Split, opts: { readonly globalBatchSize: number }): Generator<YieldedBatch> {
  for (const set of split.sets) {
    const owner = examplePuzzles(set);
    for (let start = 0; start < owner.length; start += opts.globalBatchSize) {
      const end = Math.min(start + opts.globalBatchSize, owner.length);
      const examples = Array.from({ length: end - start }, (_, i) => start + i);
      const puzzleIds = examples.map((e) => set.puzzleIdentifiers[owner[e]!]!);
      yield {
        setName: set.name,
        batch: collate(split, set, { examples, puzzleIds }, opts.globalBatchSize),
        effectiveSize: end - start,
      };
    }
  }
}
