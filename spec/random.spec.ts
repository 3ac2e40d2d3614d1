/**
 * Laws of src/random, checked with fast-check over arbitrary keys.
 *
 * Keys: determinism, independence of split children and fold-ins, the string and seed encodings.
 * Samplers: ranges, determinism, and distribution checks with deliberately generous bounds (about
 * six standard errors, or a chi-square bound far in the tail) so that they fail for a wrong
 * sampler, not by chance. Sample sizes keep the whole file well under five seconds.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { erf, erfinv } from '../src/core/scalar.js';
import {
  type Key,
  bernoulliArray,
  choiceWithoutReplacement,
  foldIn,
  key,
  keyData,
  keyFromData,
  keyFromString,
  keyToString,
  keysEqual,
  normal,
  normalArray,
  permutation,
  randint,
  randintArray,
  randomBits,
  shuffled,
  split,
  truncNormalCompStd,
  truncatedNormal,
  uniform,
  uniformArray,
} from '../src/random/index.js';
import { storage } from '../src/tensor/tensor.js';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const keyArb: fc.Arbitrary<Key> = fc.tuple(u32, u32).map(([hi, lo]) => keyFromData([hi, lo]));

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>): boolean =>
  a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

const sum = (xs: ArrayLike<number>, f: (v: number) => number = (v) => v): number => {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += f(xs[i]!);
  return s;
};
const mean = (xs: ArrayLike<number>): number => sum(xs) / xs.length;
const std = (xs: ArrayLike<number>): number => {
  const m = mean(xs);
  return Math.sqrt(sum(xs, (v) => (v - m) ** 2) / xs.length);
};

/** Pearson's chi-square of observed counts against equal expected counts. */
const chiSquare = (counts: ArrayLike<number>, total: number): number => {
  const e = total / counts.length;
  return sum(counts, (c) => (c - e) ** 2 / e);
};
/** A bound the statistic with `df` degrees of freedom exceeds with negligible probability
 *  (mean df, sd √(2df); the bound sits ≥ 7 sd out, plus slack for small df). */
const chiBound = (df: number): number => df + 7 * Math.sqrt(2 * df) + 10;

describe('keys', () => {
  it('determinism: the same key gives the same bits', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 0, max: 64 }), (k, n) => {
        const again = keyFromData(keyData(k));
        return sameArray(randomBits(k, n), randomBits(again, n));
      }),
    );
  });

  it('split children differ from each other and from the parent, and their streams differ', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 2, max: 16 }), (k, n) => {
        const kids = split(k, n);
        const names = new Set([keyToString(k), ...kids.map(keyToString)]);
        expect(names.size).toBe(n + 1);
        const parentBits = randomBits(k, 8);
        for (const c of kids) expect(sameArray(randomBits(c, 8), parentBits)).toBe(false);
        // No child's first words appear in the parent's stream either.
        const parentWords = new Set(randomBits(k, 64));
        const hits = kids.filter((c) => parentWords.has(randomBits(c, 1)[0]!)).length;
        expect(hits).toBe(0);
      }),
      { numRuns: 50 },
    );
  });

  it('split(k, n) is the pairs of randomBits(k, 2n)', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 0, max: 8 }), (k, n) => {
        const bits = randomBits(k, 2 * n);
        expect(split(k, n).flatMap(keyData)).toEqual(Array.from(bits));
      }),
    );
  });

  it('foldIn: the same data give the same key, different data different keys, never the parent', () => {
    fc.assert(
      fc.property(keyArb, fc.maxSafeInteger(), fc.maxSafeInteger(), (k, a, b) => {
        expect(keysEqual(foldIn(k, a), foldIn(k, a))).toBe(true);
        expect(keysEqual(foldIn(k, a), k)).toBe(false);
        if (a !== b) expect(keysEqual(foldIn(k, a), foldIn(k, b))).toBe(false);
      }),
    );
  });

  it('foldIn over consecutive data gives distinct keys (the data-loader pattern)', () => {
    fc.assert(
      fc.property(
        keyArb,
        (k) => new Set(Array.from({ length: 256 }, (_, i) => keyToString(foldIn(k, i)))).size === 256,
      ),
      { numRuns: 20 },
    );
  });

  it('keyFromString inverts keyToString', () => {
    fc.assert(fc.property(keyArb, (k) => keysEqual(keyFromString(keyToString(k)), k)));
  });

  it('key(seed) holds the 64-bit two’s complement of the seed', () => {
    fc.assert(
      fc.property(fc.maxSafeInteger(), (seed) => {
        const [hi, lo] = keyData(key(seed));
        return ((BigInt(hi) << 32n) | BigInt(lo)) === BigInt.asUintN(64, BigInt(seed));
      }),
    );
  });
});

describe('special functions', () => {
  it('erf(erfinv(y)) = y and erfinv(erf(x)) = x', () => {
    fc.assert(
      fc.property(fc.double({ min: -0.999999, max: 0.999999, noNaN: true }), (y) => {
        expect(Math.abs(erf(erfinv(y)) - y)).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(y)) + 1e-300);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.double({ min: -4, max: 4, noNaN: true }), (x) => {
        const y = erf(x);
        if (Math.abs(y) === 1) return;
        // Conditioning: dx = dy / erf'(x); the error allowed follows it.
        const dx = (2e-16 * Math.max(Math.abs(y), 1e-300)) / ((2 / Math.sqrt(Math.PI)) * Math.exp(-x * x));
        expect(Math.abs(erfinv(y) - x)).toBeLessThanOrEqual(4 * dx + 1e-15 * Math.abs(x));
      }),
      { numRuns: 500 },
    );
  });

  it('erf is odd and monotone', () => {
    fc.assert(
      fc.property(fc.double({ min: -6, max: 6, noNaN: true }), fc.double({ min: -6, max: 6, noNaN: true }), (a, b) => {
        expect(erf(-a)).toBe(-erf(a));
        if (a < b) expect(erf(a)).toBeLessThanOrEqual(erf(b));
      }),
    );
  });
});

describe('samplers', () => {
  const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 });
  const dtypeArb = fc.constantFrom('float32' as const, 'float64' as const);

  it('determinism: every sampler is a function of its key and arguments', () => {
    fc.assert(
      fc.property(keyArb, shapeArb, dtypeArb, (k, shape, dtype) => {
        const twice = <T extends ArrayLike<number>>(f: (k: Key) => T): boolean =>
          sameArray(f(k), f(keyFromData(keyData(k))));
        return (
          twice((kk) => storage(uniform(kk, shape, { dtype }))) &&
          twice((kk) => storage(normal(kk, shape, { dtype }))) &&
          twice((kk) => storage(truncatedNormal(kk, shape, 0.3, { dtype }))) &&
          twice((kk) => storage(randint(kk, shape, -3, 9))) &&
          twice((kk) => bernoulliArray(kk, 17, 0.3)) &&
          twice((kk) => permutation(kk, 11)) &&
          twice((kk) => choiceWithoutReplacement(kk, 40, 7))
        );
      }),
      { numRuns: 50 },
    );
  });

  it('different keys give different draws', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const [a, b] = split(k) as [Key, Key];
        return !sameArray(uniformArray(a, 8), uniformArray(b, 8)) && !sameArray(normalArray(a, 8), normalArray(b, 8));
      }),
    );
  });

  it('uniform lies in [0, 1), and in [min, max) when asked', () => {
    fc.assert(
      fc.property(
        keyArb,
        dtypeArb,
        fc.double({ min: -1e3, max: 1e3, noNaN: true }),
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        (k, dtype, min, width) => {
          const u = storage(uniform(k, [200], { dtype }));
          expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
          const max = min + width;
          const w = storage(uniform(k, [200], { dtype, min, max }));
          const lo = dtype === 'float32' ? Math.fround(min) : min;
          const hi = dtype === 'float32' ? Math.fround(max) : max;
          expect(w.every((v) => v >= lo && v < hi)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('uniformArray: multiples of 2^-53 in [0, 1), mean ½ and variance 1/12', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const n = 20000;
        const u = uniformArray(k, n);
        expect(u.every((v) => v >= 0 && v < 1 && Number.isInteger(v * 2 ** 53))).toBe(true);
        expect(Math.abs(mean(u) - 0.5)).toBeLessThan(7 * Math.sqrt(1 / 12 / n));
        expect(Math.abs(std(u) ** 2 - 1 / 12)).toBeLessThan(0.01);
        // Low bits are used: some value has a non-zero bit below 2^-32 (fails if the low word were dropped).
        expect(u.some((v) => !Number.isInteger(v * 2 ** 32))).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('normal: mean ≈ 0, std ≈ 1, symmetric tails, both dtypes', () => {
    fc.assert(
      fc.property(keyArb, dtypeArb, (k, dtype) => {
        const n = 20000;
        const x = storage(normal(k, [n], { dtype }));
        expect(Math.abs(mean(x))).toBeLessThan(7 / Math.sqrt(n));
        expect(Math.abs(std(x) - 1)).toBeLessThan(0.05);
        // P(|x| > 1.96) = 0.05
        const tail = x.filter((v) => Math.abs(v) > 1.959963984540054).length / n;
        expect(Math.abs(tail - 0.05)).toBeLessThan(7 * Math.sqrt((0.05 * 0.95) / n));
      }),
      { numRuns: 10 },
    );
  });

  it('truncatedNormal: within ±2·compStd, std ≈ std, mean ≈ 0 (the official initialiser)', () => {
    fc.assert(
      fc.property(keyArb, dtypeArb, fc.double({ min: 1e-3, max: 10, noNaN: true }), (k, dtype, s) => {
        const n = 20000;
        const x = storage(truncatedNormal(k, [n], s, { dtype }));
        const bound = 2 * truncNormalCompStd(s);
        const b = dtype === 'float32' ? Math.fround(bound) : bound;
        expect(x.every((v) => Math.abs(v) <= b)).toBe(true);
        expect(Math.abs(std(x) / s - 1)).toBeLessThan(0.04);
        expect(Math.abs(mean(x)) / s).toBeLessThan(7 / Math.sqrt(n));
        // The truncation shows: some values beyond 2·std (1.76 of the corrected std; about 3.5%).
        expect(x.some((v) => Math.abs(v) > 2 * s)).toBe(true);
      }),
      { numRuns: 10 },
    );
  });

  it('truncatedNormal with symmetric bounds ±t: within ±t·compStd and std ≈ std for any t', () => {
    fc.assert(
      fc.property(keyArb, fc.double({ min: 0.2, max: 4, noNaN: true }), (k, t) => {
        const c = truncNormalCompStd(1, -t, t);
        const x = storage(truncatedNormal(k, [5000], 1, { dtype: 'float64', lower: -t, upper: t }));
        expect(x.every((v) => Math.abs(v) <= t * c)).toBe(true);
        expect(Math.abs(std(x) - 1)).toBeLessThan(0.05);
      }),
      { numRuns: 20 },
    );
  });

  it('randint: in [lo, hi) and uniform (chi-square)', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 1, max: 40 }), (k, lo, r) => {
        const n = 8000;
        const x = storage(randint(k, [n], lo, lo + r));
        expect(x.every((v) => v >= lo && v < lo + r)).toBe(true);
        const counts = new Float64Array(r);
        for (const v of x) counts[v - lo]! += 1;
        expect(chiSquare(counts, n)).toBeLessThan(chiBound(r - 1));
      }),
      { numRuns: 30 },
    );
  });

  it('randint has no modulo bias on a range of 3·2^30 (naive w mod r would put ½ in the first third)', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const n = 20000;
        const lo = -(2 ** 31);
        const x = randintArray(k, n, lo, lo + 3 * 2 ** 30);
        const firstThird = x.filter((v) => v < lo + 2 ** 30).length / n;
        expect(Math.abs(firstThird - 1 / 3)).toBeLessThan(7 * Math.sqrt(((1 / 3) * (2 / 3)) / n));
      }),
      { numRuns: 5 },
    );
  });

  it('bernoulliArray: frequency ≈ p', () => {
    fc.assert(
      fc.property(keyArb, fc.double({ min: 0, max: 1, noNaN: true }), (k, p) => {
        const n = 10000;
        const x = bernoulliArray(k, n, p);
        expect(x.every((v) => v === 0 || v === 1)).toBe(true);
        expect(Math.abs(mean(x) - p)).toBeLessThanOrEqual(7 * Math.sqrt((p * (1 - p)) / n) + 1e-12);
      }),
      { numRuns: 30 },
    );
  });

  it('permutation is a permutation; shuffled keeps the multiset', () => {
    fc.assert(
      fc.property(keyArb, fc.integer({ min: 0, max: 200 }), (k, n) => {
        const p = permutation(k, n);
        expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        const xs = Array.from({ length: n }, (_, i) => `x${i % 7}`);
        expect(shuffled(k, xs).sort()).toEqual([...xs].sort());
        expect(shuffled(k, xs)).toEqual(Array.from(p, (i) => xs[i]));
      }),
    );
  });

  it('permutation is uniform over the 24 orders of 4 elements (chi-square)', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const draws = 4800;
        const counts = new Map<string, number>();
        for (let i = 0; i < draws; i++) {
          const s = permutation(foldIn(k, i), 4).join('');
          counts.set(s, (counts.get(s) ?? 0) + 1);
        }
        expect(counts.size).toBe(24);
        expect(chiSquare([...counts.values()], draws)).toBeLessThan(chiBound(23));
      }),
      { numRuns: 3 },
    );
  });

  it('choiceWithoutReplacement: distinct, in range; with size n it is permutation', () => {
    fc.assert(
      fc.property(
        keyArb,
        fc.integer({ min: 0, max: 100 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n }))),
        (k, [n, size]) => {
          const c = choiceWithoutReplacement(k, n, size);
          expect(c.length).toBe(size);
          expect(new Set(c).size).toBe(size);
          expect(c.every((v) => v >= 0 && v < n)).toBe(true);
          expect(sameArray(choiceWithoutReplacement(k, n, n), permutation(k, n))).toBe(true);
        },
      ),
    );
  });

  it('choiceWithoutReplacement from a huge population stays cheap and uniform over positions', () => {
    fc.assert(
      fc.property(keyArb, (k) => {
        const c = choiceWithoutReplacement(k, 2 ** 31, 1000);
        expect(new Set(c).size).toBe(1000);
        const firstHalf = c.filter((v) => v < 2 ** 30).length / 1000;
        expect(Math.abs(firstHalf - 0.5)).toBeLessThan(7 * Math.sqrt(0.25 / 1000));
      }),
      { numRuns: 10 },
    );
  });
});
