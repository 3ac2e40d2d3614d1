/** Deterministic test data for the kernel tests: uniform(lo, hi) float32 values from an xorshift32 stream. */
export const uniform = (n: number, seed: number, lo = -1, hi = 1): Float32Array => {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 2 ** 32) * (hi - lo);
  }
  return out;
};
