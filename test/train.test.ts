/**
 * Training examples: the guards, the paper's loop, and the schedule as the presets use it.
 */
import { describe, expect, it } from 'vitest';
import { treeMap } from '../src/tensor/tree.js';
import { key } from '../src/random/key.js';
import { fromStorage, storage } from '../src/tensor/tensor.js';
import { generateSudokuSplits } from '../src/data/sudoku-dataset.js';
import { BOXES } from '../src/data/sudoku.js';
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
