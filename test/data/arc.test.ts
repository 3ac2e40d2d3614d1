/**
 * ARC builder and evaluator examples (§3, §8): the tiny fixtures in test/fixtures/arc, bad input,
 * and the ARC-1 acceptance check on the real files in ../shared/data/arc (skipped when absent).
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { key } from '../../src/random/index.js';
import { buildArcDataset } from '../../src/data/arc-build.js';
import { encodeGrid } from '../../src/data/arc-encode.js';
import { type ArcPuzzle, decodeTestPuzzles, loadArcSubset } from '../../src/data/arc-json.js';
import { testBatches } from '../../src/data/batching.js';
import { formatBoundaryError } from '../../src/io/errors.js';
import { addVotes, arcResult, emptyVotes, submissionJson, type Votes } from '../../src/data/evaluator.js';
import type { Dataset } from '../../src/data/dataset.js';

const FIXTURES = 'test/fixtures/arc/tiny';
const ARC_DIR = '../shared/data/arc';
const load = (prefix: string, s: string): ArcPuzzle[] => {
  const r = loadArcSubset(prefix, s, existsSync);
  if (E.isLeft(r)) throw new Error(formatBoundaryError(r.left));
  return r.right;
};

/** Votes with the true answers as predictions (labels as argmax), q = 0 for every row. */
const voteWithLabels = (ds: Dataset): Votes => {
  let votes = emptyVotes;
  for (const { batch } of testBatches(ds.splits.test!, { globalBatchSize: 256 })) {
    const labels = Int32Array.from(batch.labels.data, (v) => Math.max(v, 0));
    votes = addVotes(ds.identifiers, votes, {
      puzzleIdentifiers: batch.puzzleIdentifiers.data,
      inputs: batch.inputs.data,
      predictions: labels,
      qHaltLogits: new Float64Array(batch.puzzleIdentifiers.size),
    });
  }
  return votes;
};

const testPuzzlesOf = (ds: Dataset): ArcPuzzle[] => {
  const r = decodeTestPuzzles('test_puzzles.json', ds.testPuzzles ?? []);
  if (E.isLeft(r)) throw new Error(formatBoundaryError(r.left));
  return r.right;
};

describe('ARC loading (§3.1)', () => {
  it('keeps JSON order (integer-like ids too) and each puzzle key order', () => {
    const ps = load(FIXTURES, 'training');
    expect(ps.map((p) => p.id)).toEqual(['12345678', 'a1b2c3d4', '0f0f0f0f']);
    expect(ps[0]!.keyOrder).toEqual(['test', 'train']);
    expect(ps[1]!.keyOrder).toEqual(['train', 'test']);
    expect(Array.from(ps[0]!.test[0]!.output.data)).toEqual([2, 0, 0, 1]);
  });

  it('fills [[0]] when the solutions file is absent', () => {
    const [p] = load(FIXTURES, 'nosol');
    expect(p!.test[0]!.output).toEqual({ h: 1, w: 1, data: Uint8Array.of(0) });
  });
});

describe('ARC bad input names the file and the puzzle/field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trm-arc-bad-'));
  const cases: [string, string, RegExp][] = [
    ['malformed', '{"p1": {"train": [', /bad_malformed_challenges\.json: malformed JSON/],
    [
      'big',
      JSON.stringify({ p1: { train: [{ input: Array.from({ length: 31 }, () => [0]), output: [[0]] }], test: [] } }),
      /puzzle p1 train\[0\]\.input: grid has 31 rows/,
    ],
    [
      'colour',
      JSON.stringify({ p2: { train: [{ input: [[0, 10]], output: [[0]] }], test: [] } }),
      /puzzle p2 train\[0\]\.input row 0 col 1: colour 10/,
    ],
    [
      'ragged',
      JSON.stringify({ p3: { train: [], test: [{ input: [[1, 2], [3]] }] } }),
      /puzzle p3 test\[0\]\.input row 1: ragged row/,
    ],
    [
      'wide',
      JSON.stringify({ p4: { train: [{ input: [Array.from({ length: 31 }, () => 1)], output: [[0]] }], test: [] } }),
      /grid has 31 columns/,
    ],
  ];
  it.each(cases)('%s', (name, text, re) => {
    writeFileSync(join(dir, `bad_${name}_challenges.json`), text);
    const r = loadArcSubset(join(dir, 'bad'), name, existsSync);
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) expect(formatBoundaryError(r.left)).toMatch(re);
  });
  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});

describe('ARC build on the fixtures (§3)', () => {
  const subsets = [
    ['training', load(FIXTURES, 'training')],
    ['evaluation', load(FIXTURES, 'evaluation')],
  ] as const;
  const { dataset: ds, shortGroups } = buildArcDataset(key(42), subsets, { testSetName: 'evaluation', numAug: 3 });
  const train = ds.splits.train!;
  const test = ds.splits.test!;

  it('splits: all training pairs and evaluation demos to train, evaluation test pairs to test', () => {
    // training: 3 puzzles with 3+2+2 pairs; evaluation demos 2+1
    expect(train.metadata.total_groups).toBe(5);
    expect(test.metadata.total_groups).toBe(2);
    const groupSizes = Array.from(
      train.sets[0]!.groupIndices.subarray(1),
      (v, g) => v - train.sets[0]!.groupIndices[g]!,
    );
    const examples = train.sets[0]!.inputs.length / 900;
    expect(train.sets[0]!.puzzleIndices.at(-1)).toBe(examples);
    // every version of a group has as many examples as its original: 3, 2, 2 (training), 2, 1 (evaluation demos)
    const set = train.sets[0]!;
    const perGroup = groupSizes.map((_, g) => {
      const counts = Array.from({ length: groupSizes[g]! }, (_, j) => {
        const p = set.groupIndices[g]! + j;
        return set.puzzleIndices[p + 1]! - set.puzzleIndices[p]!;
      });
      expect(new Set(counts).size).toBe(1);
      return counts[0]!;
    });
    expect(perGroup.sort()).toEqual([1, 2, 2, 2, 3]);
    expect(groupSizes.reduce((a, b) => a + b, 0)).toBe(train.metadata.total_puzzles);
    expect(test.metadata.vocab_size).toBe(12);
    expect(test.metadata.seq_len).toBe(900);
  });

  it('deduplicates augmentations: the all-zero puzzle has one distinct augmentation (its 1×3 grid transposed)', () => {
    expect(shortGroups).toContainEqual({ id: 'a1b2c3d4', size: 2 });
  });

  it('ids: 0 is blank, train first, test puzzles reuse their train twins', () => {
    expect(ds.identifiers[0]).toBe('<blank>');
    expect(train.metadata.num_puzzle_identifiers).toBe(ds.identifiers.length);
    expect(test.metadata.num_puzzle_identifiers).toBe(ds.identifiers.length);
    const trainIds = new Set(train.sets[0]!.puzzleIdentifiers);
    expect([...test.sets[0]!.puzzleIdentifiers].every((id) => trainIds.has(id))).toBe(true);
    expect(Math.min(...train.sets[0]!.puzzleIdentifiers)).toBe(1);
  });

  it('test split examples are untranslated; training-subset test pairs come before demos', () => {
    const set = test.sets[0]!;
    const ex0 = set.inputs.subarray(0, 900);
    const pz = testPuzzlesOf(ds);
    const first = pz[0]!;
    const idName = ds.identifiers[set.puzzleIdentifiers[0]!]!;
    expect(idName).toBe(first.id);
    expect(Array.from(ex0)).toEqual(Array.from(encodeGrid(first.test[0]!.input)));
  });

  it('voting with the true answers gives pass@1 = 1 and a two-attempt submission', () => {
    const r = arcResult(voteWithLabels(ds), testPuzzlesOf(ds));
    expect(r.passAtK.get(1)).toBe(1);
    const sub = JSON.parse(submissionJson(r)) as Record<string, { attempt_1: number[][]; attempt_2: number[][] }[]>;
    expect(sub['e0e0e0e0']![1]!.attempt_1).toEqual([[5, 6, 7, 5, 6, 7]]);
    expect(Object.keys(sub).sort()).toEqual(['99999999', 'e0e0e0e0']);
  });

  it('ties in votes are broken by the mean sigmoid(q_halt); no votes means wrong', () => {
    const pz = testPuzzlesOf(ds).find((p) => p.id === '99999999')!;
    const id = ds.identifiers.indexOf('99999999');
    const row = (pred: number[][], q: number) => {
      const g = { h: pred.length, w: pred[0]!.length, data: Uint8Array.from(pred.flat()) };
      return {
        puzzleIdentifiers: [id],
        inputs: encodeGrid(pz.test[0]!.input),
        predictions: encodeGrid(g),
        qHaltLogits: [q],
      };
    };
    let v = addVotes(ds.identifiers, emptyVotes, row([[1]], -3));
    v = addVotes(ds.identifiers, v, row([[6], [0], [0], [6]], 2));
    const r = arcResult(v, [pz]);
    expect(r.passAtK.get(1)).toBe(1);
    const lost = arcResult(addVotes(ds.identifiers, v, row([[1]], -3)), [pz]);
    expect(lost.passAtK.get(1)).toBe(0);
    expect(lost.passAtK.get(2)).toBe(1);
    expect(arcResult(emptyVotes, [pz]).passAtK.get(1000)).toBe(0);
  });
});

describe.skipIf(!existsSync(ARC_DIR))('ARC-1 acceptance (real files in ../shared/data/arc)', () => {
  it('builds training+evaluation+concept with num_aug 2, counts match §3.1, pass@2 = 1 over all 419 test pairs', () => {
    const prefix = join(ARC_DIR, 'arc-agi');
    const subsets = (['training', 'evaluation', 'concept'] as const).map((s) => [s, load(prefix, s)] as const);
    expect(
      subsets.map(([, ps]) => [
        ps.length,
        ps.reduce((a, p) => a + p.train.length, 0),
        ps.reduce((a, p) => a + p.test.length, 0),
      ]),
    ).toEqual([
      [400, 1302, 416],
      [400, 1363, 419],
      [160, 427, 480],
    ]);
    const { dataset: ds, shortGroups } = buildArcDataset(key(42), subsets, { testSetName: 'evaluation', numAug: 2 });
    const train = ds.splits.train!.metadata;
    const test = ds.splits.test!.metadata;
    expect(shortGroups).toEqual([]);
    expect(train.total_groups).toBe(960);
    expect(train.total_puzzles).toBe(2880);
    expect(train.mean_puzzle_examples).toBeCloseTo(3988 / 960, 10);
    expect(test.total_groups).toBe(400);
    expect(test.mean_puzzle_examples).toBeCloseTo(419 / 400, 10);
    expect(train.num_puzzle_identifiers).toBe(2881);
    expect(test.num_puzzle_identifiers).toBe(2881);
    // the 1200 training-subset puzzles get ids 1..1200, evaluation starts at 1201 (§3.5)
    const evalIds = new Set(load(prefix, 'evaluation').map((p) => p.id));
    expect(ds.identifiers.slice(1, 1201).every((n) => !evalIds.has(n.split('|||')[0]!))).toBe(true);
    expect(evalIds.has(ds.identifiers[1201]!.split('|||')[0]!)).toBe(true);
    const pz = testPuzzlesOf(ds);
    expect(pz.reduce((a, p) => a + p.test.length, 0)).toBe(419);
    const r = arcResult(voteWithLabels(ds), pz);
    expect(r.passAtK.get(2)).toBe(1);
    expect(r.passAtK.get(1)).toBe(1);
  });
});
