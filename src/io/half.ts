/**
 * Half floats: IEEE binary16 (F16) and bfloat16 (BF16) to and from float32 bits, exactly and with
 * round-to-nearest-even, for the safetensors reader and writer.
 */

/** F16 bits → float32 bits, exactly (every half is a float32; NaN payloads are kept). */
export const f16BitsToF32Bits = (h: number): number => {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise into a float32 exponent.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
};

/** BF16 bits → float32 bits: bfloat16 is the top half of a float32. */
export const bf16BitsToF32Bits = (h: number): number => ((h & 0xffff) << 16) >>> 0;

const roundHalfEven = (v: number): number => {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
};

/** A 16-bit IEEE-style float format: mantissa bits and exponent bias (exponent field all ones = inf/NaN). */
interface SmallFloat {
  readonly mantBits: number;
  readonly bias: number;
}
const HALF: SmallFloat = { mantBits: 10, bias: 15 };
const BFLOAT: SmallFloat = { mantBits: 7, bias: 127 };

/**
 * Rounds a number (float64) to a 16-bit float's bits, to nearest with ties to even, straight
 * from the double (rounding through float32 first would round twice). Overflow becomes ±inf,
 * underflow goes through the subnormals to ±0, NaN becomes the canonical quiet NaN.
 * Every step is exact: scaling by powers of two, and integers below 2^12.
 */
const toSmallFloatBits = (x: number, f: SmallFloat): number => {
  const expAll = 2 * f.bias + 1;
  if (Number.isNaN(x)) return (expAll << f.mantBits) | (1 << (f.mantBits - 1));
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const inf = sign | (expAll << f.mantBits);
  const eMin = 1 - f.bias;
  if (a < 2 ** eMin) return sign | roundHalfEven(a * 2 ** (f.mantBits - eMin)); // subnormal; may round up to the smallest normal
  if (a >= 2 ** (f.bias + 1)) return inf;
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  let m = roundHalfEven(a * 2 ** (f.mantBits - e)); // in [2^mantBits, 2^(mantBits+1)]
  if (m === 2 ** (f.mantBits + 1)) {
    m /= 2;
    e++;
  }
  if (e > f.bias) return inf;
  return sign | ((e + f.bias) << f.mantBits) | (m - 2 ** f.mantBits);
};

/** A number → F16 bits, round to nearest even. */
export const numberToF16Bits = (x: number): number => toSmallFloatBits(x, HALF);
/** A number → BF16 bits, round to nearest even. */
export const numberToBf16Bits = (x: number): number => toSmallFloatBits(x, BFLOAT);
