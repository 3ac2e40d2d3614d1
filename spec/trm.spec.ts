/**
 * The laws of the model: what makes TRM TRM, checked on tiny random models.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stopGradient, valueAndGrad } from '../src/autodiff/grad.js';
import { treeLeaves, treeMap, treeZip } from '../src/tensor/tree.js';
import { add, mul, sumAll } from '../src/ops/index.js';
import { key, split } from '../src/random/key.js';
import { normal, randint } from '../src/random/sample.js';
import { type Tensor, fromStorage, storage, tensor } from '../src/tensor/tensor.js';
import {
  type Batch,
  type Trainable,
  initialCarry,
  puzzleRows,
  startStep,
  stepContext,
  stepForward,
} from '../src/trm/act.js';
import { type OfficialConfigInput, type TrmConfig, makeConfig } from '../src/trm/config.js';
import { inputEmbedding } from '../src/trm/embedding.js';
import { initState } from '../src/trm/params.js';
import { deepRecursion, latentRecursion, refineAnswer, updateLatent } from '../src/trm/recursion.js';

const tiny = (over: Partial<OfficialConfigInput> = {}): TrmConfig =>
  makeConfig({
    vocab_size: 6,
    seq_len: 4,
    batch_size: 2,
    num_puzzle_identifiers: 3,
    hidden_size: 8,
    num_heads: 2,
    expansion: 1,
    H_cycles: 2,
    L_cycles: 2,
    L_layers: 1,
    puzzle_emb_ndim: 8,
    puzzle_emb_len: 1,
    halt_max_steps: 4,
    halt_exploration_prob: 0,
    forward_dtype: 'float32',
    ...over,
  });

const variants: Record<string, Partial<OfficialConfigInput>> = {
  'attention + RoPE': { pos_encodings: 'rope' },
  'attention + learned positions': { pos_encodings: 'learned' },
  mlp_t: { mlp_t: true, pos_encodings: 'none' },
};

const randomBatch = (cfg: TrmConfig, seed: number): Batch => {
  const [a, b, c] = split(key(seed), 3) as [ReturnType<typeof key>, ReturnType<typeof key>, ReturnType<typeof key>];
  const B = cfg.batchSize;
  const labels = storage(randint(b, [B, cfg.seqLen], 0, cfg.vocabSize)).slice() as Int32Array;
  labels[0] = -100;
  return {
    inputs: randint(a, [B, cfg.seqLen], 0, cfg.vocabSize),
    labels: fromStorage([B, cfg.seqLen], labels),
    puzzleIdentifiers: randint(c, [B], 0, cfg.numPuzzleIdentifiers),
  };
};

const dot = (a: unknown, b: unknown): number => {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  let s = 0;
  la.forEach(([, t], i) => {
    const u = lb[i]![1];
    for (let j = 0; j < t.size; j++) s += t.data[j]! * u.data[j]!;
  });
  return s;
};

const setup = (cfg: TrmConfig, seed: number, dtype: 'float32' | 'float64' = 'float64') => {
  const [k1, k2] = split(key(seed), 2) as [ReturnType<typeof key>, ReturnType<typeof key>];
  const state0 = initState(cfg, k1, { dtype });
  // Non-trivial buffers and heads, so that every path carries signal.
  const state = {
    params: { ...state0.params, qHead: { weight: normal(k2, [2, cfg.D], { dtype }), bias: state0.params.qHead.bias } },
    buffers: {
      ...state0.buffers,
      puzzleEmb: normal(split(k2, 2)[1]!, state0.buffers.puzzleEmb.shape as number[], { dtype }),
    },
  };
  const batch = randomBatch(cfg, seed + 1);
  const ctx = stepContext(cfg, undefined, dtype);
  const carry = initialCarry(cfg, batch, dtype);
  const started = startStep(cfg, state.buffers, carry, batch);
  const x = inputEmbedding(
    cfg,
    state.params.embedTokens,
    state.params.embedPos,
    puzzleRows(cfg, state.buffers, started.data),
    started.data.inputs,
  );
  return { state, batch, ctx, started, x };
};

describe.each(Object.entries(variants))('TRM laws (%s)', (_name, over) => {
  const cfg = tiny(over);

  it('y is refined only from (y, z): unchanged when x changes, zero gradient w.r.t. x; z depends on x', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        const { state, ctx, started, x } = setup(cfg, seed);
        const x2 = normal(key(seed + 7), x.shape as number[], { dtype: 'float64' });
        const { y, z } = started;
        // The y-update as the model runs it: latentRecursion with n = 0 latent steps is exactly
        // "y ← net(y, z)" reached through the code path that has x in scope.
        const yOnly = { ...ctx, n: 0 };
        const y1 = latentRecursion(yOnly, state.params, x, { y, z }).y;
        const y2 = latentRecursion(yOnly, state.params, x2, { y, z }).y;
        expect(Array.from(y1.data)).toEqual(Array.from(y2.data));
        expect(Array.from(refineAnswer(ctx, state.params, y, z).data)).toEqual(Array.from(y1.data));
        const gy = valueAndGrad((xx: Tensor) => sumAll(latentRecursion(yOnly, state.params, xx, { y, z }).y))(x).grad;
        expect(Array.from(gy.data).every((v) => v === 0)).toBe(true);
        const za = updateLatent(ctx, state.params, x, y, z);
        const zb = updateLatent(ctx, state.params, x2, y, z);
        expect(Array.from(za.data)).not.toEqual(Array.from(zb.data));
        const gz = valueAndGrad((xx: Tensor) => sumAll(updateLatent(ctx, state.params, xx, y, z)))(x).grad;
        expect(Array.from(gz.data).some((v) => v !== 0)).toBe(true);
      }),
      { numRuns: 3 },
    );
  });

  it('parameters get no gradient from the T−1 no-grad cycles; the input embedding still gets one', () => {
    const { state, ctx, started } = setup(cfg, 11);
    const rows = puzzleRows(cfg, state.buffers, started.data);
    const embed = (p: Trainable) =>
      inputEmbedding(cfg, p.params.embedTokens, p.params.embedPos, p.puzzleRows, started.data.inputs);
    const w: Trainable = { params: state.params, puzzleRows: rows };
    // Full deep recursion.
    const full = valueAndGrad((p: Trainable) => sumAll(deepRecursion(ctx, p.params, embed(p), started).y))(w).grad;
    // The same, with the first T−1 cycles computed outside on stopped values.
    let s = { y: started.y, z: started.z };
    const frozenX = stopGradient(embed(w));
    for (let i = 0; i < cfg.T - 1; i++) s = latentRecursion(ctx, stopGradient(state.params), frozenX, s);
    const last = valueAndGrad((p: Trainable) => sumAll(latentRecursion(ctx, p.params, embed(p), stopGradient(s)).y))(
      w,
    ).grad;
    treeZip(full, last, (a, b, path) => {
      const d = Math.max(...Array.from(a.data, (v, i) => Math.abs(v - b.data[i]!)));
      expect(d, path).toBe(0);
      return a;
    });
    expect(Array.from(full.params.embedTokens.data).some((v) => v !== 0)).toBe(true);
  });

  it('the carry a supervision step returns carries no gradient', () => {
    const { state, ctx, started } = setup(cfg, 5);
    const w: Trainable = { params: state.params, puzzleRows: puzzleRows(cfg, state.buffers, started.data) };
    valueAndGrad((p: Trainable) => {
      const r = stepForward(cfg, ctx, p, started, { mode: 'train', lossType: 'stablemax_cross_entropy' });
      expect(r.carry.y.node).toBeNull();
      expect(r.carry.z.node).toBeNull();
      expect(r.logits.node).not.toBeNull();
      return r.loss.total;
    })(w);
  });

  // With T = 1 the step has no no-grad cycle, so its gradient is the full derivative of the loss.
  it('the supervision-step loss matches central differences along random directions (float64, T = 1)', () => {
    const cfg = tiny({ ...over, H_cycles: 1 });
    for (const lossType of ['stablemax_cross_entropy', 'softmax_cross_entropy'] as const) {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
          const { state, ctx, started } = setup(cfg, seed);
          const w: Trainable = { params: state.params, puzzleRows: puzzleRows(cfg, state.buffers, started.data) };
          const loss = (p: Trainable) => stepForward(cfg, ctx, p, started, { mode: 'train', lossType }).loss.total;
          const { grad } = valueAndGrad(loss)(w);
          let i = 0;
          const raw = treeMap(w, (t) => normal(key(seed * 31 + i++), t.shape as number[], { dtype: 'float64' }));
          // A unit direction, so the stencil's step is h in parameter space whatever the model size.
          const norm = Math.sqrt(dot(raw, raw));
          const dir = treeMap(raw, (t) => mul(t, 1 / norm));
          // Five-point central difference: truncation error O(h⁴), so curvature does not leak in.
          const eps = 1e-3;
          const run = (sgn: number) =>
            stepForward(
              cfg,
              ctx,
              treeZip(w, dir, (a, d) => add(a, mul(d, sgn * eps))),
              started,
              { mode: 'train', lossType },
            );
          const points = [2, 1, -1, -2].map(run);
          // Keep away from the kinks: no logit may cross stablemax's branch point 0, and no
          // prediction may flip (it changes the q_halt target), anywhere on the stencil.
          const center = run(0);
          const same = points.every(
            (r) =>
              Array.from(r.logits.data).every((v, i) => Math.sign(v) === Math.sign(center.logits.data[i]!)) &&
              Array.from(r.loss.preds.data).every((v, i) => v === center.loss.preds.data[i]),
          );
          fc.pre(same);
          const [f2, f1, fm1, fm2] = points.map((r) => r.loss.total.data[0]!) as [number, number, number, number];
          const fd = (-f2 + 8 * f1 - 8 * fm1 + fm2) / (12 * eps);
          const an = dot(grad, dir);
          expect(Math.abs(fd - an), `fd ${fd} vs analytic ${an} (${lossType})`).toBeLessThanOrEqual(
            1e-6 * Math.max(1, Math.abs(an)),
          );
        }),
        { numRuns: 3 },
      );
    }
  });
});

describe('halting laws', () => {
  const cfg = tiny({ halt_exploration_prob: 0.5 });

  const run = (mode: 'train' | 'eval', seed: number, steps: number, qBias: number, explore: boolean) => {
    const c = explore ? cfg : tiny({ halt_exploration_prob: 0 });
    const [k1, kEx] = split(key(seed), 2) as [ReturnType<typeof key>, ReturnType<typeof key>];
    const s0 = initState(c, k1);
    const state = {
      ...s0,
      params: { ...s0.params, qHead: { weight: s0.params.qHead.weight, bias: tensor([qBias, 0]) } },
    };
    const batch = randomBatch(c, seed);
    const ctx = stepContext(c);
    let carry = initialCarry(c, batch);
    const history: { steps: number[]; halted: number[] }[] = [];
    for (let s = 0; s < steps; s++) {
      const started = startStep(c, state.buffers, carry, batch);
      const w: Trainable = { params: state.params, puzzleRows: puzzleRows(c, state.buffers, started.data) };
      const r = stepForward(c, ctx, w, started, {
        mode,
        lossType: 'stablemax_cross_entropy',
        key: split(kEx, steps)[s]!,
      });
      carry = r.carry;
      history.push({ steps: Array.from(carry.steps.data), halted: Array.from(carry.halted.data) });
    }
    return history;
  };

  it('steps never exceed halt_max_steps, and a row at halt_max_steps always halts', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: -3, max: 3, noNaN: true }), (seed, bias) => {
        for (const h of run('train', seed, 9, bias, true)) {
          h.steps.forEach((s, i) => {
            expect(s).toBeLessThanOrEqual(cfg.nSup);
            if (s === cfg.nSup) expect(h.halted[i]).toBe(1);
          });
        }
      }),
      { numRuns: 5 },
    );
  });

  it('eval always runs halt_max_steps steps, whatever q_halt says', () => {
    const h = run('eval', 3, cfg.nSup, 5, false);
    h.slice(0, -1).forEach((x) => expect(x.halted.every((v) => v === 0)).toBe(true));
    expect(h[cfg.nSup - 1]!.halted.every((v) => v === 1)).toBe(true);
    expect(h[cfg.nSup - 1]!.steps.every((v) => v === cfg.nSup)).toBe(true);
  });

  it('exploration can only delay halting', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        // q_halt = +5: without exploration every row halts after 1 step.
        const plain = run('train', seed, 1, 5, false)[0]!;
        expect(plain.halted.every((v) => v === 1)).toBe(true);
        const explored = run('train', seed, 1, 5, true)[0]!;
        explored.halted.forEach((v, i) => expect(v).toBeLessThanOrEqual(plain.halted[i]!));
      }),
      { numRuns: 10 },
    );
  });

  it('a halted row restarts from H_init/L_init with the new batch row', () => {
    const c = tiny();
    const s = initState(c, key(1));
    const b1 = randomBatch(c, 1);
    const b2 = randomBatch(c, 2);
    const carry = { ...initialCarry(c, b1), halted: tensor([1, 0], [2], { dtype: 'int32' }) };
    const started = startStep(c, s.buffers, carry, b2);
    const D = c.D;
    const L = c.totalLen;
    for (let p = 0; p < L; p++) {
      for (let d = 0; d < D; d++) {
        expect(started.y.data[p * D + d]).toBe(s.buffers.yInit.data[d]);
        expect(started.z.data[p * D + d]).toBe(s.buffers.zInit.data[d]);
        expect(started.y.data[L * D + p * D + d]).toBe(0); // row 1 kept its (zero) state
      }
    }
    const S = c.seqLen;
    expect(Array.from(started.data.inputs.data).slice(0, S)).toEqual(Array.from(b2.inputs.data).slice(0, S));
    expect(Array.from(started.data.inputs.data).slice(S)).toEqual(Array.from(b1.inputs.data).slice(S));
    expect(Array.from(started.steps.data)).toEqual([0, 0]);
  });
});
