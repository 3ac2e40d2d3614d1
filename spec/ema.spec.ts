/**
 * Laws of the EMA of the trainable parameters (§6.5): shadow ← (1 − rate)·param + rate·shadow.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { treeLeaves } from '../src/tensor/tree.js';
import type { DType } from '../src/core/dtype.js';
import { type Tensor, storage, tensor } from '../src/tensor/tensor.js';
import { DEFAULT_EMA_RATE, emaInit, emaUpdate } from '../src/train/ema.js';
import { bytesOf } from './arbitraries.js';

/** Values on a 2^-12 grid in [−4, 4] (never −0), float32-exact. */
const gridArb = (n: number): fc.Arbitrary<number[]> =>
  fc.array(
    fc.integer({ min: -(1 << 14), max: 1 << 14 }).map((k) => k / 4096),
    { minLength: n, maxLength: n },
  );

interface Tree {
  readonly a: Tensor;
  readonly nested: { readonly b: Tensor; readonly none: null };
  readonly list: readonly Tensor[];
}

const shapes = { a: [3], b: [2, 2], l0: [1], l1: [2, 1] } as const;
const total = 3 + 4 + 1 + 2;

const build = (vs: readonly number[], dtype: DType): Tree => {
  const take = (from: number, shape: readonly number[]): Tensor => {
    const n = shape.reduce((x, y) => x * y, 1);
    return tensor(vs.slice(from, from + n), shape, { dtype });
  };
  return {
    a: take(0, shapes.a),
    nested: { b: take(3, shapes.b), none: null },
    list: [take(7, shapes.l0), take(8, shapes.l1)],
  };
};

const flat = (t: unknown): number[] => treeLeaves(t).flatMap(([, x]) => Array.from(storage(x)));
const dtypeArb = fc.constantFrom<DType>('float32', 'float64');
const rateArb = fc.oneof(fc.constant(DEFAULT_EMA_RATE), fc.double({ min: 0, max: 1, noNaN: true }));

describe('emaInit', () => {
  it('copies the parameters into fresh tensors with the same values, and keeps null leaves', () => {
    fc.assert(
      fc.property(gridArb(total), dtypeArb, (vs, dtype) => {
        const p = build(vs, dtype);
        const s = emaInit(p);
        expect(flat(s)).toEqual(flat(p));
        expect(s.nested.none).toBeNull();
        expect(s.a).not.toBe(p.a);
        expect(storage(s.a)).not.toBe(storage(p.a));
        expect(s.a.dtype).toBe(dtype);
      }),
      { numRuns: 30 },
    );
  });
});

describe('emaUpdate', () => {
  it('rate 0 copies the weights and rate 1 keeps the shadow, exactly', () => {
    fc.assert(
      fc.property(gridArb(total), gridArb(total), dtypeArb, (sv, pv, dtype) => {
        const s = build(sv, dtype);
        const p = build(pv, dtype);
        const copy = flat(emaUpdate(s, p, 0));
        const keep = flat(emaUpdate(s, p, 1));
        flat(p).forEach((x, i) => expect(copy[i] === x).toBe(true));
        flat(s).forEach((x, i) => expect(keep[i] === x).toBe(true));
      }),
      { numRuns: 100 },
    );
  });

  it('each element stays between the old shadow and the weight (up to one fp32 rounding)', () => {
    fc.assert(
      fc.property(gridArb(total), gridArb(total), dtypeArb, rateArb, (sv, pv, dtype, rate) => {
        const s = flat(build(sv, dtype));
        const p = flat(build(pv, dtype));
        const out = flat(emaUpdate(build(sv, dtype), build(pv, dtype), rate));
        const ulp = dtype === 'float32' ? 2 ** -22 : 2 ** -50;
        out.forEach((o, i) => {
          const lo = Math.min(s[i]!, p[i]!);
          const hi = Math.max(s[i]!, p[i]!);
          const slack = ulp * Math.max(Math.abs(lo), Math.abs(hi));
          expect(o).toBeGreaterThanOrEqual(lo - slack);
          expect(o).toBeLessThanOrEqual(hi + slack);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('equals (1 − rate)·param + rate·shadow and is linear in (shadow, param)', () => {
    fc.assert(
      fc.property(
        gridArb(total),
        gridArb(total),
        gridArb(total),
        gridArb(total),
        rateArb,
        fc.integer({ min: -8, max: 8 }),
        dtypeArb,
        (s1, p1, s2, p2, rate, c, dtype) => {
          const tol = dtype === 'float32' ? 2e-6 : 1e-13;
          const ema = (s: readonly number[], p: readonly number[]): number[] =>
            flat(emaUpdate(build(s, dtype), build(p, dtype), rate));
          const e1 = ema(s1, p1);
          const e2 = ema(s2, p2);
          e1.forEach((v, i) =>
            expect(Math.abs(v - ((1 - rate) * p1[i]! + rate * s1[i]!))).toBeLessThanOrEqual(tol * 4),
          );
          // Additivity and homogeneity (inputs stay on the grid, so the sums are exact).
          const sum = ema(
            s1.map((x, i) => x + s2[i]!),
            p1.map((x, i) => x + p2[i]!),
          );
          sum.forEach((v, i) => expect(Math.abs(v - (e1[i]! + e2[i]!))).toBeLessThanOrEqual(tol * 16));
          const scaled = ema(
            s1.map((x) => c * x),
            p1.map((x) => c * x),
          );
          scaled.forEach((v, i) => expect(Math.abs(v - c * e1[i]!)).toBeLessThanOrEqual(tol * 32));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('follows the official fp32 ops: fround(fround(a·p) + fround(b·s)) with a = fround(1 − rate), b = fround(rate)', () => {
    const out = emaUpdate(tensor([1, -2.5]), tensor([3, 0.125]), 0.999);
    const a = Math.fround(1 - 0.999);
    const b = Math.fround(0.999);
    const f = Math.fround;
    expect(Array.from(storage(out))).toEqual([f(f(a * 3) + f(b * 1)), f(f(a * 0.125) + f(b * -2.5))]);
  });

  it('never mutates its inputs, keeps null leaves, and rejects mismatched trees', () => {
    fc.assert(
      fc.property(gridArb(total), gridArb(total), rateArb, (sv, pv, rate) => {
        const s = build(sv, 'float32');
        const p = build(pv, 'float32');
        const before = [...treeLeaves(s), ...treeLeaves(p)].map(([, t]) => bytesOf(t));
        const out = emaUpdate(s, p, rate);
        const after = [...treeLeaves(s), ...treeLeaves(p)].map(([, t]) => bytesOf(t));
        expect(after).toEqual(before);
        expect(out.nested.none).toBeNull();
        expect(out.a).not.toBe(s.a);
      }),
      { numRuns: 30 },
    );
    expect(() => emaUpdate({ w: tensor([1, 2]) }, { w: tensor([1, 2, 3]) })).toThrow(/shape/);
    expect(() => emaUpdate({ w: tensor([1, 2]) }, { v: tensor([1, 2]) } as never)).toThrow(/missing/);
    expect(() => emaUpdate({ w: tensor([1]) }, { w: tensor([1]) }, 1.5)).toThrow(/rate/);
  });
});
