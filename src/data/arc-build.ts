/**
 * The official ARC builder (`build_arc_dataset.py`, §3): split assignment, augmentation with
 * deduplication, puzzle identifiers, and the translated 30×30 encoding.
 *
 * Randomness comes from an explicit key, so the build is reproducible but not bit-identical to
 * NumPy's legacy RNG (§11): the shuffle of subset s uses foldIn(k_shuffle, s), the augmentation
 * trials of the i-th puzzle of subset s use a stream from foldIn(foldIn(k_aug, s), i), and the
 * translations of puzzle p of group g in split j use foldIn(foldIn(foldIn(k_enc, j), g), p).
 */
import { foldIn } from '../random/index.js';
import { type ArcAug, applyAug, augName, puzzleHash } from './arc-augment.js';
import { ARC_SEQ_LEN, ARC_SIDE, ARC_VOCAB, encodeGridInto } from './arc-encode.js';
import { type ArcPair, type ArcPuzzle, puzzleToJson } from './arc-json.js';
import { type Dataset, type PuzzleSet, type Split, metadataFor } from './dataset.js';
import { type Key, draws } from './draws.js';

export interface ArcBuildOptions {
  /** Called after each puzzle is augmented, with the puzzles done and their total (for progress). */
  readonly onPuzzle?: (done: number, total: number) => void;
  /** Subset whose demos go to train and whose test pairs go to test (§3.2). */
  readonly testSetName: string;
  readonly testSetName2?: string;
  /** Augmented copies per puzzle (official default 1000). */
  readonly numAug: number;
  /** First puzzle identifier (official default 1; 0 is the blank). */
  readonly puzzleIdentifiersStart?: number;
  /** Trials per wanted augmentation (official ARCAugmentRetriesFactor = 5). */
  readonly retriesFactor?: number;
}

type SplitName = 'train' | 'test';

/** One augmented version of a puzzle: its name and examples per destination split. */
interface Version {
  readonly name: string;
  readonly dests: ReadonlyMap<SplitName, readonly ArcPair[]>;
}

/** Destinations of one original puzzle: examples in JSON key order (§3.2). */
const destinations = (p: ArcPuzzle, isTestSet: boolean): Map<SplitName, ArcPair[]> => {
  const m = new Map<SplitName, ArcPair[]>();
  for (const kind of p.keyOrder) {
    const dest: SplitName = isTestSet && kind === 'test' ? 'test' : 'train';
    m.set(dest, [...(m.get(dest) ?? []), ...p[kind]]);
  }
  return m;
};

const allPairs = (v: ReadonlyMap<SplitName, readonly ArcPair[]>): ArcPair[] => [...v.values()].flat();

/** The group of one puzzle: original first, then accepted augmentations (§3.4). */
export const augmentGroup = (
  k: Key,
  p: ArcPuzzle,
  isTestSet: boolean,
  numAug: number,
  retriesFactor = 5,
): Version[] => {
  const original = destinations(p, isTestSet);
  const group: Version[] = [{ name: p.id, dests: original }];
  if (numAug <= 0) return group;
  const hashes = new Set([puzzleHash(allPairs(original))]);
  const d = draws(k);
  for (let trial = 0; trial < retriesFactor * numAug && group.length < numAug + 1; trial++) {
    const tid = d.int(0, 8);
    const perm = d.permutation(9);
    const aug: ArcAug = { tid, mapping: Uint8Array.from({ length: 10 }, (_, i) => (i === 0 ? 0 : perm[i - 1]! + 1)) };
    const dests = new Map<SplitName, ArcPair[]>();
    for (const [dest, pairs] of original)
      dests.set(
        dest,
        pairs.map((q) => ({ input: applyAug(aug, q.input), output: applyAug(aug, q.output) })),
      );
    const h = puzzleHash(allPairs(dests));
    if (hashes.has(h)) continue;
    hashes.add(h);
    group.push({ name: augName(p.id, aug), dests });
  }
  return group;
};

export interface ArcBuildResult {
  readonly dataset: Dataset;
  /** Groups whose augmentation was not full (the official builder prints a warning for each). */
  readonly shortGroups: readonly { readonly id: string; readonly size: number }[];
}

/** Puzzles of one split as (group → versions' examples), plus names for identifiers. */
type SplitGroups = { name: string; pairs: readonly ArcPair[] }[][];

const encodeSplit = (k: Key, split: SplitName, groups: SplitGroups, ids: ReadonlyMap<string, number>): PuzzleSet => {
  const nPuzzles = groups.reduce((a, g) => a + g.length, 0);
  const nExamples = groups.reduce((a, g) => a + g.reduce((b, p) => b + p.pairs.length, 0), 0);
  const inputs = new Uint8Array(nExamples * ARC_SEQ_LEN);
  const labels = new Uint8Array(nExamples * ARC_SEQ_LEN);
  const puzzleIdentifiers = new Int32Array(nPuzzles);
  const puzzleIndices = new Int32Array(nPuzzles + 1);
  const groupIndices = new Int32Array(groups.length + 1);
  let ex = 0,
    pz = 0;
  groups.forEach((group, g) => {
    group.forEach((puzzle, p) => {
      const d = draws(foldIn(foldIn(k, g), p));
      const noAugId = d.int(0, puzzle.pairs.length); // drawn in both splits, as the official code does
      puzzle.pairs.forEach((pair, i) => {
        let padR = 0,
          padC = 0;
        if (split === 'train' && i !== noAugId) {
          padR = d.int(0, ARC_SIDE - Math.max(pair.input.h, pair.output.h) + 1);
          padC = d.int(0, ARC_SIDE - Math.max(pair.input.w, pair.output.w) + 1);
        }
        encodeGridInto(pair.input, padR, padC, inputs, ex * ARC_SEQ_LEN);
        encodeGridInto(pair.output, padR, padC, labels, ex * ARC_SEQ_LEN);
        ex++;
      });
      puzzleIdentifiers[pz] = ids.get(puzzle.name)!;
      puzzleIndices[++pz] = ex;
    });
    groupIndices[g + 1] = pz;
  });
  return { name: 'all', inputs, labels, puzzleIdentifiers, puzzleIndices, groupIndices };
};

/**
 * Builds the dataset from subsets given in CLI order as [name, puzzles in JSON order].
 * Returns train and test splits, identifiers and test_puzzles (raw test-subset puzzles in shuffled order).
 */
export const buildArcDataset = (
  k: Key,
  subsets: readonly (readonly [string, readonly ArcPuzzle[]])[],
  opts: ArcBuildOptions,
): ArcBuildResult => {
  const [kShuffle, kAug, kEnc] = [foldIn(k, 0), foldIn(k, 1), foldIn(k, 2)];
  const splits: Record<SplitName, SplitGroups> = { train: [], test: [] };
  const testPuzzles: [string, unknown][] = [];
  const shortGroups: { id: string; size: number }[] = [];
  const total = subsets.reduce((n, [, puzzles]) => n + puzzles.length, 0);
  let done = 0;
  subsets.forEach(([subset, puzzles], s) => {
    const isTestSet = subset === opts.testSetName || subset === (opts.testSetName2 ?? 'your_test_set');
    const order = draws(foldIn(kShuffle, s)).permutation(puzzles.length);
    order.forEach((idx, i) => {
      const p = puzzles[idx]!;
      if (isTestSet) testPuzzles.push([p.id, puzzleToJson(p)]);
      const group = augmentGroup(foldIn(foldIn(kAug, s), i), p, isTestSet, opts.numAug, opts.retriesFactor);
      if (group.length < opts.numAug + 1) shortGroups.push({ id: p.id, size: group.length });
      for (const dest of ['train', 'test'] as const) {
        if (group[0]!.dests.has(dest))
          splits[dest].push(group.map((v) => ({ name: v.name, pairs: v.dests.get(dest)! })));
      }
      opts.onPuzzle?.(++done, total);
    });
  });
  const start = opts.puzzleIdentifiersStart ?? 1;
  const identifiers: string[] = Array.from({ length: start }, () => '<blank>');
  const ids = new Map<string, number>();
  for (const split of ['train', 'test'] as const) {
    for (const group of splits[split]) {
      for (const puzzle of group) {
        if (!ids.has(puzzle.name)) {
          ids.set(puzzle.name, identifiers.length);
          identifiers.push(puzzle.name);
        }
      }
    }
  }
  const splitOf = (name: SplitName, j: number): Split => {
    const sets = [encodeSplit(foldIn(kEnc, j), name, splits[name], ids)];
    return {
      metadata: metadataFor(sets, {
        vocabSize: ARC_VOCAB,
        seqLen: ARC_SEQ_LEN,
        numPuzzleIdentifiers: identifiers.length,
      }),
      sets,
    };
  };
  return {
    dataset: { splits: { train: splitOf('train', 0), test: splitOf('test', 1) }, identifiers, testPuzzles },
    shortGroups,
  };
};
