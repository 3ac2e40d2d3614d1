/**
 * Samplers on explicit keys: uniform, normal, truncated normal (the official TRM initialiser),
 * integers, Bernoulli masks, permutations; built on the special functions of core/scalar.ts (erf, erfc, erfinv).
 *
 * Every sampler is a pure function of its key and arguments: the same key gives the same values
 * on every machine. A key is consumed by the one sampler it is passed to (derive others with
 * `split`/`foldIn`). Samplers that return typed arrays (`uniformArray`, `randintArray`, ...) serve
 * host-side code (data pipelines, ACT exploration); the tensor samplers wrap fresh storage.
 *
 * Layout of the draws (what a sampler reads from `randomBits`):
 * - float64 uniform: two words per value, value i from words i (high) and n+i (low): the top 53
 *   bits of the 64-bit word JAX's x64 `random_bits(k, 64, (n,))` would give. It is within 2⁻⁵³ of
 *   JAX's float64 uniform (which keeps 52 bits).
 * - float32 uniform: one word per value, the top 23 bits, exactly JAX's float32 recipe, including
 *   `min + u·(max − min)` rounded in float32 and the clamp at `min`.
 * - normal: inverse CDF, x = √2·erfinv(u) with u uniform on (−1, 1) (lower end nextafter(−1, 0)),
 *   the construction of `jax.random.normal`. Chosen over Box–Muller because it needs one uniform
 *   per value (no pairing of outputs, no dependence on the parity of n) and reuses the erfinv that
 *   the truncated normal needs anyway.
 * - integers: unbiased rejection on 32-bit words (`uniformBelow`); rejected slots redraw from
 *   keys derived from the sampler's key, round by round.
 */
import type { Backend } from '../backend/backend.js';
import type { DType } from '../core/dtype.js';
import { type Shape, assertShape, size } from '../core/shape.js';
import { type Tensor, fromStorage } from '../tensor/tensor.js';
import { type Key, foldIn, randomBits } from './key.js';
import { erf, erfinv } from '../core/scalar.js';

const SQRT2 = Math.SQRT2;

export type FloatDType = 'float32' | 'float64';

export interface SampleOptions {
  /** float32 (default) or float64; int32 is rejected. Typed as `DType` so that callers holding a
   *  general dtype option can pass it through. */
  readonly dtype?: DType;
  /** The backend the result lives on; default the reference backend. */
  readonly backend?: Backend;
}

export interface UniformOptions extends SampleOptions {
  /** Inclusive lower end (default 0). */
  readonly min?: number;
  /** Exclusive upper end (default 1). */
  readonly max?: number;
}

export interface TruncatedNormalOptions extends SampleOptions {
  /** Truncation bounds in units of the *uncorrected* standard normal (default −2 and 2). */
  readonly lower?: number;
  readonly upper?: number;
}

// ---------------------------------------------------------------------------------------------
// Special functions

const TWO32 = 4294967296;
const TWO21 = 2 ** 21;
const TWO_M23 = 2 ** -23;
const TWO_M53 = 2 ** -53;

const floatDType = (what: string, dtype: DType | undefined): FloatDType => {
  const d = dtype ?? 'float32';
  if (d !== 'float32' && d !== 'float64') throw new Error(`${what}: dtype must be float32 or float64, got ${d}`);
  return d;
};

const checkCount = (what: string, n: number): void => {
  if (!Number.isInteger(n) || n < 0) throw new Error(`${what}: invalid count ${n}`);
};

const checkShape = (what: string, shape: Shape): number => {
  assertShape(what, shape);
  return size(shape);
};

/** The largest float64 below x (finite x). */
const nextDown64 = (x: number): number => {
  if (x === 0) return -Number.MIN_VALUE;
  const f = new Float64Array([x]);
  const u = new BigUint64Array(f.buffer);
  u[0] = x > 0 ? u[0]! - 1n : u[0]! + 1n;
  return f[0]!;
};

/** The largest float32 below x (x a finite float32). */
const nextDown32 = (x: number): number => {
  if (x === 0) return -(2 ** -149);
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = x > 0 ? u[0]! - 1 : u[0]! + 1;
  return f[0]!;
};

/** The key that slot redraws of rejection round `round` use: derived from `k` under a tag, so it
 *  does not coincide with the caller's own `foldIn(k, small integer)`. */
const REJECTION_TAG = 0x72656a63; // "rejc"
const retryKey = (k: Key, round: number): Key => foldIn(foldIn(k, REJECTION_TAG), round);

/**
 * For each i < n, an integer uniform in [0, range(i)) (1 ≤ range(i) ≤ 2³²), without modulo bias:
 * a word w is accepted when w < 2³² − (2³² mod r) (a whole number of copies of [0, r)), giving
 * w mod r. Round 0 reads `randomBits(k, n)`; the slots still pending read, in order, the words of
 * `randomBits(retryKey(k, round), pending)`. Each round rejects less than half the slots.
 */
export const uniformBelow = (k: Key, n: number, range: (i: number) => number): Float64Array => {
  checkCount('uniformBelow', n);
  const out = new Float64Array(n);
  const accept = (i: number, w: number): boolean => {
    const r = range(i);
    if (w >= TWO32 - (TWO32 % r)) return false;
    out[i] = w % r;
    return true;
  };
  const first = randomBits(k, n);
  let pending: number[] = [];
  for (let i = 0; i < n; i++) if (!accept(i, first[i]!)) pending.push(i);
  for (let round = 1; pending.length > 0; round++) {
    const bits = randomBits(retryKey(k, round), pending.length);
    pending = pending.filter((i, j) => !accept(i, bits[j]!));
  }
  return out;
};

const checkRange = (what: string, r: number): void => {
  if (!Number.isInteger(r) || r < 1 || r > TWO32)
    throw new Error(`${what}: range size ${r} must be an integer in [1, 2^32]`);
};

// ---------------------------------------------------------------------------------------------
// Uniform

/**
 * `n` float64 values uniform on [0, 1) with 53-bit resolution: value i is
 * ⌊(bits[i]·2³² + bits[n+i]) / 2¹¹⌋ / 2⁵³ over `randomBits(k, 2n)`, i.e. the top 53 bits of the
 * 64-bit word JAX builds from the same words. Every multiple of 2⁻⁵³ in [0, 1) is equally likely.
 */
export const uniformArray = (k: Key, n: number): Float64Array => {
  checkCount('uniformArray', n);
  const bits = randomBits(k, 2 * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = (bits[i]! * TWO21 + (bits[n + i]! >>> 11)) * TWO_M53;
  return out;
};

/**
 * `n` values uniform on [min, max) in `dtype`'s storage, computed as JAX does:
 * `max(min, u·(max − min) + min)` (in float32 arithmetic for float32), plus a clamp below `max`
 * that JAX lacks (rounding can otherwise hit `max`). float64: u from `uniformArray`; float32:
 * u = (word >>> 9)·2⁻²³, one word per value.
 */
const uniformValues = (k: Key, n: number, dtype: FloatDType, min: number, max: number): Float32Array | Float64Array => {
  if (!Number.isFinite(min) || !Number.isFinite(max) || !(min < max) || !Number.isFinite(max - min)) {
    throw new Error(`uniform: need finite min < max, got [${min}, ${max})`);
  }
  if (dtype === 'float64') {
    const u = uniformArray(k, n);
    const span = max - min;
    const top = nextDown64(max);
    for (let i = 0; i < n; i++) u[i] = Math.min(top, Math.max(min, u[i]! * span + min));
    return u;
  }
  const f = Math.fround;
  const lo = f(min);
  const hi = f(max);
  if (!(lo < hi)) throw new Error(`uniform: [${min}, ${max}) is empty in float32`);
  const span = f(hi - lo);
  const top = nextDown32(hi);
  const bits = randomBits(k, n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(top, Math.max(lo, f(f((bits[i]! >>> 9) * TWO_M23 * span) + lo)));
  return out;
};

/** A tensor of values uniform on [min, max) (default [0, 1)); see `uniformValues` for the recipe. */
export const uniform = (k: Key, shape: Shape, opts: UniformOptions = {}): Tensor => {
  const n = checkShape('uniform', shape);
  const dtype = floatDType('uniform', opts.dtype);
  return fromStorage(shape, uniformValues(k, n, dtype, opts.min ?? 0, opts.max ?? 1), opts.backend);
};

// ---------------------------------------------------------------------------------------------
// Normal

/** √2·erfinv(u) for u from `uniformValues` on [nextafter(−1, 0), 1): `jax.random.normal`'s recipe. */
const normalValues = (k: Key, n: number, dtype: FloatDType): Float32Array | Float64Array => {
  const lo = dtype === 'float64' ? -1 + TWO_M53 : -1 + 2 ** -24;
  const u = uniformValues(k, n, dtype, lo, 1);
  for (let i = 0; i < n; i++) u[i] = SQRT2 * erfinv(u[i]!);
  return u;
};

/** `n` standard normal float64 values (inverse CDF; two words per value). */
export const normalArray = (k: Key, n: number): Float64Array => {
  checkCount('normalArray', n);
  return normalValues(k, n, 'float64') as Float64Array;
};

/**
 * A tensor of standard normal values by the inverse CDF, x = √2·erfinv(u) with u uniform on
 * (−1, 1), as `jax.random.normal` (not Box–Muller). float64 uses 53-bit uniforms, so |x| ≤ 8.3;
 * float32 uses JAX's 23-bit float32 uniforms, so |x| ≤ 5.4.
 */
export const normal = (k: Key, shape: Shape, opts: SampleOptions = {}): Tensor => {
  const n = checkShape('normal', shape);
  return fromStorage(shape, normalValues(k, n, floatDType('normal', opts.dtype)), opts.backend);
};

// ---------------------------------------------------------------------------------------------
// Truncated normal (the official TRM initialiser)

/**
 * The standard deviation that the official `trunc_normal_init_` feeds the truncated sampler so
 * that the *truncated* distribution has standard deviation `std`:
 * std / √(1 − (upper·φ(lower) − lower·φ(upper))/Z − ((φ(lower) − φ(upper))/Z)²), Z = Φ(upper) − Φ(lower),
 * written exactly as the official code (whose `pdf_u` is φ(lower) and `pdf_l` is φ(upper)). For
 * symmetric bounds, the only ones TRM uses, this is the exact variance of the truncated standard
 * normal; for asymmetric bounds the official formula pairs the densities the other way round and
 * is only an approximation (it can even go negative, which `truncatedNormal` rejects).
 * For ±2 it is std·1.1368472343385565.
 */
export const truncNormalCompStd = (std: number, lower = -2, upper = 2): number => {
  const a = erf(lower / SQRT2);
  const b = erf(upper / SQRT2);
  const z = (b - a) / 2;
  const c = 1 / Math.sqrt(2 * Math.PI);
  const pdfU = c * Math.exp(-0.5 * lower * lower);
  const pdfL = c * Math.exp(-0.5 * upper * upper);
  return std / Math.sqrt(1 - (upper * pdfU - lower * pdfL) / z - ((pdfU - pdfL) / z) ** 2);
};

/**
 * The official TRM initialiser `trunc_normal_init_(tensor, std, lower=-2, upper=2)`, JAX style:
 * zeros when std = 0; otherwise u ~ U(erf(lower/√2), erf(upper/√2)), x = erfinv(u)·√2·compStd,
 * clipped to [lower·compStd, upper·compStd], where compStd = `truncNormalCompStd(std, lower, upper)`
 * corrects for the truncation so that the values have standard deviation ≈ std.
 * The uniform draws follow `uniform` for the dtype (float32: one word, 23 bits, per value).
 */
export const truncatedNormal = (k: Key, shape: Shape, std: number, opts: TruncatedNormalOptions = {}): Tensor => {
  const n = checkShape('truncatedNormal', shape);
  const dtype = floatDType('truncatedNormal', opts.dtype);
  const lower = opts.lower ?? -2;
  const upper = opts.upper ?? 2;
  if (!Number.isFinite(std) || std < 0) throw new Error(`truncatedNormal: std must be finite and ≥ 0, got ${std}`);
  if (!Number.isFinite(lower) || !Number.isFinite(upper) || !(lower < upper)) {
    throw new Error(`truncatedNormal: need finite lower < upper, got [${lower}, ${upper}]`);
  }
  if (std === 0)
    return fromStorage(shape, dtype === 'float64' ? new Float64Array(n) : new Float32Array(n), opts.backend);
  const compStd = truncNormalCompStd(std, lower, upper);
  if (!(compStd > 0 && Number.isFinite(compStd))) {
    throw new Error(`truncatedNormal: the official variance correction is undefined for bounds [${lower}, ${upper}]`);
  }
  const lo = lower * compStd;
  const hi = upper * compStd;
  const scale = SQRT2 * compStd;
  const u = uniformValues(k, n, dtype, erf(lower / SQRT2), erf(upper / SQRT2));
  for (let i = 0; i < n; i++) u[i] = Math.min(hi, Math.max(lo, erfinv(u[i]!) * scale));
  return fromStorage(shape, u, opts.backend);
};

// ---------------------------------------------------------------------------------------------
// Integers, Bernoulli, permutations

const INT32_MIN = -2147483648;
const INT32_LIMIT = 2147483648;

/** `n` integers uniform on [lo, hi) (int32 bounds; hi exclusive), unbiased by rejection. */
export const randintArray = (k: Key, n: number, lo: number, hi: number): Int32Array => {
  checkCount('randintArray', n);
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < INT32_MIN || hi > INT32_LIMIT || !(lo < hi)) {
    throw new Error(`randintArray: need integers ${INT32_MIN} ≤ lo < hi ≤ ${INT32_LIMIT}, got [${lo}, ${hi})`);
  }
  const r = hi - lo;
  checkRange('randintArray', r);
  const d = uniformBelow(k, n, () => r);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + d[i]!;
  return out;
};

/** An int32 tensor of integers uniform on [lo, hi) (see `randintArray`). */
export const randint = (
  k: Key,
  shape: Shape,
  lo: number,
  hi: number,
  opts: { readonly backend?: Backend } = {},
): Tensor => {
  const n = checkShape('randint', shape);
  return fromStorage(shape, randintArray(k, n, lo, hi), opts.backend);
};

/** `n` draws of 1 with probability p, else 0 (u < p with u from `uniformArray`, as JAX's u < p). */
export const bernoulliArray = (k: Key, n: number, p: number): Uint8Array => {
  checkCount('bernoulliArray', n);
  if (!(p >= 0 && p <= 1)) throw new Error(`bernoulliArray: p must be in [0, 1], got ${p}`);
  const u = uniformArray(k, n);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = u[i]! < p ? 1 : 0;
  return out;
};

/**
 * The first `size` entries of a uniformly random permutation of 0..n−1, i.e. a uniformly random
 * ordered sample without replacement: the first `size` steps of a forward Fisher–Yates shuffle,
 * step t swapping position t with t + U[0, n − t). Swaps are kept in a map, so the cost is
 * O(size) whatever n. The draws are `uniformBelow(k, min(size, n − 1), t ↦ n − t)` (the last
 * step of a full shuffle has one choice and draws nothing), so `choiceWithoutReplacement(k, n, n)`
 * equals `permutation(k, n)`.
 */
export const choiceWithoutReplacement = (k: Key, n: number, size: number): Int32Array => {
  checkCount('choiceWithoutReplacement', n);
  if (!Number.isInteger(size) || size < 0 || size > n) {
    throw new Error(`choiceWithoutReplacement: size ${size} must be an integer in [0, ${n}]`);
  }
  if (n > INT32_LIMIT) throw new Error(`choiceWithoutReplacement: n = ${n} does not fit int32`);
  const steps = Math.max(0, Math.min(size, n - 1));
  const d = uniformBelow(k, steps, (t) => n - t);
  const moved = new Map<number, number>();
  const at = (i: number): number => moved.get(i) ?? i;
  const out = new Int32Array(size);
  for (let t = 0; t < size; t++) {
    const j = t < steps ? t + d[t]! : t;
    out[t] = at(j);
    if (j !== t) moved.set(j, at(t));
  }
  return out;
};

/** A uniformly random permutation of 0..n−1 (forward Fisher–Yates on rejection-sampled indices;
 *  the same draws as `choiceWithoutReplacement(k, n, n)`, in a dense array). */
export const permutation = (k: Key, n: number): Int32Array => {
  checkCount('permutation', n);
  if (n > INT32_LIMIT) throw new Error(`permutation: n = ${n} does not fit int32`);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  const steps = Math.max(0, n - 1);
  const d = uniformBelow(k, steps, (t) => n - t);
  for (let t = 0; t < steps; t++) {
    const j = t + d[t]!;
    const tmp = perm[t]!;
    perm[t] = perm[j]!;
    perm[j] = tmp;
  }
  return perm;
};

/** A new array with the elements of `xs` in the order of `permutation(k, xs.length)`. */
export const shuffled = <T>(k: Key, xs: readonly T[]): T[] => Array.from(permutation(k, xs.length), (i) => xs[i]!);
