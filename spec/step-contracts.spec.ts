/**
 * Contracts of one supervision step: the initial carry, probes only when asked, what stepForward
 * refuses, the halting rule in evaluation, strict halting comparisons (as the official `>`), the
 * puzzle identifiers unread without a puzzle embedding, and the network as its blocks in order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { add } from '../src/ops/index.js';
import { key } from '../src/random/key.js';
import { normal } from '../src/random/sample.js';
import { type Tensor, fromStorage, storage, tensor, zeros } from '../src/tensor/tensor.js';
import { type Batch, initialCarry, puzzleRows, stepContext } from '../src/trm/act.js';
import { block } from '../src/trm/block.js';
import type { TrmConfig } from '../src/trm/config.js';
import { initState } from '../src/trm/params.js';
import { net, netBlocks } from '../src/trm/recursion.js';
import { batchOf, ints, keys, modelOf, step, tiny } from './tiny.js';

const values = (t: Tensor): number[] => Array.from(storage(t));

/** A model whose Q head is constant: q_halt = `halt` and q_continue = `cont` for every row. */
const constantQ = (cfg: TrmConfig, seed: number, halt: number, cont: number) => {
  const m = modelOf(cfg, seed);
  return { ...m, params: { ...m.params, qHead: { weight: zeros([2, cfg.D]), bias: tensor([halt, cont]) } } };
};

describe('the initial carry', () => {
  it('is all-halted with zero state and step counts, in the requested dtype, holding the batch', () => {
    const cfg = tiny();
    const batch = batchOf(cfg, 1);
    for (const dtype of ['float32', 'float64'] as const) {
      const c = initialCarry(cfg, batch, dtype);
      for (const t of [c.y, c.z]) {
        expect(t.shape).toEqual([cfg.batchSize, cfg.totalLen, cfg.D]);
        expect(t.dtype).toBe(dtype);
        expect(values(t).every((v) => v === 0)).toBe(true);
      }
      expect(c.steps.shape).toEqual([cfg.batchSize]);
      expect(c.steps.dtype).toBe('int32');
      expect(ints(c.steps)).toEqual([0, 0, 0]);
      expect(c.halted.dtype).toBe('int32');
      expect(ints(c.halted)).toEqual([1, 1, 1]);
      expect(c.data).toBe(batch);
    }
  });
});

describe('probes', () => {
  it('are null unless the context asks; asked, they hold x and all T·(n + 1) updates', () => {
    const cfg = tiny({ H_cycles: 3, L_cycles: 2 });
    const m = modelOf(cfg, 2);
    const batch = batchOf(cfg, 2);
    expect(step(cfg, m, initialCarry(cfg, batch), batch, key(0)).probe).toBe(null);
    expect(step(cfg, m, initialCarry(cfg, batch), batch, key(0), 'eval').probe).toBe(null);
    const p = step(cfg, m, initialCarry(cfg, batch), batch, key(0), 'train', { probe: true }).probe;
    expect(p).not.toBe(null);
    expect(p!.x.shape).toEqual([cfg.batchSize, cfg.totalLen, cfg.D]);
    expect(p!.updates.map((u) => `${u.cycle}:${u.update}`)).toEqual([
      '0:0',
      '0:1',
      '0:answer',
      '1:0',
      '1:1',
      '1:answer',
      '2:0',
      '2:1',
      '2:answer',
    ]);
  });
});

describe('what stepForward refuses', () => {
  const cfg = tiny({ halt_exploration_prob: 0.5 });
  const m = modelOf(cfg, 3);
  const batch = batchOf(cfg, 3);

  it('given exploration draws that are not one per row, naming both shapes', () => {
    const draws = (shape: number[]) => fromStorage(shape, new Int32Array(shape.reduce((a, b) => a * b, 1)).fill(2));
    for (const shape of [[2], [4], [3, 1], [1, 3]]) {
      expect(() =>
        step(cfg, m, initialCarry(cfg, batch), batch, key(0), 'train', { minHaltSteps: draws(shape) }),
      ).toThrow(`stepForward: minHaltSteps has shape [${shape}], expected [3]`);
    }
  });

  it('training with exploration and neither a key nor given draws', () => {
    const noKey = undefined as unknown as ReturnType<typeof key>;
    expect(() => step(cfg, m, initialCarry(cfg, batch), batch, noKey)).toThrow(
      'stepForward: halt_exploration_prob > 0 in training needs a PRNG key',
    );
    // Without exploration, in evaluation, or with N_sup = 1 (no halting by Q) no key is needed.
    const none = tiny({ halt_exploration_prob: 0 });
    expect(ints(step(none, modelOf(none, 3), initialCarry(none, batch), batch, noKey).minHaltSteps)).toEqual([0, 0, 0]);
    expect(ints(step(cfg, m, initialCarry(cfg, batch), batch, noKey, 'eval').minHaltSteps)).toEqual([0, 0, 0]);
    const one = tiny({ halt_exploration_prob: 0.5, halt_max_steps: 1 });
    expect(ints(step(one, modelOf(one, 3), initialCarry(one, batch), batch, noKey).carry.halted)).toEqual([1, 1, 1]);
  });
});

describe('halting', () => {
  it('in evaluation, halt = "adaptive" halts each row on q_halt > 0 (or at N_sup); the default runs N_sup steps', () => {
    const cfg = tiny({ halt_max_steps: 3 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: -1, max: 1, noNaN: true }), (seed, bias) => {
        const m = modelOf(cfg, seed, bias);
        const batch = batchOf(cfg, seed);
        let adaptive = initialCarry(cfg, batch);
        let fixed = initialCarry(cfg, batch);
        for (let s = 1; s <= cfg.nSup; s++) {
          const a = step(cfg, m, adaptive, batch, key(0), 'eval', { halt: 'adaptive' });
          const steps = ints(a.carry.steps);
          const qh = values(a.qHalt);
          expect(ints(a.carry.halted)).toEqual(steps.map((n, b) => (n === cfg.nSup || qh[b]! > 0 ? 1 : 0)));
          const f = step(cfg, m, fixed, batch, key(0), 'eval', { halt: 'max' });
          expect(ints(f.carry.halted)).toEqual(ints(f.carry.steps).map((n) => (n === cfg.nSup ? 1 : 0)));
          adaptive = a.carry;
          fixed = f.carry;
        }
      }),
      { numRuns: 4 },
    );
  });

  it('is strict: q_halt = 0 does not halt, nor does q_halt = q_continue with the Q-continue rule', () => {
    for (const mode of ['train', 'eval'] as const) {
      const paper = tiny({ no_ACT_continue: true });
      const batch = batchOf(paper, 4);
      const r = step(paper, constantQ(paper, 4, 0, 0), initialCarry(paper, batch), batch, key(0), mode, {
        halt: 'adaptive',
      });
      expect(values(r.qHalt)).toEqual([0, 0, 0]);
      expect(ints(r.carry.halted)).toEqual([0, 0, 0]);
      const act = tiny({ no_ACT_continue: false });
      const tie = step(act, constantQ(act, 4, 1.5, 1.5), initialCarry(act, batch), batch, key(0), mode, {
        halt: 'adaptive',
      });
      expect(values(tie.qHalt)).toEqual(values(tie.qContinue));
      expect(ints(tie.carry.halted)).toEqual([0, 0, 0]);
    }
  });
});

describe('without a puzzle embedding', () => {
  it('the identifiers are never read (ids outside the table work), in float64 as in float32', () => {
    const cfg = tiny({ puzzle_emb_ndim: 0, puzzle_emb_len: 2, num_puzzle_identifiers: 1 });
    for (const dtype of ['float32', 'float64'] as const) {
      const s = initState(cfg, key(5), { dtype });
      const batch = batchOf(cfg, 5);
      const far: Batch = { ...batch, puzzleIdentifiers: fromStorage([3], Int32Array.from([7, -1, 1000])) };
      const rows = puzzleRows(cfg, s.buffers, far);
      expect(rows.shape).toEqual([3, 0]);
      expect(rows.dtype).toBe(dtype);
      const run = (b: Batch) => {
        const c = initialCarry(cfg, b, dtype);
        return step(cfg, s, c, b, key(0), 'eval', { dtype });
      };
      const a = run(batch);
      const b = run(far);
      expect(b.logits.dtype).toBe(dtype);
      expect(values(b.logits)).toEqual(values(a.logits));
    }
  });
});

describe('the network', () => {
  it('is its blocks applied in order to state + injection; net is the last block output', () => {
    const cfg = tiny({ L_layers: 3 });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        const [k1, k2, k3] = keys(key(seed), 3);
        const { params } = initState(cfg, k1!);
        const ctx = stepContext(cfg);
        const state = normal(k2!, [2, cfg.totalLen, cfg.D]);
        const inj = normal(k3!, [2, cfg.totalLen, cfg.D]);
        const outs = netBlocks(ctx, params, state, inj);
        expect(outs).toHaveLength(3);
        let h = add(state, inj);
        params.blocks.forEach((b, j) => {
          h = block(ctx, b, h);
          expect(values(outs[j]!)).toEqual(values(h));
        });
        expect(values(net(ctx, params, state, inj))).toEqual(values(h));
      }),
      { numRuns: 3 },
    );
  });

  it('with no blocks is a programmer error that says so', () => {
    const cfg = tiny();
    const { params } = initState(cfg, key(0));
    const x = normal(key(1), [1, cfg.totalLen, cfg.D]);
    expect(() => net(stepContext(cfg), { ...params, blocks: [] }, x, x)).toThrow(
      'net: the network has no blocks (L_layers = 0)',
    );
  });
});
