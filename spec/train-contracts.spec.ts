/**
 * Contracts of the training code: what the optimizers, the EMA and the training step refuse (each
 * refusal names the op and the offending value), the official reduction of the training metrics,
 * a non-finite loss or gradient stopping the run, which weights are evaluated, and the paths
 * without EMA, without a puzzle embedding, and with a parameter that gets no gradient.
 */
import { describe, expect, it } from 'vitest';
import { key } from '../src/random/key.js';
import { randint } from '../src/random/sample.js';
import { type Tensor, fromStorage, storage, tensor } from '../src/tensor/tensor.js';
import { treeLeaves } from '../src/tensor/tree.js';
import { emaUpdate } from '../src/train/ema.js';
import type { TrainHyper } from '../src/train/hyper.js';
import { NonFiniteError, evalModel, initTrainState, makeSetup, trainStep } from '../src/train/loop.js';
import {
  adamAtan2,
  adamW,
  optimizerStateScalars,
  optimizerStateTensors,
  restoreOptimizerState,
  signSgdSparse,
} from '../src/train/optim.js';
import { type Batch, stepContext } from '../src/trm/act.js';
import { type OfficialConfigInput, type TrmConfig, makeConfig } from '../src/trm/config.js';
import { initState } from '../src/trm/params.js';

const ids = (v: number[]): Tensor => fromStorage([v.length], Int32Array.from(v));

describe('optimizer contracts', () => {
  it('are named as the official optimizers', () => {
    expect(adamAtan2().name).toBe('adamAtan2');
    expect(adamW().name).toBe('adamW');
  });

  it.each([
    ['adamAtan2', adamAtan2()],
    ['adamW', adamW()],
  ] as const)('%s refuses a state without moments for a parameter, naming itself and the parameter', (name, opt) => {
    const p = { w: tensor([1, 2]), v: tensor([3]) };
    const s = opt.init(p);
    const broken = { ...s, expAvg: { ...s.expAvg, v: null } } as never;
    expect(() => opt.update(p, p, broken, 0.1)).toThrow(
      new RegExp(`^${name}: the optimizer state has no moments for parameter 'v'`),
    );
    const brokenSq = { ...s, expAvgSq: { ...s.expAvgSq, w: null } } as never;
    expect(() => opt.update(p, p, brokenSq, 0.1)).toThrow(
      new RegExp(`^${name}: the optimizer state has no moments for parameter 'w'`),
    );
    const absentM = { ...s, expAvg: { w: s.expAvg.w } } as never;
    expect(() => opt.update(p, p, absentM, 0.1)).toThrow(
      new RegExp(`^${name}: the optimizer state has no moments for parameter 'v'`),
    );
    const absentV = { ...s, expAvgSq: { w: s.expAvgSq.w } } as never;
    expect(() => opt.update(p, p, absentV, 0.1)).toThrow(
      new RegExp(`^${name}: the optimizer state has no moments for parameter 'v'`),
    );
    const misshapen = { ...s, expAvg: { ...s.expAvg, w: tensor([0, 0, 0]) } };
    expect(() => opt.update(p, p, misshapen, 0.1)).toThrow(new RegExp(`^${name}: exp_avg at 'w' has shape \\[3\\]`));
    const misshapenSq = { ...s, expAvgSq: { ...s.expAvgSq, w: tensor([0]) } };
    expect(() => opt.update(p, p, misshapenSq, 0.1)).toThrow(
      new RegExp(`^${name}: exp_avg_sq at 'w' has shape \\[1\\]`),
    );
  });

  it.each([
    ['adamAtan2', adamAtan2()],
    ['adamW', adamW()],
  ] as const)('%s leaves a parameter whose gradient is null, and its moments, as they are', (_name, opt) => {
    const p = { w: tensor([1, -2]), v: tensor([3]) };
    const s0 = opt.init(p);
    const s1 = opt.update(p, { w: tensor([0.5, 0.5]), v: tensor([1]) }, s0, 0.1);
    const s2 = opt.update(s1.params, { w: tensor([0.25, -1]), v: null } as never, s1.state, 0.1);
    expect(s2.params.v).toBe(s1.params.v);
    expect(s2.state.expAvg.v).toBe(s1.state.expAvg.v);
    expect(s2.state.expAvgSq.v).toBe(s1.state.expAvgSq.v);
    expect(Array.from(storage(s2.params.w))).not.toEqual(Array.from(storage(s1.params.w)));
    expect(s2.state.step).toBe(2);
    // A gradient tree without the parameter's key skips it the same way.
    const s3 = opt.update(s2.params, { w: tensor([1, 1]) } as never, s2.state, 0.1);
    expect(s3.params.v).toBe(s2.params.v);
    expect(s3.state.expAvg.v).toBe(s2.state.expAvg.v);
  });

  it('names the moments of a single-tensor parameter tree exp_avg and exp_avg_sq, and restores them', () => {
    const s = adamAtan2().update(tensor([1, 2]), tensor([0.5, -0.5]), adamAtan2().init(tensor([1, 2])), 0.1).state;
    const named = optimizerStateTensors(s);
    expect([...named.keys()].sort()).toEqual(['exp_avg', 'exp_avg_sq']);
    const back = restoreOptimizerState(tensor([0, 0]), named, optimizerStateScalars(s));
    expect(back._tag === 'Right' && Array.from(storage(back.right.expAvg))).toEqual(Array.from(storage(s.expAvg)));
  });

  it('SignSGD refuses a table that is not a float matrix, ids that are not int32 [B], and ids out of range', () => {
    const table = tensor([
      [1, 2],
      [3, 4],
    ]);
    const g = tensor([[1, 1]]);
    expect(() => signSgdSparse(tensor([1, 2]), ids([0]), g, 0.1, 0)).toThrow(
      /^signSgdSparse: the table must be a float \[numIds, ndim\] tensor, got float32 \[2\]/,
    );
    expect(() => signSgdSparse(fromStorage([1, 2], Int32Array.from([1, 2])), ids([0]), g, 0.1, 0)).toThrow(
      /^signSgdSparse: the table must be a float \[numIds, ndim\] tensor, got int32/,
    );
    expect(() => signSgdSparse(table, tensor([0]), g, 0.1, 0)).toThrow(
      /^signSgdSparse: ids must be an int32 \[B\] tensor, got float32/,
    );
    expect(() => signSgdSparse(table, fromStorage([1, 1], Int32Array.from([0])), g, 0.1, 0)).toThrow(
      /^signSgdSparse: ids must be an int32 \[B\] tensor, got int32 \[1,1\]/,
    );
    expect(() => signSgdSparse(table, ids([2]), g, 0.1, 0)).toThrow(
      /^signSgdSparse: id 2 at row 0 is outside \[0, 2\)/,
    );
    expect(() =>
      signSgdSparse(
        table,
        ids([0, -1]),
        tensor([
          [1, 1],
          [1, 1],
        ]),
        0.1,
        0,
      ),
    ).toThrow(/^signSgdSparse: id -1 at row 1/);
    expect(() => signSgdSparse(table, ids([0]), g, Number.POSITIVE_INFINITY, 0)).toThrow(
      /^signSgdSparse: learning rate/,
    );
  });

  it('restoring a fresh state (step 0) round-trips; a negative or fractional step is refused', () => {
    const p = { w: tensor([1, 2]), blocks: [{ u: tensor([3]) }] };
    const s = adamAtan2().init(p);
    const named = optimizerStateTensors(s);
    const back = restoreOptimizerState(p, named, optimizerStateScalars(s));
    expect(back._tag).toBe('Right');
    if (back._tag === 'Right') expect(back.right.step).toBe(0);
    for (const step of [-1, 0.5]) {
      const r = restoreOptimizerState(p, named, { step });
      expect(r).toEqual({ _tag: 'Left', left: `optimizer state: step ${step} is not a non-negative integer` });
    }
    // A name under exp_avg that matches no parameter, even with a prefix, is refused.
    const prefixed = optimizerStateTensors(s, 'opt.');
    const extra = new Map([...prefixed, ['opt.exp_avg.nope', tensor([0])]]);
    expect(restoreOptimizerState(p, extra, { step: 0 }, 'opt.')).toEqual({
      _tag: 'Left',
      left: "optimizer state: tensor 'opt.exp_avg.nope' matches no parameter",
    });
    const bare = new Map([...prefixed, ['opt.exp_avg', tensor([0])]]);
    expect(restoreOptimizerState(p, bare, { step: 0 }, 'opt.')._tag).toBe('Left');
    // Names of other things are ignored.
    const other = new Map([...prefixed, ['opt.exp_average', tensor([0])], ['weights.w', tensor([9])]]);
    expect(restoreOptimizerState(p, other, { step: 0 }, 'opt.')._tag).toBe('Right');
  });
});

describe('EMA contracts', () => {
  it('refuses a rate outside [0, 1] and integer tensors, naming the leaf', () => {
    expect(() => emaUpdate({ w: tensor([1]) }, { w: tensor([1]) }, -0.1)).toThrow(
      /^emaUpdate: rate -0.1 is outside \[0, 1\]/,
    );
    expect(() => emaUpdate({ w: tensor([1]) }, { w: tensor([1]) }, 1.1)).toThrow(
      /^emaUpdate: rate 1.1 is outside \[0, 1\]/,
    );
    expect(() => emaUpdate({ w: tensor([1]) }, { w: tensor([1]) }, Number.NaN)).toThrow(/^emaUpdate: rate NaN/);
    const i = fromStorage([1], Int32Array.from([1]));
    expect(() => emaUpdate({ n: i }, { n: i }, 0.5)).toThrow(/^emaUpdate: 'n' is int32; EMA needs float tensors/);
  });
});

const tiny = (over: Partial<OfficialConfigInput> = {}): TrmConfig =>
  makeConfig({
    vocab_size: 5,
    seq_len: 4,
    batch_size: 4,
    num_puzzle_identifiers: 3,
    hidden_size: 8,
    num_heads: 2,
    expansion: 1,
    H_cycles: 1,
    L_cycles: 1,
    L_layers: 1,
    puzzle_emb_ndim: 8,
    puzzle_emb_len: 1,
    halt_max_steps: 2,
    forward_dtype: 'float32',
    ...over,
  });

const hyperOf = (cfg: TrmConfig, over: Partial<TrainHyper> = {}): TrainHyper => ({
  global_batch_size: cfg.batchSize,
  lr: 1e-2,
  lr_min_ratio: 1,
  lr_warmup_steps: 0,
  total_steps: 10,
  beta1: 0.9,
  beta2: 0.95,
  weight_decay: 0.1,
  puzzle_emb_lr: 0.05,
  puzzle_emb_weight_decay: 0.1,
  ema: false,
  ema_rate: 0.9,
  seed: 0,
  loss_type: 'stablemax_cross_entropy',
  ...over,
});

const batchOf = (cfg: TrmConfig, seed: number): Batch => ({
  inputs: randint(key(seed), [cfg.batchSize, cfg.seqLen], 0, cfg.vocabSize),
  labels: fromStorage(
    [cfg.batchSize, cfg.seqLen],
    // Row 3 has no target at all (it counts in no metric).
    Int32Array.from({ length: cfg.batchSize * cfg.seqLen }, (_, i) => (i >= 3 * cfg.seqLen ? -100 : (i * 7) % 5)),
  ),
  puzzleIdentifiers: randint(key(seed + 1), [cfg.batchSize], 0, cfg.numPuzzleIdentifiers),
});

describe('trainStep contracts', () => {
  it('reports the official reductions: values ending in loss over the global batch, the others over max(count, 1)', () => {
    const cfg = tiny();
    const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg, { global_batch_size: 4 }));
    let s = initTrainState(setup, initState(cfg, key(1)), key(2));
    for (let i = 0; i < 3; i++) {
      const o = trainStep(setup, s, batchOf(cfg, i));
      const r = o.detail!.result;
      const m = r.metrics;
      const per = Math.max(m.count, 1);
      expect(o.metrics).toEqual({
        step: i + 1,
        lr: setup.lr(i + 1),
        loss: r.loss.total.data[0]! / 4,
        lm_loss: r.loss.lmLoss.data[0]! / 4,
        q_halt_loss: r.loss.qHaltLoss.data[0]! / 4,
        count: m.count / per,
        accuracy: m.accuracy / per,
        exact_accuracy: m.exact_accuracy / per,
        q_halt_accuracy: m.q_halt_accuracy / per,
        steps: m.steps / per,
      });
      if (m.count > 1) expect(o.metrics!.count).toBe(1);
      s = o.state;
    }
    // With one class every prediction is right: exact and token accuracy are the count, reduced to 1.
    const one = tiny({ vocab_size: 1 });
    const setup1 = makeSetup(one, stepContext(one), hyperOf(one, { global_batch_size: 4 }));
    const zeros = fromStorage([4, one.seqLen], new Int32Array(4 * one.seqLen));
    const b1: Batch = { inputs: zeros, labels: zeros, puzzleIdentifiers: ids([0, 1, 2, 0]) };
    let s1 = initTrainState(setup1, initState(one, key(1)), key(2));
    s1 = trainStep(setup1, s1, b1).state;
    const o1 = trainStep(setup1, s1, b1); // step 2 = N_sup: all four rows halt, all exactly right
    expect(o1.detail!.result.metrics).toMatchObject({ count: 4, exact_accuracy: 4, accuracy: 4, steps: 8 });
    expect(o1.metrics).toMatchObject({ count: 1, exact_accuracy: 1, accuracy: 1, steps: 2 });
    const cfg2 = tiny({ no_ACT_continue: false });
    const setup2 = makeSetup(cfg2, stepContext(cfg2), hyperOf(cfg2, { global_batch_size: 4 }));
    const o = trainStep(setup2, initTrainState(setup2, initState(cfg2, key(3)), key(4)), batchOf(cfg2, 9));
    expect(o.metrics!.q_continue_loss).toBe(o.detail!.result.loss.qContinueLoss!.data[0]! / 4);
  });

  it('stops with a NonFiniteError naming the step and the tensor when the loss or a gradient is not finite', () => {
    const cfg = tiny();
    const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg));
    const m = initState(cfg, key(5));
    const nan = (t: Tensor): Tensor =>
      fromStorage(
        t.shape,
        Float32Array.from(storage(t), (v, i) => (i === 0 ? Number.NaN : v)),
      );
    const badLoss = { ...m, params: { ...m.params, lmHead: nan(m.params.lmHead) } };
    const e1 = (() => {
      try {
        trainStep(setup, initTrainState(setup, badLoss, key(1)), batchOf(cfg, 1));
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(e1).toBeInstanceOf(NonFiniteError);
    expect((e1 as NonFiniteError).message).toBe(
      'non-finite value at step 1 in loss; training stopped (the last checkpoint is untouched)',
    );
    expect((e1 as NonFiniteError).name).toBe('NonFiniteError');
    // A NaN in the Q head's continue row leaves the loss finite (q_continue is not in the paper's
    // loss) but its backward pass multiplies NaN by 0: the gradients are not finite.
    const w = m.params.qHead.weight;
    const D = cfg.D;
    const badRow = fromStorage(
      w.shape,
      Float32Array.from(storage(w), (v, i) => (i === D ? Number.NaN : v)),
    );
    const badGrad = { ...m, params: { ...m.params, qHead: { ...m.params.qHead, weight: badRow } } };
    expect(() => trainStep(setup, initTrainState(setup, badGrad, key(1)), batchOf(cfg, 1))).toThrow(
      /^non-finite value at step 1 in gradient of params\./,
    );
  });

  it('evaluates the EMA weights with the live buffers when EMA is on, the live model otherwise', () => {
    const cfg = tiny();
    for (const ema of [true, false]) {
      const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg, { ema }));
      const s = trainStep(setup, initTrainState(setup, initState(cfg, key(6)), key(1)), batchOf(cfg, 1)).state;
      const e = evalModel(s);
      if (ema) {
        expect(e.params).toBe(s.ema);
        expect(e.buffers).toBe(s.model.buffers);
      } else {
        expect(s.ema).toBe(null);
        expect(e).toBe(s.model);
      }
    }
  });

  it('without EMA the shadow stays null, past total_steps too', () => {
    const cfg = tiny();
    const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg, { ema: false, total_steps: 1 }));
    let s = initTrainState(setup, initState(cfg, key(7)), key(1));
    for (let i = 0; i < 3; i++) {
      s = trainStep(setup, s, batchOf(cfg, i)).state;
      expect(s.ema).toBe(null);
    }
    expect(s.step).toBe(3);
  });

  it('without a puzzle embedding the (empty) table is passed through untouched', () => {
    const cfg = tiny({ puzzle_emb_ndim: 0, puzzle_emb_len: 0 });
    const setup = makeSetup(cfg, stepContext(cfg), hyperOf(cfg));
    const s0 = initTrainState(setup, initState(cfg, key(8)), key(1));
    const o = trainStep(setup, s0, batchOf(cfg, 1));
    expect(o.state.model.buffers.puzzleEmb).toBe(s0.model.buffers.puzzleEmb);
    expect(treeLeaves(o.state.model.params).length).toBe(treeLeaves(s0.model.params).length);
  });
});
