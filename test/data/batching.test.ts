/** Loader examples (§4): one puzzle per group, examples until full, last short batch dropped; padded test batches. */
import { describe, expect, it } from 'vitest';
import { foldIn, key } from '../../src/random/index.js';
import { metadataFor, type PuzzleSet, type Split } from '../../src/data/dataset.js';
import { IGNORE_LABEL, testBatches, trainingBatches, trainingRows } from '../../src/data/batching.js';

// 3 groups; group g has g+1 puzzles of 2 examples each; example e has inputs all = e+1, labels 0 on position 0.
const seqLen = 3;
const nPuzzles = 6;
const nExamples = 12;
const set: PuzzleSet = {
  name: 'all',
  inputs: Uint8Array.from({ length: nExamples * seqLen }, (_, i) => Math.floor(i / seqLen) + 1),
  labels: Uint8Array.from({ length: nExamples * seqLen }, (_, i) => (i % seqLen === 0 ? 0 : 5)),
  puzzleIdentifiers: Int32Array.from({ length: nPuzzles }, (_, p) => p + 1),
  puzzleIndices: Int32Array.from({ length: nPuzzles + 1 }, (_, p) => 2 * p),
  groupIndices: Int32Array.from([0, 1, 3, 6]),
};
const split: Split = { metadata: metadataFor([set], { vocabSize: 20, seqLen, numPuzzleIdentifiers: 7 }), sets: [set] };
const puzzleOf = (e: number): number => Math.floor(e / 2);
const groupOf = (p: number): number => (p < 1 ? 0 : p < 3 ? 1 : 2);

describe('training batches', () => {
  it('take one puzzle per group, group order a permutation per epoch, drop the short last batch', () => {
    for (let s = 0; s < 20; s++) {
      const rows = trainingRows(key(s), set, { globalBatchSize: 3, epochsPerIter: 2 });
      // 6 group visits × 2 examples, batch 3: each batch takes 2 from one group + 1 from the next (its other example dropped)
      expect(rows.length).toBe(3);
      for (const [b, r] of rows.entries()) {
        expect(r.examples.length).toBe(3);
        r.examples.forEach((e, i) => expect(r.puzzleIds[i]).toBe(puzzleOf(e) + 1));
        expect(puzzleOf(r.examples[0]!)).toBe(puzzleOf(r.examples[1]!));
        // batches 0 and 2 lie within one epoch's permutation, so their two groups differ
        if (b !== 1) expect(groupOf(puzzleOf(r.examples[2]!))).not.toBe(groupOf(puzzleOf(r.examples[0]!)));
      }
    }
  });

  it('are deterministic for a key and collate to int32 with −100 for ignored labels', () => {
    const a = [...trainingBatches(foldIn(key(1), 0), split, { globalBatchSize: 4 })];
    const b = [...trainingBatches(foldIn(key(1), 0), split, { globalBatchSize: 4 })];
    expect(a.length).toBe(1); // 3 groups × 2 = 6 examples → one batch of 4, the rest dropped
    const x = a[0]!.batch;
    expect(x.inputs.shape).toEqual([4, 3]);
    expect(x.inputs.dtype).toBe('int32');
    expect(Array.from(x.inputs.data)).toEqual(Array.from(b[0]!.batch.inputs.data));
    expect(
      Array.from(x.labels.data)
        .filter((_, i) => i % 3 === 0)
        .every((v) => v === IGNORE_LABEL),
    ).toBe(true);
    expect(a[0]!.effectiveSize).toBe(4);
  });

  it('pick puzzles uniformly within a group', () => {
    const counts = [0, 0, 0];
    for (let s = 0; s < 600; s++) {
      for (const r of trainingRows(key(s), set, { globalBatchSize: 2 })) {
        const p = puzzleOf(r.examples[0]!);
        if (groupOf(p) === 2) counts[p - 3]!++;
      }
    }
    counts.forEach((c) => expect(c).toBeGreaterThan(150));
  });
});

describe('test batches', () => {
  it('sweep every example in order and pad the last batch (inputs 0, labels −100, id 0)', () => {
    const bs = [...testBatches(split, { globalBatchSize: 5 })];
    expect(bs.map((b) => b.effectiveSize)).toEqual([5, 5, 2]);
    const last = bs[2]!.batch;
    expect(Array.from(last.puzzleIdentifiers.data)).toEqual([6, 6, 0, 0, 0]);
    expect(Array.from(last.inputs.data).slice(6)).toEqual(new Array(9).fill(0));
    expect(Array.from(last.labels.data).slice(6)).toEqual(new Array(9).fill(IGNORE_LABEL));
    expect(Array.from(bs[0]!.batch.inputs.data).filter((_, i) => i % 3 === 0)).toEqual([1, 2, 3, 4, 5]);
  });
});
