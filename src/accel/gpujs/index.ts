/**
 * A gpu.js backend behind the project's own Backend interface.
 *
 * float32 kernels (element-wise with broadcasting, where, sum/max, argmax, matmul in all four
 * transposed forms with per-batch offsets, gather, scatterAdd) run as gpu.js kernels; everything
 * else is handed explicitly to the tuned JS kernels of the js backend, and every hand-over is counted by reason:
 *
 * - float64 and int32 data (gpu.js is single precision: never lose precision silently);
 * - movement and casts (permute, slice, pad, concat, cast): copies, where a kernel buys nothing;
 * - inputs holding NaN or ±Infinity, or outside an op's safe domain (log/rsqrt of x < 2^-126,
 *   sqrt of x < 0, exp of x ≥ 88, division by zero, atan2(0, 0)): what happens there differs by
 *   gpu.js mode, and the reference defines it;
 * - out-of-range gather ids, arrays of 2^24 or more values (indices must be exact in float32),
 *   empty results, and results smaller than `minElements`.
 *
 * The gpu.js mode is chosen explicitly and the class that really runs is reported: gpu.js quietly
 * falls back to its WebAssembly kernel under `mode: 'gpu'` when no GL context exists, and a kernel
 * may fall back to the CPU kernel at build time. `kernelClass` is the class gpu.js chose; the
 * classes that actually computed are counted per call in `stats().ranOn`.
 *
 * Kernels are specialised to literal shapes (see kernels.ts), compiled on first use, kept in a
 * least-recently-used cache and destroyed on eviction and in `close()`.
 */
import { GPU } from 'gpu.js';
import type { TypedArray } from '../../core/dtype.js';
import type { Shape } from '../../core/shape.js';
import { size } from '../../core/shape.js';
import type { Backend, BinaryOp, MatmulSpec, ReduceOp, UnaryOp } from '../../backend/backend.js';
import { jsBackend as fallback } from '../js/index.js';
import { ledger, overlay } from '../overlay.js';
import {
  argmaxSource,
  binarySource,
  gatherSource,
  matmulSource,
  reduceSource,
  scatterAddSource,
  swigluGradSource,
  swigluSource,
  rmsNormGradSource,
  rmsNormSource,
  unarySource,
  whereSource,
} from './kernels.js';
import { collapse, flatten, layoutKey, outputOf } from './layout.js';

/** gpu.js modes this backend accepts ('wasm' is accepted as an alias of gpu.js's 'webasm'). */
export type GpuJsMode = 'cpu' | 'webasm' | 'gpu' | 'headlessgl' | 'webgl2' | 'webgl';

export const gpuJsModes: readonly GpuJsMode[] = ['cpu', 'webasm', 'gpu', 'headlessgl', 'webgl2', 'webgl'];

/** Parses a mode name (e.g. from TRM_GPUJS_MODE or a CLI flag); 'wasm' means 'webasm'. */
export const parseGpuJsMode = (s: string): GpuJsMode => {
  const m = s.trim().toLowerCase();
  if (m === 'wasm' || m === 'webassembly') return 'webasm';
  if ((gpuJsModes as readonly string[]).includes(m)) return m as GpuJsMode;
  throw new Error(`gpujs: unknown mode '${s}' (one of ${gpuJsModes.join(', ')}, or wasm)`);
};

/** Kernel classes that compute on a graphics device (everything else runs on the CPU). */
export const gpuKernelClasses: readonly string[] = ['HeadlessGLKernel', 'WebGLKernel', 'WebGL2Kernel', 'WebGPUKernel'];

export interface GpuJsBackendOptions {
  /** The gpu.js mode; chosen explicitly, there is no silent default. */
  readonly mode: GpuJsMode | 'wasm';
  /** Throw at construction unless gpu.js picked a kernel class that runs on a graphics device. */
  readonly requireGpu?: boolean;
  /** Compiled kernels kept (least recently used evicted and destroyed); default 256. */
  readonly maxCachedKernels?: number;
  /** Bound on the argument and output values (float32) of all cached kernels together, since
   *  WebAssembly and GL kernels keep memory of that size; default 2^26 (256 MiB). */
  readonly maxCachedValues?: number;
  /** Results with fewer values go to the fallback (js backend) kernels (kernel-call overhead); default 0. */
  readonly minElements?: number;
}

export interface GpuJsStats {
  /** op → calls computed by a gpu.js kernel. */
  readonly gpujs: Readonly<Record<string, number>>;
  /** 'op:reason' → calls handed to the fallback (the tuned JS kernels of the js backend). */
  readonly delegated: Readonly<Record<string, number>>;
  /** kernel class → gpu.js kernel calls it computed (read after each call, so fallbacks show). */
  readonly ranOn: Readonly<Record<string, number>>;
  readonly compiled: number;
  readonly destroyed: number;
  readonly cached: number;
  /** Argument and output values held by the cached kernels. */
  readonly cachedValues: number;
  /** Kernels gpu.js itself still holds (0 after close). */
  readonly liveKernels: number;
  readonly closed: boolean;
}

export interface GpuJsBackend extends Backend {
  /** The mode asked for. */
  readonly mode: GpuJsMode;
  /** The kernel class gpu.js chose for that mode (e.g. CPUKernel, WebAssemblyKernel, HeadlessGLKernel). */
  readonly kernelClass: string;
  /** Whether `kernelClass` computes on a graphics device. */
  readonly onGpu: boolean;
  stats(): GpuJsStats;
}

// ---------------------------------------------------------------------------------------------
// The slice of gpu.js this file relies on (its own typings are broader than what we call).

interface KernelLike {
  readonly constructor: { readonly name: string };
  readonly context?: unknown;
  destroy(removeCanvasReferences?: boolean): void;
}

interface KernelClassLike {
  readonly name: string;
  destroyContext?(context: unknown): void;
}

interface Shortcut {
  (...args: Float32Array[]): unknown;
  readonly kernel: KernelLike;
}

interface GpuLike {
  readonly Kernel: KernelClassLike | null;
  readonly kernels: KernelLike[];
  createKernel(source: string, settings: Record<string, unknown>): Shortcut;
}

interface Entry {
  readonly kernel: Shortcut;
  readonly argLengths: readonly number[];
  readonly n: number;
  /** Values held: arguments plus output. */
  readonly footprint: number;
}

/** Largest array length whose indices float32 represents exactly. */
const MAX_EXACT = 1 << 24;
/** Smallest normal float32: below it GPUs may flush to zero. */
const FLT_MIN = 2 ** -126;
/** exp(x) overflows float32 from x ≈ 88.72. */
const EXP_MAX = 88;

const allFinite = (x: Float32Array): boolean => {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return false;
  return true;
};

const minMax = (x: Float32Array): { min: number; max: number; finite: boolean } => {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    if (!Number.isFinite(v)) return { min, max, finite: false };
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max, finite: true };
};

const hasZero = (x: Float32Array): boolean => x.includes(0);

const describeMissing = (mode: GpuJsMode): string =>
  mode === 'headlessgl'
    ? 'it needs the optional `gl` package built (apt packages libxi-dev libgl-dev, then `npm rebuild gl`) and an X display (run under `xvfb-run -a`, apt packages xvfb xauth); see docs/gpujs.md'
    : mode === 'webgl2' || mode === 'webgl'
      ? (globalThis as { document?: unknown }).document === undefined
        ? 'WebGL needs a browser (or OffscreenCanvas)'
        : `this browser gives no ${mode === 'webgl2' ? 'WebGL2' : 'WebGL'} context`
      : 'this platform does not provide it';

/** Builds the gpu.js backend. Cheap: kernels are compiled on first use. */
export const createGpuJsBackend = (opts: GpuJsBackendOptions): GpuJsBackend => {
  const mode = parseGpuJsMode(opts.mode);
  const maxCached = Math.max(1, Math.floor(opts.maxCachedKernels ?? 256));
  const maxValues = Math.max(1, opts.maxCachedValues ?? 2 ** 26);
  const minElements = Math.max(0, opts.minElements ?? 0);

  let gpu: GpuLike;
  try {
    gpu = new GPU({ mode }) as unknown as GpuLike;
  } catch (e) {
    throw new Error(`gpujs: mode '${mode}' is not available here: ${describeMissing(mode)} (${(e as Error).message})`);
  }
  const kernelClass = gpu.Kernel?.name ?? 'unknown';
  const onGpu = gpuKernelClasses.includes(kernelClass);
  if (opts.requireGpu === true && !onGpu) {
    throw new Error(`gpujs: mode '${mode}' runs on ${kernelClass}, not on a graphics device (requireGpu)`);
  }

  const cache = new Map<string, Entry>();
  const ranOn: Record<string, number> = {};
  let cachedValues = 0;
  let compiled = 0;
  let destroyed = 0;
  let closed = false;

  const bump = (rec: Record<string, number>, key: string): void => {
    rec[key] = (rec[key] ?? 0) + 1;
  };

  const checkOpen = (op: string): void => {
    if (closed) throw new Error(`gpujs: ${op} called after close()`);
  };
  const calls = ledger(checkOpen);
  const { delegate } = calls;

  /**
   * Destroys one kernel. `final` only in close(): a GL kernel destroyed with its canvas references
   * also drops the canvas's shared drawing-buffer size, and the kernels still alive on that
   * context then draw into a wrongly sized buffer (seen on headlessgl as wrong results right
   * after the first cache eviction).
   */
  const destroyKernel = (k: KernelLike, final: boolean): void => {
    k.destroy(final);
    // Not every kernel class removes itself from gpu.kernels (CPUKernel does not).
    const i = gpu.kernels.indexOf(k);
    if (i !== -1) gpu.kernels.splice(i, 1);
    destroyed++;
  };

  /**
   * Runs the cached kernel for `key` (compiling `source()` on a miss) on `args`, whose lengths are
   * part of the key and checked before every call: gpu.js must never see an argument it was not
   * compiled for. Returns the `n` results as a fresh flat Float32Array.
   */
  const run = (
    op: string,
    key: string,
    source: () => string,
    output: readonly number[],
    args: readonly Float32Array[],
    loopMaxIterations = 1000,
  ): Float32Array => {
    checkOpen(op);
    const n = output.reduce((a, b) => a * b, 1);
    let entry = cache.get(key);
    if (entry === undefined) {
      const kernel = gpu.createKernel(source(), {
        output: [...output],
        precision: 'single',
        tactic: 'precision',
        returnType: 'Number',
        loopMaxIterations,
        dynamicOutput: false,
        dynamicArguments: false,
        pipeline: false,
        immutable: false,
      });
      compiled++;
      const argLengths = args.map((a) => a.length);
      entry = { kernel, argLengths, n, footprint: n + argLengths.reduce((a, b) => a + b, 0) };
      cache.set(key, entry);
      cachedValues += entry.footprint;
      // Evict the least recently used (never the kernel about to run).
      while (cache.size > maxCached || (cachedValues > maxValues && cache.size > 1)) {
        const oldest = cache.keys().next().value as string;
        const old = cache.get(oldest)!;
        cache.delete(oldest);
        cachedValues -= old.footprint;
        destroyKernel(old.kernel.kernel, false);
      }
    } else {
      // Most recently used goes last.
      cache.delete(key);
      cache.set(key, entry);
    }
    if (
      entry.n !== n ||
      entry.argLengths.length !== args.length ||
      args.some((a, i) => !(a instanceof Float32Array) || a.length !== entry.argLengths[i])
    ) {
      throw new Error(`gpujs: internal error: arguments do not match the kernel compiled for '${key}'`);
    }
    let result: unknown;
    try {
      result = entry.kernel(...args);
    } catch (e) {
      // Never keep a kernel that failed to build or run.
      cache.delete(key);
      cachedValues -= entry.footprint;
      destroyKernel(entry.kernel.kernel, false);
      throw new Error(
        `gpujs: ${op} kernel '${key}' failed on ${entry.kernel.kernel.constructor.name}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    bump(ranOn, entry.kernel.kernel.constructor.name);
    calls.computed(op);
    return flatten(result, n);
  };

  /** Shared guards: null when a gpu.js kernel may run, else the reason to delegate. */
  const guard = (outSize: number, inputs: readonly TypedArray[]): string | null => {
    if (!inputs.every((x) => x instanceof Float32Array)) return 'dtype';
    if (outSize === 0 || inputs.some((x) => x.length === 0)) return 'empty';
    if (outSize >= MAX_EXACT || inputs.some((x) => x.length >= MAX_EXACT)) return 'size';
    if (outSize < minElements) return 'small';
    return null;
  };

  const unary = (op: UnaryOp, x: TypedArray): TypedArray => {
    const g = guard(x.length, [x]);
    if (g !== null) return delegate(op, g, () => fallback.unary(op, x));
    const f = x as Float32Array;
    const { min, max, finite } = minMax(f);
    if (!finite) return delegate(op, 'nonfinite', () => fallback.unary(op, x));
    const inDomain =
      op === 'log' || op === 'rsqrt' ? min >= FLT_MIN : op === 'sqrt' ? min >= 0 : op === 'exp' ? max < EXP_MAX : true;
    if (!inDomain) return delegate(op, 'domain', () => fallback.unary(op, x));
    return run(op, `unary:${op}:${f.length}`, () => unarySource(op), [f.length], [f]);
  };

  const binary = (
    op: BinaryOp,
    a: TypedArray,
    aShape: Shape,
    b: TypedArray,
    bShape: Shape,
    outShape: Shape,
  ): TypedArray => {
    const ref = (): TypedArray => fallback.binary(op, a, aShape, b, bShape, outShape);
    const n = size(outShape);
    const g = guard(n, [a, b]);
    if (g !== null) return delegate(op, g, ref);
    const fa = a as Float32Array;
    const fb = b as Float32Array;
    if (!allFinite(fa) || !allFinite(fb)) return delegate(op, 'nonfinite', ref);
    if ((op === 'div' && hasZero(fb)) || (op === 'atan2' && hasZero(fa) && hasZero(fb)))
      return delegate(op, 'domain', ref);
    const layout = collapse(outShape, [aShape, bShape]);
    return run(
      op,
      `binary:${op}:${layoutKey(layout)}:${fa.length}:${fb.length}`,
      () => binarySource(op, layout),
      outputOf(layout.dims),
      [fa, fb],
    );
  };

  const where = (
    c: TypedArray,
    cShape: Shape,
    a: TypedArray,
    aShape: Shape,
    b: TypedArray,
    bShape: Shape,
    outShape: Shape,
  ): TypedArray => {
    const ref = (): TypedArray => fallback.where(c, cShape, a, aShape, b, bShape, outShape);
    const n = size(outShape);
    const g = guard(n, [a, b]) ?? (c.length === 0 ? 'empty' : c.length >= MAX_EXACT ? 'size' : null);
    if (g !== null) return delegate('where', g, ref);
    const fa = a as Float32Array;
    const fb = b as Float32Array;
    if (!allFinite(fa) || !allFinite(fb)) return delegate('where', 'nonfinite', ref);
    // The condition, of any dtype, becomes a 0/1 float mask (c ≠ 0, NaN counting as true).
    const mask = new Float32Array(c.length);
    for (let i = 0; i < c.length; i++) mask[i] = c[i] !== 0 ? 1 : 0;
    const layout = collapse(outShape, [cShape, aShape, bShape]);
    return run(
      'where',
      `where:${layoutKey(layout)}:${mask.length}:${fa.length}:${fb.length}`,
      () => whereSource(layout),
      outputOf(layout.dims),
      [mask, fa, fb],
    );
  };

  const reduce = (op: ReduceOp, x: TypedArray, outer: number, n: number, inner: number): TypedArray => {
    const ref = (): TypedArray => fallback.reduce(op, x, outer, n, inner);
    const g = guard(outer * inner, [x]) ?? (n === 0 ? 'empty' : null);
    if (g !== null) return delegate(op, g, ref);
    const f = x as Float32Array;
    if (!allFinite(f)) return delegate(op, 'nonfinite', ref);
    return run(op, `reduce:${op}:${outer}:${n}:${inner}`, () => reduceSource(op, n, inner), [inner, outer], [f], n + 1);
  };

  const argmax = (x: TypedArray, outer: number, n: number, inner: number): Int32Array => {
    const ref = (): Int32Array => fallback.argmax(x, outer, n, inner);
    const g = guard(outer * inner, [x]) ?? (n === 0 ? 'empty' : null);
    if (g !== null) return delegate('argmax', g, ref);
    const f = x as Float32Array;
    if (!allFinite(f)) return delegate('argmax', 'nonfinite', ref);
    const idx = run(
      'argmax',
      `argmax:${outer}:${n}:${inner}`,
      () => argmaxSource(n, inner),
      [inner, outer],
      [f],
      n + 1,
    );
    const out = new Int32Array(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = Math.round(idx[i]!);
    return out;
  };

  const matmul = (a: TypedArray, b: TypedArray, spec: MatmulSpec): TypedArray => {
    const ref = (): TypedArray => fallback.matmul(a, b, spec);
    const { m, k, n, transA, transB, aOffsets, bOffsets } = spec;
    const batch = aOffsets.length;
    const g = guard(batch * m * n, [a, b]) ?? (k === 0 ? 'empty' : null);
    if (g !== null) return delegate('matmul', g, ref);
    if (bOffsets.length !== batch)
      throw new Error(`gpujs: matmul: ${batch} A offsets but ${bOffsets.length} B offsets`);
    const fa = a as Float32Array;
    const fb = b as Float32Array;
    const offs = new Float32Array(2 * batch);
    for (let i = 0; i < batch; i++) {
      const ao = aOffsets[i]!;
      const bo = bOffsets[i]!;
      const inA = Number.isInteger(ao) && ao >= 0 && ao + m * k <= fa.length;
      const inB = Number.isInteger(bo) && bo >= 0 && bo + k * n <= fb.length;
      if (!inA || !inB) return delegate('matmul', 'bounds', ref);
      offs[2 * i] = ao;
      offs[2 * i + 1] = bo;
    }
    if (!allFinite(fa) || !allFinite(fb)) return delegate('matmul', 'nonfinite', ref);
    return run(
      'matmul',
      `matmul:${m}:${k}:${n}:${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}:${batch}:${fa.length}:${fb.length}`,
      () => matmulSource(m, k, n, transA, transB),
      [n, m, batch],
      [fa, fb, offs],
      k + 1,
    );
  };

  const gather = (table: TypedArray, rows: number, cols: number, ids: Int32Array): TypedArray => {
    const ref = (): TypedArray => fallback.gather(table, rows, cols, ids);
    const g = guard(ids.length * cols, [table]);
    if (g !== null) return delegate('gather', g, ref);
    if (table.length !== rows * cols || ids.length >= MAX_EXACT) return delegate('gather', 'bounds', ref);
    const fids = new Float32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < rows)) return delegate('gather', 'bounds', ref);
      fids[i] = id;
    }
    const ft = table as Float32Array;
    if (!allFinite(ft)) return delegate('gather', 'nonfinite', ref);
    return run(
      'gather',
      `gather:${rows}:${cols}:${ids.length}`,
      () => gatherSource(cols),
      [cols, ids.length],
      [ft, fids],
    );
  };

  const scatterAdd = (values: TypedArray, ids: Int32Array, rows: number, cols: number): TypedArray => {
    const ref = (): TypedArray => fallback.scatterAdd(values, ids, rows, cols);
    const g = guard(rows * cols, [values]);
    if (g !== null) return delegate('scatterAdd', g, ref);
    if (values.length !== ids.length * cols || ids.length >= MAX_EXACT) return delegate('scatterAdd', 'bounds', ref);
    const fv = values as Float32Array;
    if (!allFinite(fv)) return delegate('scatterAdd', 'nonfinite', ref);
    // Group the source rows by destination (counting sort, stable): ids outside [0, rows) are
    // dropped, as the reference drops them.
    const count = new Int32Array(rows);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= 0 && id < rows) count[id]!++;
    }
    let maxCount = 0;
    const meta = new Float32Array(2 * rows);
    const next = new Int32Array(rows);
    let at = 0;
    for (let r = 0; r < rows; r++) {
      meta[2 * r] = at;
      meta[2 * r + 1] = count[r]!;
      next[r] = at;
      at += count[r]!;
      if (count[r]! > maxCount) maxCount = count[r]!;
    }
    if (maxCount === 0) return delegate('scatterAdd', 'empty', ref);
    const order = new Float32Array(at);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id >= 0 && id < rows) order[next[id]!++] = i;
    }
    // The loop bound is an argument: lift gpu.js's cut above the largest count (rounded up to a
    // power of two so that similar batches share a kernel).
    let loopMax = 1024;
    while (loopMax <= maxCount) loopMax *= 2;
    return run(
      'scatterAdd',
      `scatterAdd:${rows}:${cols}:${ids.length}:${at}:${loopMax}`,
      () => scatterAddSource(cols),
      [cols, rows],
      [fv, order, meta],
      loopMax,
    );
  };

  /** SwiGLU's fused gate and its VJP, one thread per output value (finite inputs only). */
  const swiglu = (h: TypedArray, rows: number, inter: number): TypedArray => {
    const ref = (): TypedArray => fallback.swiglu(h, rows, inter);
    const g = guard(rows * inter, [h]);
    if (g !== null) return delegate('swiglu', g, ref);
    const fh = h as Float32Array;
    if (!allFinite(fh)) return delegate('swiglu', 'nonfinite', ref);
    return run('swiglu', `swiglu:${rows}:${inter}`, () => swigluSource(inter), [inter, rows], [fh]);
  };

  const swigluGrad = (gr: TypedArray, h: TypedArray, rows: number, inter: number): TypedArray => {
    const ref = (): TypedArray => fallback.swigluGrad(gr, h, rows, inter);
    const g = guard(rows * 2 * inter, [gr, h]);
    if (g !== null) return delegate('swigluGrad', g, ref);
    const [fg, fh] = [gr as Float32Array, h as Float32Array];
    if (!allFinite(fg) || !allFinite(fh)) return delegate('swigluGrad', 'nonfinite', ref);
    return run('swigluGrad', `swigluGrad:${rows}:${inter}`, () => swigluGradSource(inter), [2 * inter, rows], [fg, fh]);
  };

  /** RMS norm and its VJP: one thread per output value, each summing its row (rows up to 4 096). */
  const rmsNorm = (x: TypedArray, rows: number, n: number, eps: number): TypedArray => {
    const ref = (): TypedArray => fallback.rmsNorm(x, rows, n, eps);
    const g = guard(rows * n, [x]);
    if (g !== null) return delegate('rmsNorm', g, ref);
    if (n > 4096) return delegate('rmsNorm', 'size', ref);
    const fx = x as Float32Array;
    if (!allFinite(fx)) return delegate('rmsNorm', 'nonfinite', ref);
    return run('rmsNorm', `rmsNorm:${rows}:${n}:${eps}`, () => rmsNormSource(n, eps), [n, rows], [fx], n + 1);
  };

  const rmsNormGrad = (gr: TypedArray, x: TypedArray, rows: number, n: number, eps: number): TypedArray => {
    const ref = (): TypedArray => fallback.rmsNormGrad(gr, x, rows, n, eps);
    const g = guard(rows * n, [gr, x]);
    if (g !== null) return delegate('rmsNormGrad', g, ref);
    if (n > 4096) return delegate('rmsNormGrad', 'size', ref);
    const [fg, fx] = [gr as Float32Array, x as Float32Array];
    if (!allFinite(fg) || !allFinite(fx)) return delegate('rmsNormGrad', 'nonfinite', ref);
    return run(
      'rmsNormGrad',
      `rmsNormGrad:${rows}:${n}:${eps}`,
      () => rmsNormGradSource(n, eps),
      [n, rows],
      [fg, fx],
      n + 1,
    );
  };

  const close = (): void => {
    if (closed) return;
    closed = true;
    const contexts = new Set<unknown>();
    for (const e of cache.values()) if (e.kernel.kernel.context) contexts.add(e.kernel.kernel.context);
    for (const k of gpu.kernels) if (k.context) contexts.add(k.context);
    for (const e of cache.values()) destroyKernel(e.kernel.kernel, true);
    cache.clear();
    cachedValues = 0;
    // Kernels gpu.js made on its own (argument-type switches, CPU fallbacks).
    for (const k of gpu.kernels.slice()) destroyKernel(k, true);
    for (const c of contexts) gpu.Kernel?.destroyContext?.(c);
  };

  const stats = (): GpuJsStats => ({
    gpujs: calls.computedCounts(),
    delegated: calls.delegatedCounts(),
    ranOn: { ...ranOn },
    compiled,
    destroyed,
    cached: cache.size,
    cachedValues,
    liveKernels: gpu.kernels.length,
    closed,
  });

  return overlay({
    name: `gpujs:${kernelClass}`,
    fallback,
    ledger: calls,
    own: { unary, binary, where, reduce, argmax, matmul, gather, scatterAdd, swiglu, swigluGrad, rmsNorm, rmsNormGrad },
    // Data movement (permute, slice, pad, concat, cast) costs a GPU round trip for no arithmetic.
    reasonOf: () => 'movement',
    close,
    extra: { mode, kernelClass, onGpu, stats },
  });
};
