/**
 * Training examples: the guards, the paper's loop, and the schedule as the presets use it.
 */
import { describe, expect, it } from 'vitest';
import { treeMap } from '../src/tensor/tree.js';
import { key } from '../src/random/key.js';
import { fromStorage, storage } from '../src/tensor/tensor.js';
import { generateSudokuSplits } from '../src/data/sudoku-dataset.js';
import { BOXES } from '../src/data/sudoku.js';
import { progressLine } from '../src/cli/progress.js';
import { evaluate } from '../src/train/evaluate.js';
import { sudokuTrainBatch } from '../src/train/feed.js';
import { NonFiniteError, initTrainState, makeSetup, trainStep } from '../src/train/loop.js';
import { paperTrainBatch } from '../src/train/paper-loop.js';
import { PRESETS } from '../src/train/presets.js';
import { stepContext } from '../src/trm/act.js';
import { makeConfig } from '../src/trm/config.js';
import { initState } from '../src/trm/params.js';

const preset = PRESETS.sudoku4!;
const cfg = makeConfig({
  ...preset.arch,
  hidden_size: 16,
  puzzle_emb_ndim: 16,
  batch_size: 8,
  vocab_size: 6,
  seq_len: 16,
});
const hyper = { ...preset.hyper, global_batch_size: 8, lr_warmup_steps: 1 };
const { train } = generateSudokuSplits(key(1), { box: BOXES[4], trainCount: 30, testCount: 5 });
const batch = (i: number) => sudokuTrainBatch(train, key(2), i, { batchSize: 8, augment: 'digits' });

describe('training guards', () => {
  it('a non-finite loss or gradient stops training with an error naming the step and the tensor', () => {
    const setup = makeSetup(cfg, stepContext(cfg), hyper);
    const s0 = initTrainState(setup, initState(cfg, key(0)), key(3));
    const s1 = trainStep(setup, s0, batch(0)).state;
    // Poison one weight: the next step's loss is NaN.
    const poisoned = treeMap(s1.model.params, (t, path) => {
      if (path !== 'lmHead') return t;
      const d = storage(t).slice();
      d[0] = Number.NaN;
      return fromStorage(t.shape, d);
    });
    const bad = { ...s1, model: { ...s1.model, params: poisoned } };
    expect(() => trainStep(setup, bad, batch(1))).toThrow(NonFiniteError);
    expect(() => trainStep(setup, bad, batch(1))).toThrow(/step 2 in loss/);
  });
});

describe("the paper's loop (Figure 3)", () => {
  it('runs up to N_sup supervision steps with an optimizer step after each, and the loss goes down', () => {
    const setup = makeSetup(cfg, stepContext(cfg), hyper);
    let state = { model: initState(cfg, key(0)), opt: setup.optimizer.init(initState(cfg, key(0)).params) };
    const first: number[] = [];
    for (let i = 0; i < 12; i++) {
      const r = paperTrainBatch(cfg, setup.ctx, state, batch(i % 2), {
        optimizer: setup.optimizer,
        lr: 3e-3,
        puzzleEmbLr: 3e-3,
        puzzleEmbWeightDecay: 0.1,
        lossType: 'stablemax_cross_entropy',
      });
      // q_head starts at −5: no early exit, every batch runs all N_sup steps.
      expect(r.supervisionSteps).toBe(cfg.nSup);
      expect(r.losses).toHaveLength(cfg.nSup);
      first.push(r.losses[0]!);
      state = r.state;
    }
    expect(first[first.length - 1]!).toBeLessThan(first[0]!);
  });
});

describe('evaluate', () => {
  it('reports each batch done to onBatch, and gives the same result with it as without', () => {
    const cfg = makeConfig({
      vocab_size: 5,
      seq_len: 4,
      batch_size: 2,
      hidden_size: 8,
      num_heads: 2,
      halt_max_steps: 2,
    });
    const model = initState(cfg, key(1));
    const batch = (seed: number) => ({
      inputs: fromStorage(
        [2, 4],
        Int32Array.from({ length: 8 }, (_, i) => 1 + ((i + seed) % 4)),
      ),
      labels: fromStorage(
        [2, 4],
        Int32Array.from({ length: 8 }, (_, i) => 1 + ((i * 3 + seed) % 4)),
      ),
      puzzleIdentifiers: fromStorage([2], new Int32Array(2)),
    });
    const batches = [batch(0), batch(1), batch(2)];
    const opts = { halt: 'max' as const, lossType: 'stablemax_cross_entropy' as const };
    const calls: [number, number][] = [];
    const withProgress = evaluate(cfg, stepContext(cfg), model, batches, {
      ...opts,
      onBatch: (d, t) => calls.push([d, t]),
    });
    expect(calls).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(withProgress).toEqual(evaluate(cfg, stepContext(cfg), model, batches, opts));
    expect(withProgress.count).toBe(6);
  });

  it('a progress line counts what it is given: steps by default, batches for an evaluation', () => {
    expect(progressLine({ step: 2, total: 4, elapsedS: 1 })).toMatch(/^\[=+>? +\] step 2\/4 /);
    expect(progressLine({ unit: 'batch', step: 3, total: 3, elapsedS: 2 })).toMatch(/\] batch 3\/3 .*ETA 0s$/);
  });
});
