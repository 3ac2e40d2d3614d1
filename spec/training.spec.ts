/**
 * Laws of the training step and of halting, on tiny random models: exploration, the Q-continue
 * rule and its bootstrapped target, the wiring of `trainStep` (which parameters feed the EMA,
 * which step's learning rates are used), the carry across batches with different data, the loss
 * on edge rows, and purity at model level.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { maximum, sigmoid, where } from '../src/ops/index.js';
import { foldIn, key } from '../src/random/key.js';
import { fromStorage, storage } from '../src/tensor/tensor.js';
import { treeLeaves } from '../src/tensor/tree.js';
import { emaUpdate } from '../src/train/ema.js';
import type { TrainHyper } from '../src/train/hyper.js';
import { type TrainState, initTrainState, makeSetup, trainStep } from '../src/train/loop.js';
import { signSgdSparse } from '../src/train/optim.js';
import {
  type StepResult,
  type Trainable,
  explorationDraws,
  initialCarry,
  puzzleRows,
  startStep,
  stepContext,
  stepForward,
} from '../src/trm/act.js';
import type { TrmConfig } from '../src/trm/config.js';
import { lossHead } from '../src/trm/loss.js';
import { bytesOf } from './arbitraries.js';
import { batchOf, ints, modelOf, step, tiny } from './tiny.js';

describe('exploration', () => {
  it('with probability 1 and q_halt ≫ 0, every row halts exactly when its steps reach the minimum drawn at that step', () => {
    const cfg = tiny({ halt_exploration_prob: 1, halt_max_steps: 5, batch_size: 16 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        const m = modelOf(cfg, seed, 50); // q_halt ≈ +50 for every row
        const batch = batchOf(cfg, seed);
        let carry = initialCarry(cfg, batch);
        for (let s = 0; s < 2 * cfg.nSup; s++) {
          const r = step(cfg, m, carry, batch, foldIn(key(seed), s));
          const drawn = ints(r.minHaltSteps);
          const steps = ints(r.carry.steps);
          const halted = ints(r.carry.halted);
          drawn.forEach((d, b) => {
            expect(d).toBeGreaterThanOrEqual(2);
            expect(d).toBeLessThanOrEqual(cfg.nSup);
            expect(halted[b]).toBe(steps[b]! >= d || steps[b] === cfg.nSup ? 1 : 0);
          });
          carry = r.carry;
        }
      }),
      { numRuns: 5 },
    );
  });

  it('the minimum is uniform on [2, N_sup] and drawn with the configured probability (fixed key)', () => {
    const nSup = 6;
    const cfg = tiny({ halt_exploration_prob: 0.5, halt_max_steps: nSup });
    const n = 3000;
    const counts = new Map<number, number>();
    for (const d of explorationDraws(cfg, key(77), n)) counts.set(d, (counts.get(d) ?? 0) + 1);
    // Half the rows explore: 0 is drawn n/2 ± 4σ times (σ = √(n/4)).
    const zeros = counts.get(0) ?? 0;
    expect(Math.abs(zeros - n / 2)).toBeLessThan(4 * Math.sqrt(n / 4));
    // The others: uniform on {2, …, N_sup}; χ² with N_sup − 2 = 4 degrees of freedom below its
    // 0.999 quantile (18.47).
    expect([...counts.keys()].filter((d) => d !== 0).sort()).toEqual([2, 3, 4, 5, 6]);
    const e = (n - zeros) / (nSup - 1);
    let chi2 = 0;
    for (let d = 2; d <= nSup; d++) chi2 += ((counts.get(d) ?? 0) - e) ** 2 / e;
    expect(chi2).toBeLessThan(18.47);
    // The step uses these draws: the same key gives the same minimum.
    const m = modelOf(cfg, 1, 50);
    const batch = batchOf(cfg, 1);
    const r = step(cfg, m, initialCarry(cfg, batch), batch, key(77));
    expect(ints(r.minHaltSteps)).toEqual(Array.from(explorationDraws(cfg, key(77), cfg.batchSize)));
  });

  it('given draws replace the key: the same draws give the same step, other draws another', () => {
    const cfg = tiny({ halt_exploration_prob: 0.5 });
    const m = modelOf(cfg, 3, 50);
    const batch = batchOf(cfg, 3);
    const started = startStep(cfg, m.buffers, initialCarry(cfg, batch), batch);
    const w: Trainable = { params: m.params, puzzleRows: puzzleRows(cfg, m.buffers, started.data) };
    const run = (draws: number[], k: number) =>
      stepForward(cfg, stepContext(cfg), w, started, {
        mode: 'train',
        lossType: 'stablemax_cross_entropy',
        key: key(k),
        minHaltSteps: fromStorage([3], Int32Array.from(draws)),
      });
    expect(ints(run([0, 0, 0], 1).carry.halted)).toEqual([1, 1, 1]); // q ≫ 0, no minimum
    expect(ints(run([0, 2, 0], 2).carry.halted)).toEqual([1, 0, 1]);
    expect(ints(run([0, 2, 0], 9).minHaltSteps)).toEqual([0, 2, 0]);
  });
});

describe('Q-learning halting (no_ACT_continue = false)', () => {
  const cfg = tiny({ no_ACT_continue: false, halt_max_steps: 3 });

  it('a row halts when q_halt > q_continue or at N_sup, and the target bootstraps from the next step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: -2, max: 2, noNaN: true }), (seed, bias) => {
        const m = modelOf(cfg, seed, bias, 0);
        const batch = batchOf(cfg, seed);
        let carry = initialCarry(cfg, batch);
        for (let s = 0; s < cfg.nSup + 1; s++) {
          const r = step(cfg, m, carry, batch, key(seed + s));
          const qh = storage(r.qHalt);
          const qc = storage(r.qContinue);
          const steps = ints(r.carry.steps);
          ints(r.carry.halted).forEach((h, b) => expect(h).toBe(steps[b] === cfg.nSup || qh[b]! > qc[b]! ? 1 : 0));
          // The target: sigmoid of the next step's q (q_halt at the last step, else the larger
          // one), the next step run on the new carry as it stands (no reset of halted rows).
          const next = stepForward(
            cfg,
            stepContext(cfg),
            { params: m.params, puzzleRows: puzzleRows(cfg, m.buffers, r.carry.data) },
            r.carry,
            { mode: 'eval', lossType: 'stablemax_cross_entropy' },
          );
          const last = fromStorage([cfg.batchSize], Int32Array.from(steps.map((v) => (v >= cfg.nSup ? 1 : 0))));
          const expected = sigmoid(where(last, next.qHalt, maximum(next.qHalt, next.qContinue)));
          expect(r.targetQContinue).not.toBe(null);
          expect(Array.from(storage(r.targetQContinue!))).toEqual(Array.from(storage(expected)));
          expect(r.loss.qContinueLoss).not.toBe(null);
          carry = r.carry;
        }
      }),
      { numRuns: 4 },
    );
  });

  it('there is no target in evaluation, without Q-continue, or with N_sup = 1', () => {
    const batch = batchOf(cfg, 5);
    expect(step(cfg, modelOf(cfg, 5), initialCarry(cfg, batch), batch, key(1), 'eval').targetQContinue).toBe(null);
    const paper = tiny({ no_ACT_continue: true });
    expect(step(paper, modelOf(paper, 5), initialCarry(paper, batch), batch, key(1)).targetQContinue).toBe(null);
    const one = tiny({ no_ACT_continue: false, halt_max_steps: 1 });
    const r = step(one, modelOf(one, 5, 9, -9), initialCarry(one, batch), batch, key(1));
    expect(r.targetQContinue).toBe(null);
    expect(ints(r.carry.halted)).toEqual([1, 1, 1]);
  });
});

const hyperOf = (cfg: TrmConfig, over: Partial<TrainHyper> = {}): TrainHyper => ({
  global_batch_size: cfg.batchSize,
  lr: 1e-2,
  lr_min_ratio: 0.1,
  lr_warmup_steps: 3,
  total_steps: 6,
  beta1: 0.9,
  beta2: 0.95,
  weight_decay: 0.1,
  puzzle_emb_lr: 0.05,
  puzzle_emb_weight_decay: 0.2,
  ema: true,
  ema_rate: 0.9,
  seed: 0,
  loss_type: 'stablemax_cross_entropy',
  ...over,
});

const sameBytes = (a: unknown, b: unknown): boolean => {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  return la.length === lb.length && la.every(([, t], i) => bytesOf(t).every((v, j) => v === bytesOf(lb[i]![1])[j]));
};

describe('trainStep wiring', () => {
  const cfg = tiny();

  /** Four steps on different batches; every step's inputs, outputs and what it computed. */
  const run = (seed: number, over: Partial<TrainHyper> = {}) => {
    const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg, over));
    let s: TrainState = initTrainState(setup, modelOf(cfg, seed, 0.5), key(seed));
    const out = [];
    for (let i = 0; i < 4; i++) {
      const batch = batchOf(cfg, seed * 10 + i);
      const o = trainStep(setup, s, batch);
      out.push({ before: s, batch, o });
      s = o.state;
    }
    return { setup, out };
  };

  it('uses the learning rates of its own step, and updates the parameters with them', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        const { setup, out } = run(seed);
        for (const { before, o } of out) {
          const t = before.step + 1;
          expect(o.state.step).toBe(t);
          expect(o.detail!.lr).toBe(setup.lr(t));
          expect(o.detail!.puzzleEmbLr).toBe(setup.puzzleEmbLr(t));
          const expected = setup.optimizer.update(before.model.params, o.detail!.grad.params, before.opt, setup.lr(t));
          expect(sameBytes(o.state.model.params, expected.params)).toBe(true);
          expect(o.state.opt.step).toBe(before.opt.step + 1);
        }
      }),
      { numRuns: 3 },
    );
  });

  it('SignSGD updates the rows of the carry’s puzzle ids with the puzzle-embedding rate and decay', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        const { setup, out } = run(seed);
        for (const { before, o } of out) {
          const ids = o.detail!.result.carry.data.puzzleIdentifiers;
          const expected = signSgdSparse(
            before.model.buffers.puzzleEmb,
            ids,
            o.detail!.grad.puzzleRows,
            setup.puzzleEmbLr(before.step + 1),
            0.2,
          );
          expect(sameBytes(o.state.model.buffers.puzzleEmb, expected)).toBe(true);
          // Rows of ids the carry does not hold are untouched.
          const used = new Set(ints(ids));
          const D = cfg.puzzleEmbNdim;
          for (let r = 0; r < cfg.numPuzzleIdentifiers; r++) {
            if (used.has(r)) continue;
            for (let d = 0; d < D; d++)
              expect(o.state.model.buffers.puzzleEmb.data[r * D + d]).toBe(
                before.model.buffers.puzzleEmb.data[r * D + d],
              );
          }
        }
      }),
      { numRuns: 3 },
    );
  });

  it('the EMA averages the updated parameters, at ema_rate', () => {
    const { out } = run(11);
    for (const { before, o } of out) {
      expect(sameBytes(o.state.ema, emaUpdate(before.ema, o.state.model.params, 0.9))).toBe(true);
      expect(sameBytes(o.state.ema, emaUpdate(before.ema, before.model.params, 0.9))).toBe(false);
    }
  });

  it('past total_steps it changes nothing but the step count and the EMA', () => {
    const { setup, out } = run(12, { total_steps: 2 });
    for (const { before, o } of out.slice(2)) {
      expect(o.metrics).toBe(null);
      expect(o.state.step).toBe(before.step + 1);
      expect(o.state.model).toBe(before.model);
      expect(o.state.opt).toBe(before.opt);
      expect(o.state.carry).toBe(before.carry);
      expect(sameBytes(o.state.ema, emaUpdate(before.ema, before.model.params, setup.hyper.ema_rate))).toBe(true);
    }
  });

  it('halted rows take the new batch’s row and restart; the others keep their data and count on', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        (seed, h) => {
          const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg));
          const m = modelOf(cfg, seed, -50); // q_halt ≪ 0: only N_sup halts
          const b1 = batchOf(cfg, seed);
          const b2 = batchOf(cfg, seed + 1);
          const s0 = initTrainState(setup, m, key(seed));
          const first = trainStep(setup, s0, b1).state;
          const halted = fromStorage([3], Int32Array.from(h.map(Number)));
          const s1: TrainState = { ...first, carry: { ...first.carry!, halted } };
          const o = trainStep(setup, s1, b2);
          const c = o.detail!.result.carry;
          const S = cfg.seqLen;
          h.forEach((was, b) => {
            const src = was ? b2 : b1;
            expect(ints(c.data.inputs).slice(b * S, (b + 1) * S)).toEqual(ints(src.inputs).slice(b * S, (b + 1) * S));
            expect(ints(c.data.labels).slice(b * S, (b + 1) * S)).toEqual(ints(src.labels).slice(b * S, (b + 1) * S));
            expect(c.data.puzzleIdentifiers.data[b]).toBe(src.puzzleIdentifiers.data[b]);
            expect(c.steps.data[b]).toBe(was ? 1 : 2);
          });
        },
      ),
      { numRuns: 5 },
    );
  });
});

describe('loss on edge rows', () => {
  const q = (B: number) => fromStorage([B], new Float32Array(B));

  it('a row whose labels are all ignored adds nothing to lm_loss, counts as exactly right, and gets no gradient', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ min: -4, max: 4, noNaN: true }), { minLength: 8, maxLength: 8 }), (vals) => {
        const logits = fromStorage([2, 2, 2], Float32Array.from(vals));
        const labels = fromStorage([2, 2], Int32Array.from([-100, -100, 1, 0]));
        const onlyRow1 = fromStorage([1, 2, 2], Float32Array.from(vals.slice(4)));
        const both = lossHead('stablemax_cross_entropy', logits, labels, q(2), q(2), null);
        const one = lossHead(
          'stablemax_cross_entropy',
          onlyRow1,
          fromStorage([1, 2], Int32Array.from([1, 0])),
          q(1),
          q(1),
          null,
        );
        expect(both.lmLoss.data[0]).toBe(one.lmLoss.data[0]);
        expect(both.seqCorrect[0]).toBe(1);
      }),
      { numRuns: 20 },
    );
  });

  it('a single target token: lm_loss is that token’s loss', () => {
    const logits = fromStorage([1, 1, 3], Float32Array.from([0.5, -1, 2]));
    const r = lossHead('softmax_cross_entropy', logits, fromStorage([1, 1], Int32Array.from([0])), q(1), q(1), null);
    const lse = Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2));
    expect(r.lmLoss.data[0]).toBeCloseTo(lse - 0.5, 6);
    expect(r.seqCorrect[0]).toBe(0);
  });

  it('ties in the logits predict the first maximal class, as torch.argmax does', () => {
    const logits = fromStorage([1, 2, 3], Float32Array.from([1, 2, 2, 3, 3, 3]));
    const r = lossHead(
      'stablemax_cross_entropy',
      logits,
      fromStorage([1, 2], Int32Array.from([1, 0])),
      q(1),
      q(1),
      null,
    );
    expect(ints(r.preds)).toEqual([1, 0]);
    expect(r.seqCorrect[0]).toBe(1);
  });
});

describe('purity at model level', () => {
  it('startStep, stepForward and trainStep change no input tensor, carry or state, and repeat bit for bit', () => {
    const cfg = tiny({ halt_exploration_prob: 0.5, no_ACT_continue: false });
    const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg));
    const s0 = initTrainState(setup, modelOf(cfg, 21, 0.3), key(21));
    const s1 = trainStep(setup, s0, batchOf(cfg, 1)).state; // a carry and moments that are not zero
    const batch = batchOf(cfg, 2);
    const watched = [s1.model, s1.opt.expAvg, s1.opt.expAvgSq, s1.ema, s1.carry, batch];
    const before = treeLeaves(watched).map(([, t]) => bytesOf(t));
    const unchanged = () => treeLeaves(watched).forEach(([path, t], i) => expect(bytesOf(t), path).toEqual(before[i]));

    const started = startStep(cfg, s1.model.buffers, s1.carry!, batch);
    unchanged();
    const w: Trainable = { params: s1.model.params, puzzleRows: puzzleRows(cfg, s1.model.buffers, started.data) };
    const startedBytes = treeLeaves([started, w]).map(([, t]) => bytesOf(t));
    const opts = { mode: 'train', lossType: 'stablemax_cross_entropy', key: key(5) } as const;
    const r1: StepResult = stepForward(cfg, stepContext(cfg), w, started, opts);
    unchanged();
    treeLeaves([started, w]).forEach(([path, t], i) => expect(bytesOf(t), `started ${path}`).toEqual(startedBytes[i]));
    const o1 = trainStep(setup, s1, batch);
    unchanged();
    const r2 = stepForward(cfg, stepContext(cfg), w, started, opts);
    const o2 = trainStep(setup, s1, batch);
    expect(sameBytes([r1.carry, r1.logits, r1.loss.total], [r2.carry, r2.logits, r2.loss.total])).toBe(true);
    expect(
      sameBytes(
        [o1.state.model, o1.state.opt.expAvg, o1.state.ema],
        [o2.state.model, o2.state.opt.expAvg, o2.state.ema],
      ),
    ).toBe(true);
  });
});
