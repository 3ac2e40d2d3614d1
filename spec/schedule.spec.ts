/**
 * Laws of the learning-rate schedule (§6.3): linear warmup from 0, then a half cosine down to
 * base·minRatio, constant after warmup when minRatio = 1.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cosineScheduleWithWarmup, pyRound } from '../src/train/schedule.js';

const configArb = fc.record({
  baseLr: fc.double({ min: 1e-6, max: 1, noNaN: true }),
  warmupSteps: fc.integer({ min: 0, max: 300 }),
  extra: fc.integer({ min: 1, max: 3000 }),
  minRatio: fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
});

describe('cosineScheduleWithWarmup', () => {
  it('matches the official Python function bit for bit (values from CPython)', () => {
    const a = cosineScheduleWithWarmup({ baseLr: 1e-4, warmupSteps: 2000, totalSteps: 10000, minRatio: 0.1 });
    const table: [number, number][] = [
      [1, 5.0000000000000004e-8],
      [7, 3.5e-7],
      [1999, 9.995000000000002e-5],
      [2000, 0.0001],
      [2001, 9.999999653021725e-5],
      [3333, 9.397408807952407e-5],
      [7777, 2.6085087786383416e-5],
      [9999, 1.0000003469782752e-5],
      [10000, 1e-5],
    ];
    for (const [s, v] of table) expect(a(s)).toBe(v);
    const b = cosineScheduleWithWarmup({ baseLr: 3e-3, warmupSteps: 5, totalSteps: 40, minRatio: 0 });
    const tableB: [number, number][] = [
      [1, 0.0006000000000000001],
      [3, 0.0018000000000000002],
      [5, 0.003],
      [17, 0.002210802993709498],
      [40, 0],
    ];
    for (const [s, v] of tableB) expect(b(s)).toBe(v);
  });

  it('warmup is linear from 0: lr(s) = base·s/W for s < W, and the first step uses base/W', () => {
    fc.assert(
      fc.property(configArb, ({ baseLr, warmupSteps: W, extra, minRatio }) => {
        const lr = cosineScheduleWithWarmup({ baseLr, warmupSteps: W, totalSteps: W + extra, minRatio });
        expect(lr(0)).toBe(W > 0 ? 0 : baseLr);
        for (let s = 0; s < W; s++) {
          const v = lr(s);
          const ok = Math.abs(v - (baseLr * s) / W) <= 1e-15 * baseLr && v < baseLr && (s === 0 || v > lr(s - 1));
          if (!ok) throw new Error(`warmup lr(${s}) = ${v}, expected ${(baseLr * s) / W}`);
        }
        if (W > 0) expect(lr(1)).toBe(baseLr / W);
      }),
      { numRuns: 100 },
    );
  });

  it('is constant (= base) after warmup when minRatio = 1 (the official default)', () => {
    fc.assert(
      fc.property(configArb, ({ baseLr, warmupSteps: W, extra }) => {
        const lr = cosineScheduleWithWarmup({ baseLr, warmupSteps: W, totalSteps: W + extra });
        for (let s = W; s <= W + extra; s += Math.max(1, Math.floor(extra / 50))) expect(lr(s)).toBe(baseLr);
        expect(lr(W + extra)).toBe(baseLr);
      }),
      { numRuns: 100 },
    );
  });

  it('starts the cosine at base, reaches base·minRatio at totalSteps, and never increases in between', () => {
    fc.assert(
      fc.property(configArb, ({ baseLr, warmupSteps: W, extra, minRatio }) => {
        const total = W + extra;
        const lr = cosineScheduleWithWarmup({ baseLr, warmupSteps: W, totalSteps: total, minRatio });
        expect(lr(W)).toBeCloseTo(baseLr, 12);
        expect(lr(total)).toBe(baseLr * minRatio);
        let prev = lr(W);
        for (let s = W + 1; s <= total; s++) {
          const cur = lr(s);
          if (!(cur <= prev && cur >= baseLr * minRatio)) {
            throw new Error(`lr(${s}) = ${cur} after lr(${s - 1}) = ${prev} (floor ${baseLr * minRatio})`);
          }
          prev = cur;
        }
      }),
      { numRuns: 60 },
    );
  });

  it('rounds warmupSteps as Python round() does, and numCycles scales the cosine', () => {
    expect([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 7].map(pyRound)).toEqual([0, 2, 2, 4, 2, 3, 7]);
    const lr = cosineScheduleWithWarmup({ baseLr: 1, warmupSteps: 2.5, totalSteps: 12 });
    expect(lr(1)).toBe(0.5);
    expect(lr(2)).toBe(1);
    // A full cycle (numCycles = 1) comes back to base at the end.
    const full = cosineScheduleWithWarmup({ baseLr: 2, warmupSteps: 0, totalSteps: 10, minRatio: 0, numCycles: 1 });
    expect(full(5)).toBe(0);
    expect(full(10)).toBeCloseTo(2, 12);
  });
});
