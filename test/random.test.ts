/**
 * Known answers for src/random: Threefry-2x32-20 against Random123's test vectors (which JAX's
 * tests use too), keys, bits and splits against values printed by JAX (the docs' `split(PRNGKey(0))`,
 * and vectors published with MLX's tests, generated from JAX's threefry), erf/erfc/erfinv against
 * mpmath at 50 digits, the truncated-normal correction constant, and argument validation.
 */
import { describe, expect, it } from 'vitest';
import { erf, erfc, erfinv } from '../src/core/scalar.js';
import { reference } from '../src/backend/reference.js';
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
  splitPartitionable,
  threefry2x32,
  truncNormalCompStd,
  truncatedNormal,
  uniform,
  uniformArray,
} from '../src/random/index.js';

const relErr = (got: number, want: number): number => Math.abs(got - want) / Math.abs(want);

describe('threefry2x32: Random123 known-answer vectors (R = 20)', () => {
  it.each([
    [
      [0x00000000, 0x00000000],
      [0x00000000, 0x00000000],
      [0x6b200159, 0x99ba4efe],
    ],
    [
      [0xffffffff, 0xffffffff],
      [0xffffffff, 0xffffffff],
      [0x1cb996fc, 0xbb002be7],
    ],
    [
      [0x13198a2e, 0x03707344],
      [0x243f6a88, 0x85a308d3],
      [0xc4923a9c, 0x483df7a0],
    ],
  ] as const)('key %j, counter %j', (k, c, want) => {
    expect(threefry2x32(k, c)).toEqual(want);
  });
});

describe('keys: JAX compatibility', () => {
  it('key(seed) is PRNGKey(seed): [seed >> 32, seed mod 2^32], two’s complement for negatives', () => {
    expect(keyData(key(0))).toEqual([0, 0]);
    expect(keyData(key(42))).toEqual([0, 42]);
    expect(keyData(key(2 ** 32))).toEqual([1, 0]);
    expect(keyData(key(2 ** 32 + 1))).toEqual([1, 1]);
    expect(keyData(key(-1))).toEqual([0xffffffff, 0xffffffff]);
    expect(keyData(key(Number.MAX_SAFE_INTEGER))).toEqual([0x1fffff, 0xffffffff]);
    expect(keyData(key(Number.MIN_SAFE_INTEGER))).toEqual([0xffe00000, 0x00000001]);
  });

  it('split(key(0)) as printed by jax.random.split(PRNGKey(0))', () => {
    expect(split(key(0)).map(keyData)).toEqual([
      [4146024105, 967050713],
      [2718843009, 1272950319],
    ]);
    expect(split(key(0), 3).map(keyData)).toEqual([
      [2467461003, 428148500],
      [3186719485, 3840466878],
      [2562233961, 1946702221],
    ]);
  });

  it('randomBits is JAX threefry_random_bits(key, 32, (n,)), odd n included', () => {
    expect(Array.from(randomBits(key(0), 1))).toEqual([1797259609]);
    expect(Array.from(randomBits(key(1), 1))).toEqual([507451445]);
    expect(Array.from(randomBits(key(0), 3))).toEqual([4146024105, 1351547692, 2718843009]);
    expect(Array.from(randomBits(key(0), 4))).toEqual([4146024105, 967050713, 2718843009, 1272950319]);
    expect(randomBits(key(0), 0).length).toBe(0);
  });

  it('splitPartitionable is jax.random.split with jax_threefry_partitionable=True', () => {
    expect(splitPartitionable(key(0), 8).map(keyData)).toEqual([
      [1797259609, 2579123966],
      [928981903, 3453687069],
      [4146024105, 2718843009],
      [2467461003, 3840466878],
      [2285895361, 433833334],
      [1524306142, 1887795613],
      [3792494674, 2909014575],
      [2716826189, 292468403],
    ]);
  });

  it('foldIn(k, d) hashes the counter [d >> 32, d mod 2^32] under k (Random123 vectors again)', () => {
    expect(keyData(foldIn(key(0), 0))).toEqual([0x6b200159, 0x99ba4efe]);
    expect(keyData(foldIn(key(-1), -1))).toEqual([0x1cb996fc, 0xbb002be7]);
    const k = keyFromData([0x13198a2e, 0x03707344]);
    expect(keyData(foldIn(k, 0x85a308d3))).toEqual(threefry2x32([0x13198a2e, 0x03707344], [0, 0x85a308d3]));
    expect(keyData(foldIn(k, 3 * 2 ** 32 + 5))).toEqual(threefry2x32([0x13198a2e, 0x03707344], [3, 5]));
  });

  it('keys are frozen', () => {
    const k = key(7) as { hi: number };
    expect(Object.isFrozen(k)).toBe(true);
    expect(() => {
      k.hi = 1; // modules are strict: writing a frozen property throws
    }).toThrow(TypeError);
  });
});

describe('key strings and validation', () => {
  it('keyToString is fixed-width hex and keyFromString inverts it', () => {
    expect(keyToString(key(42))).toBe('00000000:0000002a');
    expect(keyToString(key(-1))).toBe('ffffffff:ffffffff');
    expect(keysEqual(keyFromString('DEADBEEF:0000002a'), keyFromData([0xdeadbeef, 42]))).toBe(true);
  });

  it.each([
    '',
    '0:0',
    '00000000:0000002',
    '00000000-0000002a',
    ' 00000000:0000002a',
    '0000000g:00000000',
    '00000000:0000002a\n',
  ])('keyFromString rejects %j', (s) => {
    expect(() => keyFromString(s)).toThrow(/keyFromString/);
  });

  it('rejects bad seeds, data, words and counts', () => {
    expect(() => key(0.5)).toThrow(/safe integer/);
    expect(() => key(2 ** 53)).toThrow(/safe integer/);
    expect(() => key(NaN)).toThrow(/safe integer/);
    expect(() => foldIn(key(0), 1.5)).toThrow(/safe integer/);
    expect(() => keyFromData([2 ** 32, 0])).toThrow(/uint32/);
    expect(() => keyFromData([0, -1])).toThrow(/uint32/);
    expect(() => split(key(0), -1)).toThrow(/count/);
    expect(() => randomBits(key(0), 1.5)).toThrow(/count/);
    expect(split(key(0), 0)).toEqual([]);
  });
});

describe('special functions against mpmath (50 digits)', () => {
  // [x, erf(x), erfc(x)]
  const erfCases: readonly [number, number, number][] = [
    [1e-10, 1.1283791670955126e-10, 0.999999999887162],
    [0.1, 0.1124629160182849, 0.887537083981715],
    [0.5, 0.5204998778130465, 0.4795001221869535],
    [1, 0.8427007929497149, 0.15729920705028513],
    [1.4999, 0.9660932516622953, 0.03390674833770473],
    [1.5, 0.9661051464753108, 0.033894853524689274],
    [2, 0.9953222650189527, 0.004677734981047266],
    [3, 0.9999779095030014, 2.209049699858544e-5],
    [4, 0.9999999845827421, 1.541725790028002e-8],
    [5.5, 0.9999999999999927, 7.357847917974398e-15],
    [-0.7, -0.6778011938374184, 1.6778011938374184],
  ];
  it.each(erfCases)('erf(%s) and erfc', (x, e, c) => {
    expect(relErr(erf(x), e)).toBeLessThan(2e-15);
    // erfc: relative precision everywhere, a little less just below the series/fraction switch.
    expect(relErr(erfc(x), c)).toBeLessThan(x < 1.5 && x > 1 ? 5e-14 : 2e-15);
    expect(erf(-x)).toBe(-erf(x));
  });

  it('erf edge values', () => {
    expect(erf(0)).toBe(0);
    expect(Object.is(erf(-0), -0)).toBe(true);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(erfc(Infinity)).toBe(0);
    expect(erfc(-Infinity)).toBe(2);
    expect(erf(NaN)).toBeNaN();
    expect(erfc(NaN)).toBeNaN();
    expect(erfc(30)).toBe(0); // underflows: 2.6e-393
    expect(erfc(26)).toBeGreaterThan(0);
  });

  // [y, erfinv(y)]
  const erfinvCases: readonly [number, number][] = [
    [1e-300, 8.86226925452758e-301],
    [1e-8, 8.86226925452758e-9],
    [0.1, 0.08885599049425769],
    [0.5, 0.4769362762044699],
    [0.9, 1.1630871536766743],
    [0.99, 1.8213863677184494],
    [0.999999, 3.458910737275499],
    [0.999999999999, 5.042031898572696],
    [1 - 2 ** -53, 5.8635847487551676],
    [-0.3, -0.2724627147267543],
  ];
  it.each(erfinvCases)('erfinv(%s)', (y, want) => {
    expect(relErr(erfinv(y), want)).toBeLessThan(1e-13);
    expect(erfinv(-y)).toBe(-erfinv(y));
  });

  it('erfinv edge values', () => {
    expect(erfinv(0)).toBe(0);
    expect(Object.is(erfinv(-0), -0)).toBe(true);
    expect(erfinv(1)).toBe(Infinity);
    expect(erfinv(-1)).toBe(-Infinity);
    expect(erfinv(1.0000001)).toBeNaN();
    expect(erfinv(NaN)).toBeNaN();
  });

  it('the truncated-normal correction for ±2 is 1.1368472343385565', () => {
    expect(relErr(truncNormalCompStd(1), 1.1368472343385565)).toBeLessThan(1e-14);
    expect(relErr(truncNormalCompStd(0.02), 0.02 * 1.1368472343385565)).toBeLessThan(1e-14);
  });
});

describe('samplers: shapes, dtypes, backends, validation', () => {
  const k = key(123);

  it('tensor samplers give the requested shape and dtype, on the reference backend by default', () => {
    const cases: readonly [string, ReturnType<typeof uniform>, string][] = [
      ['uniform', uniform(k, [2, 3]), 'float32'],
      ['uniform f64', uniform(k, [2, 3], { dtype: 'float64' }), 'float64'],
      ['normal', normal(k, [4]), 'float32'],
      ['normal f64', normal(k, [4], { dtype: 'float64' }), 'float64'],
      ['truncatedNormal', truncatedNormal(k, [3, 2], 0.5), 'float32'],
      ['truncatedNormal f64', truncatedNormal(k, [3, 2], 0.5, { dtype: 'float64' }), 'float64'],
      ['randint', randint(k, [5, 1], 0, 10), 'int32'],
    ];
    for (const [name, t, dtype] of cases) {
      expect(t.dtype, name).toBe(dtype);
      expect(t.backend, name).toBe(reference);
      expect(t.node, name).toBeNull();
    }
    expect(uniform(k, [2, 3]).shape).toEqual([2, 3]);
    expect(uniform(k, []).shape).toEqual([]);
    expect(uniform(k, []).size).toBe(1);
    expect(normal(k, [0, 3]).size).toBe(0);
  });

  it('carries the backend it is given', () => {
    const other = { ...reference, name: 'other' };
    expect(uniform(k, [2], { backend: other }).backend).toBe(other);
    expect(normal(k, [2], { backend: other }).backend).toBe(other);
    expect(truncatedNormal(k, [2], 1, { backend: other }).backend).toBe(other);
    expect(truncatedNormal(k, [2], 0, { backend: other }).backend).toBe(other);
    expect(randint(k, [2], 0, 3, { backend: other }).backend).toBe(other);
  });

  it('float32 uniform is JAX’s: the top 23 bits of one word', () => {
    const bits = randomBits(k, 5);
    expect(Array.from(uniform(k, [5]).data)).toEqual(Array.from(bits, (w) => (w >>> 9) / 2 ** 23));
  });

  it('uniformArray uses two words per value: the top 53 bits of (bits[i], bits[n + i])', () => {
    const bits = randomBits(k, 6);
    const u = uniformArray(k, 3);
    for (let i = 0; i < 3; i++) {
      const w = (BigInt(bits[i]!) << 32n) | BigInt(bits[3 + i]!);
      expect(u[i]).toBe(Number(w >> 11n) / 2 ** 53);
    }
  });

  it('truncatedNormal with std 0 gives zeros', () => {
    expect(Array.from(truncatedNormal(k, [4], 0).data)).toEqual([0, 0, 0, 0]);
  });

  it('the extreme draws stay finite and in range', () => {
    // normal: u = nextafter(−1, 0) at the bottom; |x| ≤ 8.3 in float64.
    const x = normalArray(k, 2000);
    expect(x.every((v) => Number.isFinite(v) && Math.abs(v) < 8.3)).toBe(true);
  });

  it('rejects bad arguments', () => {
    expect(() => uniform(k, [2], { dtype: 'int32' })).toThrow(/dtype/);
    expect(() => normal(k, [2], { dtype: 'int32' })).toThrow(/dtype/);
    expect(() => uniform(k, [2], { min: 1, max: 1 })).toThrow(/min < max/);
    expect(() => uniform(k, [2], { min: 0, max: Infinity })).toThrow(/min < max/);
    expect(() => uniform(k, [-1])).toThrow(/invalid shape/);
    expect(() => truncatedNormal(k, [2], -1)).toThrow(/std/);
    expect(() => truncatedNormal(k, [2], 1, { lower: 1, upper: 1 })).toThrow(/lower < upper/);
    expect(() => truncatedNormal(k, [2], 1, { lower: 0, upper: 0.1 })).toThrow(/variance correction/);
    expect(() => randintArray(k, 3, 5, 5)).toThrow(/lo < hi/);
    expect(() => randintArray(k, 3, 0.5, 5)).toThrow(/lo < hi/);
    expect(() => randintArray(k, 3, 0, 2 ** 31 + 1)).toThrow(/lo < hi/);
    expect(() => bernoulliArray(k, 3, 1.5)).toThrow(/p must/);
    expect(() => bernoulliArray(k, 3, NaN)).toThrow(/p must/);
    expect(() => choiceWithoutReplacement(k, 3, 4)).toThrow(/size/);
    expect(() => permutation(k, -1)).toThrow(/count/);
  });

  it('handles the widest int32 range and degenerate sizes', () => {
    const w = randintArray(k, 1000, -(2 ** 31), 2 ** 31);
    expect(w.length).toBe(1000);
    expect(new Set(w).size).toBeGreaterThan(990);
    expect(Array.from(randintArray(k, 5, 7, 8))).toEqual([7, 7, 7, 7, 7]);
    expect(Array.from(permutation(k, 0))).toEqual([]);
    expect(Array.from(permutation(k, 1))).toEqual([0]);
    expect(Array.from(choiceWithoutReplacement(k, 5, 0))).toEqual([]);
    expect(shuffled(k, [])).toEqual([]);
    expect(Array.from(bernoulliArray(k, 4, 0))).toEqual([0, 0, 0, 0]);
    expect(Array.from(bernoulliArray(k, 4, 1))).toEqual([1, 1, 1, 1]);
  });

  it('golden values stay put (a change here changes every initialisation in the project)', () => {
    const g: Key = key(2024);
    expect(keyToString(split(g)[1]!)).toBe(keyToString(keyFromData([randomBits(g, 4)[2]!, randomBits(g, 4)[3]!])));
    expect(Array.from(randintArray(g, 8, 0, 10))).toEqual([5, 2, 4, 4, 9, 3, 9, 2]);
    expect(Array.from(permutation(g, 8))).toEqual([7, 0, 2, 6, 1, 4, 5, 3]);
    // Floats go through Math.exp/log, which ECMAScript leaves implementation-defined in the last
    // ulp (V8 uses its own fdlibm port, the same on every OS): compare to 1e-14.
    const tn = truncatedNormal(g, [4], 1, { dtype: 'float64' }).data;
    [1.5645067053880124, 2.1154629798528495, 2.1077579867733944, -2.0482517715895563].forEach((v, i) =>
      expect(relErr(tn[i]!, v)).toBeLessThan(1e-14),
    );
  });
});
