/**
 * A sequential stream of random draws from one explicit key (src/random), for the hot loops of the
 * generators and builders: uniforms are drawn in chunks of `CHUNK` from `foldIn(key, chunkIndex)`, so a
 * stream is a pure function of its key (same key, same draws), and no global RNG is ever touched.
 * The mutable cursor is local to the function that creates the stream.
 */
import { foldIn, uniformArray } from '../random/index.js';

export type Key = Parameters<typeof foldIn>[0];

export interface Draws {
  /** Uniform in [0, 1). */
  readonly uniform: () => number;
  /** Uniform integer in [lo, hi) (NumPy's `randint(lo, hi)`). */
  readonly int: (lo: number, hi: number) => number;
  /** A uniform random permutation of 0..n-1 (Fisher–Yates). */
  readonly permutation: (n: number) => Int32Array;
  /** True with probability p. */
  readonly bernoulli: (p: number) => boolean;
}

const CHUNK = 1024;

export const draws = (k: Key): Draws => {
  let chunkIndex = 0;
  let chunk: ArrayLike<number> = uniformArray(foldIn(k, 0), CHUNK);
  let pos = 0;
  const uniform = (): number => {
    if (pos === CHUNK) {
      chunkIndex += 1;
      chunk = uniformArray(foldIn(k, chunkIndex), CHUNK);
      pos = 0;
    }
    const u = chunk[pos++] ?? 0;
    return u;
  };
  const int = (lo: number, hi: number): number => {
    if (hi <= lo) throw new Error(`draws.int: empty range [${lo}, ${hi})`);
    return Math.min(hi - 1, lo + Math.floor(uniform() * (hi - lo)));
  };
  const permutation = (n: number): Int32Array => {
    const p = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = int(0, i + 1);
      const t = p[i] ?? 0;
      p[i] = p[j] ?? 0;
      p[j] = t;
    }
    return p;
  };
  return { uniform, int, permutation, bernoulli: (p) => uniform() < p };
};
