/**
 * Batches for the training presets: a stateless stream, batch i = f(key, i), so that a run resumed
 * at step s sees exactly the batches an uninterrupted run would have seen.
 */
import { type Key, foldIn, randintArray, split } from '../random/index.js';
import { fromStorage } from '../tensor/tensor.js';
import type { Batch } from '../trm/act.js';
import { IGNORE_LABEL_ID } from '../trm/loss.js';
import { applySudokuTransform, drawSudokuTransform } from '../data/sudoku-augment.js';
import { puzzleKey } from '../data/sudoku.js';
import type { SudokuSet } from '../data/sudoku.js';

export interface SudokuFeedOptions {
  readonly batchSize: number;
  /** 'digits': random digit relabelling (the 4×4 preset); 'full': the official augmentation; 'none'. */
  readonly augment: 'digits' | 'full' | 'none';
  /** Puzzle strings an augmentation must not produce (the held-out set); such draws are redrawn. */
  readonly avoid?: ReadonlySet<string>;
}

/** Training batch number `index` of the stream: random puzzles, each freshly augmented. */
export const sudokuTrainBatch = (set: SudokuSet, k: Key, index: number, opts: SudokuFeedOptions): Batch => {
  const B = opts.batchSize;
  const S = set.seqLen;
  const [kPick, kAug] = split(foldIn(k, index), 2) as [Key, Key];
  const picks = randintArray(kPick, B, 0, set.items.length);
  const inputs = new Int32Array(B * S);
  const labels = new Int32Array(B * S);
  for (let b = 0; b < B; b++) {
    const item = set.items[picks[b]!]!;
    let puzzle: ArrayLike<number> = item.puzzle;
    let solution: ArrayLike<number> = item.solution;
    if (opts.augment !== 'none') {
      for (let attempt = 0; attempt < 100; attempt++) {
        const t = drawSudokuTransform(foldIn(kAug, b * 100 + attempt), set.box, {
          digitsOnly: opts.augment === 'digits',
        });
        const p = applySudokuTransform(t, item.puzzle);
        if (opts.avoid?.has(puzzleKey(p)) === true) continue;
        puzzle = p;
        solution = applySudokuTransform(t, item.solution);
        break;
      }
    }
    inputs.set(Int32Array.from(puzzle), b * S);
    labels.set(Int32Array.from(solution), b * S);
  }
  return {
    inputs: fromStorage([B, S], inputs),
    labels: fromStorage([B, S], labels),
    puzzleIdentifiers: fromStorage([B], new Int32Array(B)),
  };
};

/**
 * The held-out set in sequential batches; the last one padded with rows that have no targets
 * (inputs PAD 0, labels ignored, puzzle id 0), as the official test loader does.
 */
export const sudokuEvalBatches = (set: SudokuSet, batchSize: number): Batch[] => {
  const S = set.seqLen;
  const out: Batch[] = [];
  for (let start = 0; start < set.items.length; start += batchSize) {
    const inputs = new Int32Array(batchSize * S);
    const labels = new Int32Array(batchSize * S).fill(IGNORE_LABEL_ID);
    const rows = Math.min(batchSize, set.items.length - start);
    for (let r = 0; r < rows; r++) {
      const item = set.items[start + r]!;
      inputs.set(Int32Array.from(item.puzzle), r * S);
      labels.set(Int32Array.from(item.solution), r * S);
    }
    out.push({
      inputs: fromStorage([batchSize, S], inputs),
      labels: fromStorage([batchSize, S], labels),
      puzzleIdentifiers: fromStorage([batchSize], new Int32Array(batchSize)),
    });
  }
  return out;
};
