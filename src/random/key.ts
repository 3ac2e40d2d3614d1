/**
 * Explicit, splittable PRNG keys, JAX style, on the Threefry-2x32 counter-based hash (20 rounds).
 *
 * Why counter-based: a key is just two uint32 words, and every random number is a pure function
 * `threefry(key, counter)`. Nothing is mutable, nothing is global, there is no `Math.random`, and
 * the same seed gives the same numbers on every machine and every JS engine, since the hash uses
 * only 32-bit integer operations (wrapping additions, xors and rotations), all exact in JS.
 *
 * Bit compatibility with JAX (the default, non-partitionable threefry implementation, i.e.
 * `jax_threefry_partitionable=False`, the default before JAX 0.5):
 * - `key(seed)` is `jax.random.PRNGKey(seed)` (words `[seed >> 32, seed & 0xffffffff]`; negative
 *   seeds as 64-bit two's complement, as JAX with x64 enabled);
 * - `randomBits(k, n)` is `jax._src.prng.threefry_random_bits(k, 32, (n,))`;
 * - `split(k, n)` is `jax.random.split(k, n)`;
 * - `foldIn(k, d)` is `jax.random.fold_in(k, d)` for 0 ≤ d < 2³² (other safe integers extend it
 *   the way `key` does: the counter is `[d >> 32, d & 0xffffffff]`).
 * `splitPartitionable` is `jax.random.split` under `jax_threefry_partitionable=True` (the JAX ≥ 0.5
 * default), for cross-checks against newer JAX.
 *
 * Discipline (as in JAX): a key is consumed by the one sampler it is passed to; derive fresh keys
 * with `split` or `foldIn` instead of passing the same key to two samplers.
 */

/** A PRNG key: two uint32 words. Frozen; compare with `keysEqual`, not `===`. */
export interface Key {
  /** The first word (JAX's key[0]; for `key(seed)`, the high 32 bits of the seed). */
  readonly hi: number;
  /** The second word (JAX's key[1]; for `key(seed)`, the low 32 bits of the seed). */
  readonly lo: number;
}

const TWO32 = 4294967296;

const isUint32 = (x: number): boolean => Number.isInteger(x) && x >= 0 && x < TWO32;

/** Builds a frozen key from two words (taken modulo 2³²). */
const makeKey = (hi: number, lo: number): Key => Object.freeze({ hi: hi >>> 0, lo: lo >>> 0 });

/** A safe integer as the two uint32 words of its 64-bit two's complement: [high, low]. */
const words64 = (what: string, x: number): [number, number] => {
  if (!Number.isSafeInteger(x)) throw new Error(`${what}: ${x} is not a safe integer`);
  // `>>> 0` reduces modulo 2³² exactly for any safe integer; floor(x / 2³²) is exact too (a
  // power-of-two division), and its `>>> 0` gives the two's-complement high word when x < 0.
  return [Math.floor(x / TWO32) >>> 0, x >>> 0];
};

// ---------------------------------------------------------------------------------------------
// Threefry-2x32, 20 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011)

/** Skein's key-schedule parity constant. */
const PARITY = 0x1bd11bda;

/**
 * Hashes the counter (x0, x1) under the key (k0, k1) and writes the two output words to
 * `out[i0]` and `out[i1]`.
 *
 * Five groups of four rounds; a round is `a += b; b = rotl(b, r) ^ a`, with rotations
 * 13, 15, 26, 6 in even groups and 17, 29, 16, 24 in odd ones. After group s (s = 0..4) the key
 * schedule injects words (s+1) mod 3 and (s+2) mod 3 of [k0, k1, k0 ^ k1 ^ PARITY], plus s+1 on
 * the second word. Unrolled by hand (this is the hot loop of every sampler). The words are kept as
 * int32 bit patterns: `| 0` after each addition wraps exactly, and `Uint32Array` stores them back
 * as unsigned.
 */
const threefryInto = (
  k0: number,
  k1: number,
  x0: number,
  x1: number,
  out: Uint32Array,
  i0: number,
  i1: number,
): void => {
  const k2 = k0 ^ k1 ^ PARITY;
  let a = (x0 + k0) | 0;
  let b = (x1 + k1) | 0;
  // group 0
  a = (a + b) | 0;
  b = ((b << 13) | (b >>> 19)) ^ a;
  a = (a + b) | 0;
  b = ((b << 15) | (b >>> 17)) ^ a;
  a = (a + b) | 0;
  b = ((b << 26) | (b >>> 6)) ^ a;
  a = (a + b) | 0;
  b = ((b << 6) | (b >>> 26)) ^ a;
  a = (a + k1) | 0;
  b = (b + k2 + 1) | 0;
  // group 1
  a = (a + b) | 0;
  b = ((b << 17) | (b >>> 15)) ^ a;
  a = (a + b) | 0;
  b = ((b << 29) | (b >>> 3)) ^ a;
  a = (a + b) | 0;
  b = ((b << 16) | (b >>> 16)) ^ a;
  a = (a + b) | 0;
  b = ((b << 24) | (b >>> 8)) ^ a;
  a = (a + k2) | 0;
  b = (b + k0 + 2) | 0;
  // group 2
  a = (a + b) | 0;
  b = ((b << 13) | (b >>> 19)) ^ a;
  a = (a + b) | 0;
  b = ((b << 15) | (b >>> 17)) ^ a;
  a = (a + b) | 0;
  b = ((b << 26) | (b >>> 6)) ^ a;
  a = (a + b) | 0;
  b = ((b << 6) | (b >>> 26)) ^ a;
  a = (a + k0) | 0;
  b = (b + k1 + 3) | 0;
  // group 3
  a = (a + b) | 0;
  b = ((b << 17) | (b >>> 15)) ^ a;
  a = (a + b) | 0;
  b = ((b << 29) | (b >>> 3)) ^ a;
  a = (a + b) | 0;
  b = ((b << 16) | (b >>> 16)) ^ a;
  a = (a + b) | 0;
  b = ((b << 24) | (b >>> 8)) ^ a;
  a = (a + k1) | 0;
  b = (b + k2 + 4) | 0;
  // group 4
  a = (a + b) | 0;
  b = ((b << 13) | (b >>> 19)) ^ a;
  a = (a + b) | 0;
  b = ((b << 15) | (b >>> 17)) ^ a;
  a = (a + b) | 0;
  b = ((b << 26) | (b >>> 6)) ^ a;
  a = (a + b) | 0;
  b = ((b << 6) | (b >>> 26)) ^ a;
  a = (a + k2) | 0;
  b = (b + k0 + 5) | 0;
  out[i0] = a;
  out[i1] = b;
};

/**
 * Threefry-2x32-20 of one counter pair under one key pair: JAX's `threefry_2x32` on a
 * two-element count, and Random123's `threefry2x32` (R = 20).
 */
export const threefry2x32 = (
  keyWords: readonly [number, number],
  counter: readonly [number, number],
): [number, number] => {
  const out = new Uint32Array(2);
  threefryInto(keyWords[0], keyWords[1], counter[0], counter[1], out, 0, 1);
  return [out[0]!, out[1]!];
};

// ---------------------------------------------------------------------------------------------
// Keys

/** The key of a seed (any safe integer), as `jax.random.PRNGKey(seed)`: [seed >> 32, seed mod 2³²]. */
export const key = (seed: number): Key => {
  const [hi, lo] = words64('key', seed);
  return makeKey(hi, lo);
};

/** A key from its two words (each an integer in [0, 2³²)), e.g. as saved by `keyData`. */
export const keyFromData = (data: readonly [number, number]): Key => {
  const [hi, lo] = data;
  if (!isUint32(hi) || !isUint32(lo)) throw new Error(`keyFromData: [${hi}, ${lo}] are not two uint32 words`);
  return makeKey(hi, lo);
};

/** The key's two words, [hi, lo] (JAX's `key_data`). */
export const keyData = (k: Key): [number, number] => [k.hi, k.lo];

export const keysEqual = (a: Key, b: Key): boolean => a.hi === b.hi && a.lo === b.lo;

const hex8 = (x: number): string => x.toString(16).padStart(8, '0');

/** `"hhhhhhhh:llllllll"`: the two words in lower-case hex, fixed width (for checkpoints and logs). */
export const keyToString = (k: Key): string => `${hex8(k.hi)}:${hex8(k.lo)}`;

/** Parses `keyToString`'s format (hex digits of either case); throws on anything else. */
export const keyFromString = (s: string): Key => {
  const m = /^([0-9a-fA-F]{8}):([0-9a-fA-F]{8})$/.exec(s);
  if (m === null) throw new Error(`keyFromString: ${JSON.stringify(s)} is not "hhhhhhhh:llllllll" hex`);
  return makeKey(parseInt(m[1]!, 16), parseInt(m[2]!, 16));
};

const checkCount = (what: string, n: number): void => {
  if (!Number.isInteger(n) || n < 0 || n >= TWO32 - 1) throw new Error(`${what}: invalid count ${n}`);
};

/**
 * `n` uint32 words from key `k`: JAX's `threefry_2x32(k, iota(n))`. The counters 0..n−1 (padded
 * with one 0 when n is odd) are cut into halves; pair i hashes (c[i], c[m+i]) and the outputs are
 * laid out as [first words..., second words...], as JAX does. So `randomBits(k, n)` is not a prefix
 * of `randomBits(k, n + 1)`: a sampler's draws depend on how many it draws, exactly as in JAX.
 */
export const randomBits = (k: Key, n: number): Uint32Array => {
  checkCount('randomBits', n);
  const m = (n + 1) >>> 1;
  const buf = new Uint32Array(2 * m);
  for (let i = 0; i < m; i++) {
    const c1 = m + i < n ? m + i : 0;
    threefryInto(k.hi, k.lo, i, c1, buf, i, m + i);
  }
  return n === buf.length ? buf : buf.slice(0, n);
};

/**
 * `n` (default 2) independent child keys: child i is words (2i, 2i+1) of `randomBits(k, 2n)`,
 * exactly `jax.random.split(k, n)` with the default non-partitionable threefry.
 */
export const split = (k: Key, n = 2): Key[] => {
  checkCount('split', n);
  const bits = randomBits(k, 2 * n);
  return Array.from({ length: n }, (_, i) => makeKey(bits[2 * i]!, bits[2 * i + 1]!));
};

/**
 * `jax.random.split(k, n)` under `jax_threefry_partitionable=True`: child i hashes the 64-bit
 * counter i, so child i does not depend on n. Offered for cross-checks against newer JAX; the
 * rest of this project uses `split`.
 */
export const splitPartitionable = (k: Key, n = 2): Key[] => {
  checkCount('splitPartitionable', n);
  const out = new Uint32Array(2);
  return Array.from({ length: n }, (_, i) => {
    threefryInto(k.hi, k.lo, 0, i, out, 0, 1);
    return makeKey(out[0]!, out[1]!);
  });
};

/**
 * A key derived from `k` and an integer (step number, example index, ...): the hash of the counter
 * [data >> 32, data mod 2³²] under `k`, as `jax.random.fold_in`. Different data give independent
 * keys; the same data give the same key.
 */
export const foldIn = (k: Key, data: number): Key => {
  const [c0, c1] = words64('foldIn', data);
  const out = new Uint32Array(2);
  threefryInto(k.hi, k.lo, c0, c1, out, 0, 1);
  return makeKey(out[0]!, out[1]!);
};
