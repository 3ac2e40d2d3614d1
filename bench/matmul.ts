/**
 * Matmul throughput of a backend's kernel, measured honestly:
 * - inputs are fixed pseudo-random float32 data (the same for every backend);
 * - warm-up calls first (JIT tiers, WebAssembly memory growth), at least `warmupMs` of them;
 * - then timed repeats until `minTimeMs` has passed (at least `minReps`, at most `maxReps`), and the
 *   median is reported, as wall time and as process CPU time: this machine is shared, and CPU time
 *   shows what the kernel costs when the wall clock also counts waiting for a core.
 * GFLOP/s counts 2·m·k·n floating-point operations per product.
 */
import type { Backend, MatmulSpec } from '../src/backend/backend.js';

export type Transpose = 'none' | 'transA' | 'transB' | 'transAB';

export const TRANSPOSES: readonly Transpose[] = ['none', 'transA', 'transB', 'transAB'];

export interface MatmulResult {
  readonly backend: string;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transpose: Transpose;
  /** Median over the timed repeats, wall clock. */
  readonly gflops: number;
  /** Median over the timed repeats, process CPU time (user + system). */
  readonly cpu_gflops: number;
  readonly ms: number;
  readonly reps: number;
}

export interface TimingOptions {
  readonly warmupMs: number;
  readonly minTimeMs: number;
  readonly minReps: number;
  readonly maxReps: number;
}

/**
 * 1.5 s of samples per product: this kind of VM changes speed every few hundred milliseconds (the
 * same one-thread 512³ product, 250 ms medians over 8 s: 27–40 GFLOP/s), so a shorter window
 * reports whichever spell it fell in.
 */
export const DEFAULT_TIMING: TimingOptions = { warmupMs: 100, minTimeMs: 1500, minReps: 3, maxReps: 400 };
export const QUICK_TIMING: TimingOptions = { warmupMs: 30, minTimeMs: 100, minReps: 3, maxReps: 20 };

/** Deterministic uniform(−1, 1) float32 data (a 32-bit LCG; no Math.random). */
export const benchData = (length: number, seed: number): Float32Array => {
  const out = new Float32Array(length);
  let s = seed >>> 0;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
};

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Timing {
  /** Median wall milliseconds per call. */
  readonly ms: number;
  /** Median CPU milliseconds per call. */
  readonly cpuMs: number;
  readonly reps: number;
}

/** Each timed sample runs `f` enough times to last about this long (timer and CPU-clock resolution). */
const SAMPLE_MS = 5;

/** Times `f`: warm-up, then samples of `inner` calls each; medians of wall and CPU time per call. */
export const time = (f: () => unknown, opts: TimingOptions): Timing => {
  const w0 = performance.now();
  let warm = 0;
  while (warm < 2 || performance.now() - w0 < opts.warmupMs) {
    f();
    warm++;
  }
  const perCall = (performance.now() - w0) / warm;
  const inner = Math.max(1, Math.ceil(SAMPLE_MS / Math.max(perCall, 1e-6)));
  const wall: number[] = [];
  const cpu: number[] = [];
  const t0 = performance.now();
  while (wall.length < opts.minReps || (performance.now() - t0 < opts.minTimeMs && wall.length < opts.maxReps)) {
    const c0 = process.cpuUsage();
    const s = performance.now();
    for (let i = 0; i < inner; i++) f();
    wall.push((performance.now() - s) / inner);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000 / inner);
  }
  return { ms: median(wall), cpuMs: median(cpu), reps: wall.length * inner };
};

export const matmulSpec = (m: number, k: number, n: number, transpose: Transpose): MatmulSpec => ({
  m,
  k,
  n,
  transA: transpose === 'transA' || transpose === 'transAB',
  transB: transpose === 'transB' || transpose === 'transAB',
  aOffsets: [0],
  bOffsets: [0],
});

/** GFLOP/s of `backend.matmul` for one m×k·k×n product (operands stored as `transpose` says). */
export const benchMatmul = (
  backend: Backend,
  m: number,
  k: number,
  n: number,
  transpose: Transpose,
  opts: TimingOptions = DEFAULT_TIMING,
): MatmulResult => {
  const a = benchData(m * k, 1);
  const b = benchData(k * n, 2);
  const spec = matmulSpec(m, k, n, transpose);
  const t = time(() => backend.matmul(a, b, spec), opts);
  const flop = 2 * m * k * n;
  return {
    backend: backend.name,
    m,
    k,
    n,
    transpose,
    gflops: round(flop / t.ms / 1e6),
    cpu_gflops: round(flop / Math.max(t.cpuMs, 1e-3) / 1e6),
    ms: round(t.ms),
    reps: t.reps,
  };
};

export const round = (x: number, digits = 3): number => Number(x.toPrecision(digits + 1));

export interface BatchedMatmulResult {
  readonly backend: string;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly batch: number;
  /** Median over the timed repeats, wall clock, all `batch` products counted. */
  readonly gflops: number;
  readonly ms: number;
  readonly reps: number;
}

/**
 * GFLOP/s of `batch` independent m×k·k×n products in one call: with at least as many batches as
 * threads a threaded backend gives each thread whole products, so nothing is shared between the
 * threads. With batch = the thread count this is the simple way to use the threads (each runs the
 * one-thread product), to compare one product split over them (benchMatmul) with.
 */
export const benchBatchedMatmul = (
  backend: Backend,
  m: number,
  k: number,
  n: number,
  batch: number,
  opts: TimingOptions = DEFAULT_TIMING,
): BatchedMatmulResult => {
  const a = benchData(batch * m * k, 1);
  const b = benchData(batch * k * n, 2);
  const spec: MatmulSpec = {
    m,
    k,
    n,
    transA: false,
    transB: false,
    aOffsets: Array.from({ length: batch }, (_, i) => i * m * k),
    bOffsets: Array.from({ length: batch }, (_, i) => i * k * n),
  };
  const t = time(() => backend.matmul(a, b, spec), opts);
  return {
    backend: backend.name,
    m,
    k,
    n,
    batch,
    gflops: round((2 * batch * m * k * n) / t.ms / 1e6),
    ms: round(t.ms),
    reps: t.reps,
  };
};
