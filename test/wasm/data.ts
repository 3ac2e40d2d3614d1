/** Deterministic test data for the kernel tests: uniform float32 values from an xorshift32 stream. */
export const uniform = (n: number, seed: number, lo: number, hi: number): Float32Array => {
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
