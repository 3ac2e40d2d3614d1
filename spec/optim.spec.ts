/**
 * Laws of the optimizers (§6.4, §7): AdamATan2 and AdamW equal float64 transcriptions of their
 * formulas, AdamATan2's first step is lr/(1−β1)·atan(1−β1)·sign(g) (10·atan(0.1) ≈ 0.99669 for
 * β1 = 0.9, whatever β2), SignSGD sums repeated ids before the sign and decays only the rows
 * present, the state round-trips through named tensors bit for bit, and nothing is mutated.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { treeLeaves } from '../src/tensor/tree.js';
import type { DType } from '../src/core/dtype.js';
import { type Tensor, storage, tensor } from '../src/tensor/tensor.js';
import {
  type AdamState,
  type Optimizer,
  adamAtan2,
  adamW,
  optimizerStateScalars,
  optimizerStateTensors,
  restoreOptimizerState,
  signSgdSparse,
} from '../src/train/optim.js';
import { bytesOf } from './arbitraries.js';

// ---------------------------------------------------------------------------------------------
// Trees and draws

interface Params {
  readonly w: Tensor;
  readonly layer: { readonly bias: Tensor; readonly absent: null };
  readonly blocks: readonly Tensor[];
}

const SHAPES = [[2, 3], [3], [1], [2, 2]] as const;
const N = 6 + 3 + 1 + 4;

const build = (vs: readonly number[], dtype: DType = 'float32'): Params => {
  let off = 0;
  const take = (shape: readonly number[]): Tensor => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = tensor(vs.slice(off, off + n), shape, { dtype });
    off += n;
    return t;
  };
  return {
    w: take(SHAPES[0]),
    layer: { bias: take(SHAPES[1]), absent: null },
    blocks: [take(SHAPES[2]), take(SHAPES[3])],
  };
};

const flat = (t: unknown): number[] => treeLeaves(t).flatMap(([, x]) => Array.from(storage(x)));
const bytes = (t: unknown): Uint8Array[] => treeLeaves(t).map(([, x]) => bytesOf(x));

/** Values on a 2^-16 grid in [−2, 2] (float32-exact, no subnormals, some exact zeros). */
const gridValue = fc.integer({ min: -(1 << 17), max: 1 << 17 }).map((k) => k / 65536);
const vecArb = (n: number, v = gridValue): fc.Arbitrary<number[]> => fc.array(v, { minLength: n, maxLength: n });
const nonNegVecArb = (n: number): fc.Arbitrary<number[]> =>
  vecArb(
    n,
    gridValue.map((x) => x * x),
  );

interface Hyper {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly weightDecay: number;
}

const hyperArb: fc.Arbitrary<Hyper> = fc.record({
  lr: fc.double({ min: 1e-5, max: 1e-1, noNaN: true }),
  beta1: fc.oneof(fc.constant(0.9), fc.double({ min: 0.5, max: 0.99, noNaN: true })),
  beta2: fc.oneof(fc.constant(0.95), fc.double({ min: 0.5, max: 0.999, noNaN: true })),
  weightDecay: fc.oneof(fc.constant(0), fc.constant(0.1), fc.double({ min: 0, max: 2, noNaN: true })),
});

// ---------------------------------------------------------------------------------------------
// Float64 transcriptions of the formulas (§7 and torch.optim.AdamW), one element at a time

interface Elem {
  th: number;
  m: number;
  v: number;
}

const atan2Ref = (h: Hyper, t: number, e: Elem, g: number): Elem => {
  const th0 = e.th * (1 - h.lr * h.weightDecay);
  const m = e.m + (1 - h.beta1) * (g - e.m);
  const v = e.v + (1 - h.beta2) * (g * g - e.v);
  const th = th0 - (h.lr / (1 - h.beta1 ** t)) * Math.atan2(m, Math.sqrt(v) / Math.sqrt(1 - h.beta2 ** t));
  return { th, m, v };
};

const adamWRef =
  (eps: number) =>
  (h: Hyper, t: number, e: Elem, g: number): Elem => {
    const th0 = e.th * (1 - h.lr * h.weightDecay);
    const m = h.beta1 * e.m + (1 - h.beta1) * g;
    const v = h.beta2 * e.v + (1 - h.beta2) * g * g;
    const mHat = m / (1 - h.beta1 ** t);
    const vHat = v / (1 - h.beta2 ** t);
    return { th: th0 - h.lr * (mHat / (Math.sqrt(vHat) + eps)), m, v };
  };

type Ref = typeof atan2Ref;

/** The state at step `step` with given moments (as after `step` updates). */
const stateOf = (
  step: number,
  m: readonly number[],
  v: readonly number[],
  dtype: DType = 'float32',
): AdamState<Params> => ({
  step,
  expAvg: build(m, dtype),
  expAvgSq: build(v, dtype),
});

/**
 * One-step law: from float32-exact inputs, the optimizer's result matches the float64 formula
 * within a few fp32 ulps (relative to |θ| and to the step size, since the error enters through
 * the decayed θ and through the step).
 */
const oneStepLaw = (make: (h: Hyper) => Optimizer, ref: Ref, dtype: DType) =>
  fc.property(
    hyperArb,
    fc.integer({ min: 0, max: 40 }),
    vecArb(N),
    vecArb(N),
    vecArb(N),
    nonNegVecArb(N),
    (h, step, th, g, m, v) => {
      const opt = make(h);
      const out = opt.update(build(th, dtype), build(g, dtype), stateOf(step, m, v, dtype), h.lr);
      expect(out.state.step).toBe(step + 1);
      const [pth, pm, pv] = [flat(out.params), flat(out.state.expAvg), flat(out.state.expAvgSq)];
      const rel = dtype === 'float32' ? 2e-6 : 1e-13;
      const stepSize = h.lr / (1 - h.beta1 ** (step + 1));
      for (let i = 0; i < N; i++) {
        const e = ref(h, step + 1, { th: th[i]!, m: m[i]!, v: v[i]! }, g[i]!);
        // The error enters through the decayed θ, the step size and the update itself (AdamW's
        // m/√v is unbounded for an arbitrary state; AdamATan2's is bounded by π/2).
        expect(Math.abs(pth[i]! - e.th)).toBeLessThanOrEqual(
          rel * (Math.abs(th[i]!) + stepSize * 4 + Math.abs(e.th - th[i]!)),
        );
        expect(Math.abs(pm[i]! - e.m)).toBeLessThanOrEqual(rel * (Math.abs(m[i]!) + Math.abs(g[i]!)));
        expect(Math.abs(pv[i]! - e.v)).toBeLessThanOrEqual(rel * (v[i]! + g[i]! * g[i]!));
      }
    },
  );

/** K-step law: a float32 run from zero state tracks the float64 recurrence. */
const multiStepLaw = (make: (h: Hyper) => Optimizer, ref: Ref) =>
  fc.property(hyperArb, vecArb(N), fc.array(vecArb(N), { minLength: 1, maxLength: 12 }), (h, th0, grads) => {
    const opt = make(h);
    let params = build(th0);
    let state = opt.init(params);
    let elems: Elem[] = th0.map((th) => ({ th, m: 0, v: 0 }));
    let sumSteps = 0;
    const moved = th0.map(() => 0);
    grads.forEach((g, k) => {
      ({ params, state } = opt.update(params, build(g), state, h.lr));
      elems = elems.map((e, i) => {
        const next = ref(h, k + 1, e, g[i]!);
        moved[i] = moved[i]! + Math.abs(next.th - e.th);
        return next;
      });
      sumSteps += h.lr / (1 - h.beta1 ** (k + 1));
    });
    expect(state.step).toBe(grads.length);
    const pth = flat(params);
    elems.forEach((e, i) =>
      expect(Math.abs(pth[i]! - e.th)).toBeLessThanOrEqual(2e-5 * (Math.abs(e.th) + 4 * sumSteps + moved[i]!)),
    );
  });

// ---------------------------------------------------------------------------------------------

describe('adamAtan2', () => {
  const make = (h: { beta1: number; beta2: number; weightDecay: number }): Optimizer => adamAtan2(h);

  it('equals the float64 transcription of its formula (one step, float32)', () => {
    fc.assert(oneStepLaw(make, atan2Ref, 'float32'), { numRuns: 150 });
  });

  it('equals the float64 transcription of its formula (one step, float64 parameters)', () => {
    fc.assert(oneStepLaw(make, atan2Ref, 'float64'), { numRuns: 100 });
  });

  it('tracks the float64 recurrence over several steps', () => {
    fc.assert(multiStepLaw(make, atan2Ref), { numRuns: 60 });
  });

  it('its first step is lr·(10·atan 0.1)·sign(g) ≈ 0.99669·lr·sign(g) for β1 = 0.9, any β2, zero decay', () => {
    const factor = 10 * Math.atan(0.1);
    expect(factor).toBeCloseTo(0.9966865249116204, 15);
    fc.assert(
      fc.property(
        vecArb(N),
        vecArb(N),
        fc.double({ min: 1e-5, max: 1e-2, noNaN: true }),
        fc.double({ min: 0.5, max: 0.999, noNaN: true }),
        (th, g, lr, beta2) => {
          const opt = adamAtan2({ beta1: 0.9, beta2, weightDecay: 0 });
          const p = build(th);
          const out = flat(opt.update(p, build(g), opt.init(p), lr).params);
          out.forEach((o, i) => {
            const expected = th[i]! - lr * factor * Math.sign(g[i]!);
            expect(Math.abs(o - expected)).toBeLessThanOrEqual(1e-6 * (Math.abs(th[i]!) + lr));
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('with decay, the first step is θ·(1 − lr·λ) − lr/(1−β1)·atan(1−β1)·sign(g)', () => {
    const opt = adamAtan2({ beta1: 0.8, beta2: 0.99, weightDecay: 0.5 });
    const p = { w: tensor([1, -1, 0.5, 0.25]) };
    const out = opt.update(p, { w: tensor([3, -0.001, 0, 7]) }, opt.init(p), 0.01);
    const step = (0.01 / 0.2) * Math.atan(0.2);
    const decay = 1 - 0.01 * 0.5;
    const expected = [1 * decay - step, -1 * decay + step, 0.5 * decay, 0.25 * decay - step];
    Array.from(storage(out.params.w)).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });

  it('uses the defaults of TRM (β = (0.9, 0.95), λ = 0.1)', () => {
    const p = { w: tensor([2]) };
    const opt = adamAtan2();
    const out = opt.update(p, { w: tensor([-1]) }, opt.init(p), 1e-3);
    expect(storage(out.params.w)[0]).toBeCloseTo(2 * (1 - 1e-4) + 1e-3 * 10 * Math.atan(0.1), 6);
  });
});

describe('adamW', () => {
  const make =
    (eps: number) =>
    (h: { beta1: number; beta2: number; weightDecay: number }): Optimizer =>
      adamW({ ...h, eps });

  it('equals the float64 transcription of decoupled AdamW (one step, float32 and float64)', () => {
    fc.assert(oneStepLaw(make(1e-8), adamWRef(1e-8), 'float32'), { numRuns: 100 });
    fc.assert(oneStepLaw(make(1e-3), adamWRef(1e-3), 'float64'), { numRuns: 100 });
  });

  it('tracks the float64 recurrence over several steps', () => {
    fc.assert(multiStepLaw(make(1e-3), adamWRef(1e-3)), { numRuns: 60 });
  });

  it('its first step is about lr·sign(g) (Adam normalises by |g|)', () => {
    const opt = adamW({ weightDecay: 0 });
    const p = { w: tensor([0, 0, 0]) };
    const out = opt.update(p, { w: tensor([0.5, -3, 0]) }, opt.init(p), 0.01);
    const got = Array.from(storage(out.params.w));
    expect(got[0]).toBeCloseTo(-0.01, 6);
    expect(got[1]).toBeCloseTo(0.01, 6);
    expect(got[2]).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('optimizer plumbing (both Adam variants)', () => {
  const opts: [string, Optimizer][] = [
    ['adamAtan2', adamAtan2({ weightDecay: 0.3 })],
    ['adamW', adamW({ beta2: 0.95, weightDecay: 0.3 })],
  ];

  it.each(opts)(
    '%s: init gives step 0 and zero moments shaped like the params; null leaves pass through',
    (_n, opt) => {
      const p = build(Array.from({ length: N }, (_, i) => i / 8));
      const s = opt.init(p);
      expect(s.step).toBe(0);
      expect(flat(s.expAvg)).toEqual(new Array(N).fill(0));
      expect(flat(s.expAvgSq)).toEqual(new Array(N).fill(0));
      expect(s.expAvg.layer.absent).toBeNull();
      const out = opt.update(p, build(new Array(N).fill(0.5)), s, 1e-3);
      expect(out.params.layer.absent).toBeNull();
      expect(out.state.expAvgSq.layer.absent).toBeNull();
      expect(out.params.blocks).toHaveLength(2);
    },
  );

  it.each(opts)('%s: never mutates params, grads or state', (_n, opt) => {
    fc.assert(
      fc.property(
        vecArb(N),
        vecArb(N),
        vecArb(N),
        nonNegVecArb(N),
        fc.integer({ min: 0, max: 5 }),
        (th, g, m, v, step) => {
          const p = build(th);
          const gr = build(g);
          const s = stateOf(step, m, v);
          const before = [bytes(p), bytes(gr), bytes(s.expAvg), bytes(s.expAvgSq)];
          const out = opt.update(p, gr, s, 1e-2);
          expect([bytes(p), bytes(gr), bytes(s.expAvg), bytes(s.expAvgSq)]).toEqual(before);
          expect(s.step).toBe(step);
          expect(out.params.w).not.toBe(p.w);
        },
      ),
      { numRuns: 30 },
    );
  });

  it.each(opts)('%s: a parameter whose gradient is null is left alone (no decay, moments kept)', (_n, opt) => {
    const p = build(Array.from({ length: N }, (_, i) => 1 + i));
    const g = { ...build(new Array(N).fill(1)), w: null } as unknown as Params;
    const out = opt.update(p, g, opt.init(p), 0.1);
    expect(out.params.w).toBe(p.w);
    expect(flat(out.state.expAvg.w)).toEqual(new Array(6).fill(0));
    expect(flat(out.params.layer.bias)).not.toEqual(flat(p.layer.bias));
  });

  it.each(opts)('%s: rejects mismatched shapes, structures and non-finite lr', (_n, opt) => {
    const p = { w: tensor([1, 2]) };
    expect(() => opt.update(p, { w: tensor([1, 2, 3]) }, opt.init(p), 0.1)).toThrow(/gradient at 'w'/);
    expect(() => opt.update(p, { w: [tensor([1, 2])] } as never, opt.init(p), 0.1)).toThrow(/non-tensor/);
    expect(() => opt.update(p, p, opt.init(p), Number.NaN)).toThrow(/learning rate/);
    expect(() => opt.init({ ids: tensor(Int32Array.from([1]), [1]) })).toThrow(/int32/);
  });

  it.each(opts)(
    '%s: the state round-trips through named tensors + {step} bit for bit, and resuming continues identically',
    (_n, opt) => {
      fc.assert(
        fc.property(
          vecArb(N),
          fc.array(vecArb(N), { minLength: 2, maxLength: 6 }),
          fc.integer({ min: 1, max: 5 }),
          (th, grads, cut) => {
            const k = Math.min(cut, grads.length - 1);
            let p = build(th);
            let s = opt.init(p);
            for (const g of grads.slice(0, k)) ({ params: p, state: s } = opt.update(p, build(g), s, 3e-3));
            // "Save": copy the bytes out, as a checkpoint writer would.
            const named = optimizerStateTensors(s, 'optim.');
            const saved = new Map([...named].map(([name, t]) => [name, tensor(storage(t).slice(), t.shape)]));
            const scalars = JSON.parse(JSON.stringify(optimizerStateScalars(s))) as { step: number };
            expect([...named.keys()].sort()).toEqual(
              ['w', 'layer.bias', 'blocks.0', 'blocks.1']
                .flatMap((x) => [`optim.exp_avg.${x}`, `optim.exp_avg_sq.${x}`])
                .sort(),
            );
            const restored = restoreOptimizerState(build(th), saved, scalars, 'optim.');
            if (E.isLeft(restored)) throw new Error(restored.left);
            const r = restored.right;
            expect(r.step).toBe(s.step);
            expect(bytes(r.expAvg)).toEqual(bytes(s.expAvg));
            expect(bytes(r.expAvgSq)).toEqual(bytes(s.expAvgSq));
            expect(r.expAvg.layer.absent).toBeNull();
            // Continue both runs: identical bytes.
            let [p1, s1, p2, s2] = [p, s, p, r];
            for (const g of grads.slice(k)) {
              ({ params: p1, state: s1 } = opt.update(p1, build(g), s1, 3e-3));
              ({ params: p2, state: s2 } = opt.update(p2, build(g), s2, 3e-3));
            }
            expect(bytes(p2)).toEqual(bytes(p1));
            expect(bytes(s2.expAvg)).toEqual(bytes(s1.expAvg));
            expect(bytes(s2.expAvgSq)).toEqual(bytes(s1.expAvgSq));
          },
        ),
        { numRuns: 25 },
      );
    },
  );

  it('restoreOptimizerState reports missing, misshapen, mistyped and unknown tensors', () => {
    const p = { w: tensor([1, 2]), b: tensor([3]) };
    const opt = adamAtan2();
    const named = optimizerStateTensors(opt.init(p));
    const left = (m: Map<string, Tensor>, step = 3): string => {
      const r = restoreOptimizerState(p, m, { step });
      return E.isLeft(r) ? r.left : 'ok';
    };
    expect(left(new Map(named))).toBe('ok');
    const missing = new Map(named);
    missing.delete('exp_avg_sq.b');
    expect(left(missing)).toMatch(/missing tensor 'exp_avg_sq.b'/);
    expect(left(new Map(named).set('exp_avg.w', tensor([1, 2, 3])))).toMatch(/shape/);
    expect(left(new Map(named).set('exp_avg.w', tensor([1, 2], { dtype: 'float64' })))).toMatch(/float64/);
    expect(left(new Map(named).set('exp_avg.extra', tensor([1])))).toMatch(/matches no parameter/);
    expect(left(new Map(named).set('model.w', tensor([1])))).toBe('ok');
    expect(left(new Map(named), -1)).toMatch(/step/);
    expect(left(new Map(named), 1.5)).toMatch(/step/);
  });
});

// ---------------------------------------------------------------------------------------------

describe('signSgdSparse', () => {
  const ids = (xs: number[]): Tensor => tensor(Int32Array.from(xs), [xs.length]);

  it('sums the gradients of repeated ids before the sign: ids [0,0], grads +1 and −3 → sign(−2) = −1', () => {
    const table = tensor([
      [0.5, 0.5],
      [1, 1],
      [2, 2],
    ]);
    const out = signSgdSparse(
      table,
      ids([0, 0]),
      tensor([
        [1, 2],
        [-3, -1],
      ]),
      0.1,
      0,
    );
    const f = Math.fround;
    expect(Array.from(storage(out))).toEqual([f(f(0.5) + f(0.1)), f(f(0.5) - f(0.1)), 1, 1, 2, 2]);
  });

  it('sign(0) = 0: opposite gradients of one id cancel and leave only the decay; absent rows are not decayed', () => {
    const table = tensor([
      [1, -2],
      [4, 8],
    ]);
    const out = signSgdSparse(
      table,
      ids([1, 1]),
      tensor([
        [2, 0],
        [-2, 0],
      ]),
      0.5,
      0.5,
    );
    expect(Array.from(storage(out))).toEqual([1, -2, 4 * 0.75, 8 * 0.75]);
  });

  it('matches w·(1 − lr·wd) − lr·sign(Σ g) on the rows present and copies the others, without mutating', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 8 }),
        fc.double({ min: 1e-5, max: 0.1, noNaN: true }),
        fc.double({ min: 0, max: 2, noNaN: true }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (numIds, D, B, lr, wd, seed) => {
          let s = seed;
          const next = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0);
          const tv = Array.from({ length: numIds * D }, () => ((next() % 513) - 256) / 64);
          const iv = Array.from({ length: B }, () => next() % numIds);
          const gv = Array.from({ length: B * D }, () => ((next() % 9) - 4) / 8);
          const table = tensor(tv, [numIds, D]);
          const idT = ids(iv);
          const grads = tensor(gv, [B, D]);
          const before = [bytesOf(table), bytesOf(idT), bytesOf(grads)];
          const out = Array.from(storage(signSgdSparse(table, idT, grads, lr, wd)));
          expect([bytesOf(table), bytesOf(idT), bytesOf(grads)]).toEqual(before);
          for (let r = 0; r < numIds; r++) {
            for (let d = 0; d < D; d++) {
              const k = r * D + d;
              const rows = iv.flatMap((id, b) => (id === r ? [b] : []));
              if (rows.length === 0) {
                expect(out[k]).toBe(tv[k]);
                continue;
              }
              const gsum = rows.reduce((acc, b) => acc + gv[b * D + d]!, 0);
              const expected = tv[k]! * (1 - lr * wd) - lr * Math.sign(gsum);
              expect(Math.abs(out[k]! - expected)).toBeLessThanOrEqual(1e-6 * (Math.abs(tv[k]!) + lr));
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects bad ids, shapes and dtypes', () => {
    const table = tensor([
      [1, 2],
      [3, 4],
    ]);
    expect(() => signSgdSparse(table, ids([2]), tensor([[1, 1]]), 0.1, 0)).toThrow(/outside/);
    expect(() => signSgdSparse(table, ids([0]), tensor([[1, 1, 1]]), 0.1, 0)).toThrow(/do not match/);
    expect(() => signSgdSparse(table, tensor([0]), tensor([[1, 1]]), 0.1, 0)).toThrow(/int32/);
    expect(() => signSgdSparse(tensor([1, 2]), ids([0]), tensor([[1, 1]]), 0.1, 0)).toThrow(/table/);
  });
});
