/**
 * The ARC evaluator (`evaluators/arc.py`, §8): every prediction is mapped back to the original
 * puzzle frame (crop, then undo the augmentation named by its puzzle identifier), votes are counted
 * per (puzzle, test input), ties are broken by the mean sigmoid(q_halt), and pass@K checks whether
 * the true output is among the top K. A submission holds two attempts per test input.
 *
 * Votes are an append-only list of chunks, so adding a batch is O(batch) and never mutates the
 * previous value; votes accumulate across evaluations unless the caller starts from `emptyVotes`
 * (the official default, aggregated_voting=True, keeps them).
 */
import { gridHash, inverseAugOfName, originalName } from './arc-augment.js';
import { ARC_SEQ_LEN, cropGrid } from './arc-encode.js';
import type { ArcPuzzle } from './arc-json.js';
import { type Grid, toRows } from './grid.js';
import { stringifyEntries } from '../io/json-order.js';

export const PASS_KS = [1, 2, 5, 10, 100, 1000] as const;

interface Vote {
  readonly puzzle: string;
  readonly inputHash: string;
  readonly predHash: string;
  readonly q: number;
}

interface VoteChunk {
  readonly votes: readonly Vote[];
  readonly grids: ReadonlyMap<string, Grid>;
}

export interface Votes {
  readonly chunks: readonly VoteChunk[];
}

export const emptyVotes: Votes = { chunks: [] };

export interface PredictionBatch {
  /** [B] puzzle identifiers; rows with the blank id 0 are padding and are skipped. */
  readonly puzzleIdentifiers: ArrayLike<number>;
  /** [B × 900] input tokens. */
  readonly inputs: ArrayLike<number>;
  /** [B × 900] predicted tokens (argmax of the logits). */
  readonly predictions: ArrayLike<number>;
  /** [B] q_halt logits. */
  readonly qHaltLogits: ArrayLike<number>;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Adds one batch of predictions (`update_batch`). */
export const addVotes = (identifiers: readonly string[], votes: Votes, b: PredictionBatch): Votes => {
  const out: Vote[] = [];
  const grids = new Map<string, Grid>();
  for (let r = 0; r < b.puzzleIdentifiers.length; r++) {
    const id = b.puzzleIdentifiers[r]!;
    if (id === 0) continue;
    const name = identifiers[id];
    if (name === undefined)
      throw new Error(
        `evaluator: puzzle identifier ${id} (row ${r}) is not in identifiers.json (${identifiers.length} entries)`,
      );
    const inv = inverseAugOfName(name);
    const input = inv(cropGrid(b.inputs, r * ARC_SEQ_LEN));
    const pred = inv(cropGrid(b.predictions, r * ARC_SEQ_LEN));
    if (pred.data.some((v) => v > 9)) throw new Error(`evaluator: row ${r} decodes to a colour outside 0..9`);
    const predHash = gridHash(pred);
    grids.set(predHash, pred);
    out.push({ puzzle: originalName(name), inputHash: gridHash(input), predHash, q: sigmoid(b.qHaltLogits[r]!) });
  }
  return { chunks: [...votes.chunks, { votes: out, grids }] };
};

export interface ArcResult {
  /** ARC/pass@K: mean over test puzzles of the fraction of their test pairs that pass. */
  readonly passAtK: ReadonlyMap<number, number>;
  /** Per test puzzle (in test_puzzles order): one entry per test pair that got predictions. */
  readonly submission: readonly (readonly [
    string,
    readonly { readonly attempt_1: number[][]; readonly attempt_2: number[][] }[],
  ])[];
}

/** Ranked candidate hashes for one (puzzle, input): count desc, then mean q desc, stable. */
const rank = (votes: readonly Vote[]): string[] => {
  const stats = new Map<string, [number, number]>();
  for (const v of votes) {
    const s = stats.get(v.predHash) ?? [0, 0];
    stats.set(v.predHash, [s[0] + 1, s[1] + v.q]);
  }
  const entries = [...stats.entries()].map(([h, [c, sq]]) => ({ h, c, mq: sq / c }));
  entries.sort((a, b) => b.c - a.c || b.mq - a.mq);
  return entries.map((e) => e.h);
};

/** `result`: pass@K and the submission, with the official submission_K = 2 attempts. */
export const arcResult = (
  votes: Votes,
  testPuzzles: readonly ArcPuzzle[],
  passKs: readonly number[] = PASS_KS,
): ArcResult => {
  const index = new Map<string, Vote[]>();
  const grids = new Map<string, Grid>();
  for (const chunk of votes.chunks) {
    for (const v of chunk.votes) {
      const key = `${v.puzzle}\u0000${v.inputHash}`;
      const list = index.get(key);
      if (list === undefined) index.set(key, [v]);
      else list.push(v);
    }
    for (const [h, g] of chunk.grids) if (!grids.has(h)) grids.set(h, g);
  }
  const correct = passKs.map(() => 0);
  const submission = testPuzzles.map((p) => {
    const attempts: { attempt_1: number[][]; attempt_2: number[][] }[] = [];
    const ok = passKs.map(() => 0);
    for (const pair of p.test) {
      const ranked = rank(index.get(`${p.id}\u0000${gridHash(pair.input)}`) ?? []);
      if (ranked.length === 0) continue;
      const label = gridHash(pair.output);
      passKs.forEach((k, i) => (ok[i]! += ranked.slice(0, k).includes(label) ? 1 : 0));
      const top = ranked.slice(0, 2).map((h) => toRows(grids.get(h)!));
      attempts.push({ attempt_1: top[0]!, attempt_2: top[1] ?? top[0]! });
    }
    passKs.forEach((_, i) => (correct[i]! += ok[i]! / p.test.length));
    return [p.id, attempts] as const;
  });
  const n = Math.max(1, testPuzzles.length);
  return { passAtK: new Map(passKs.map((k, i) => [k, correct[i]! / n])), submission };
};

/** submission.json in the competition format, puzzles in test_puzzles order. */
export const submissionJson = (r: ArcResult): string => stringifyEntries(r.submission);
