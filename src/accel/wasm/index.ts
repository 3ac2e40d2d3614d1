/**
 * A fast float32 CPU backend: WebAssembly SIMD kernels behind the project's Backend interface.
 *
 * What runs in WebAssembly (float32 only):
 * - matmul, all four transposed forms, with per-batch offsets: packed GotoBLAS-style blocking and a
 *   register-blocked f32x4 micro-kernel (kernels.ts). Accumulation is in float32, so results differ
 *   from the reference (which sums in doubles and rounds once) by float32 rounding, ~k·2⁻²⁴ relative
 *   to Σ|a||b|.
 * - binary add, sub, mul, div when the operands have equal size, one is a scalar, one repeats along
 *   the leading axes (a trailing-axis broadcast such as a bias), or one has a size-1 last axis
 *   ([..., D] ∘ [..., 1], as in RMS norm), either way round. These match the reference bit for bit.
 * - unary neg, abs, sqrt (bit for bit), rsqrt (≤ 1 ulp), exp, sigmoid, silu (a Cephes-style
 *   polynomial exp; ≤ 1, 2, 3 ulps measured against the reference over millions of values).
 * - SwiGLU's fused gate silu(a)·u over rows [a | u] and its VJP, when the half width is a multiple
 *   of 4 (σ as in unary sigmoid; within a few ulps of the reference's double evaluation).
 * - RMS norm over rows and its VJP (sums of squares in four float32 lanes; the reference sums in
 *   doubles, so results differ by float32 rounding, ~n·2⁻²⁴ relative).
 * - `where` with full operands and a per-block condition (e.g. [B, 1, 1] over [B, S, D]) is done
 *   here too, by block copies in JS (no arithmetic: bit for bit), and counted as `where`.
 *
 * Element-wise work streams through WebAssembly memory in chunks (CHUNK values): copy a chunk in,
 * compute in place, copy it out into the fresh result; the copies stay in cache whatever the size.
 *
 * Everything else is handed explicitly to the tuned JS kernels of the js backend (`accel/js`, bit for bit the reference's results up to summation order), and each hand-over
 * is counted by reason in `stats().delegated`:
 * - `dtype`: float64 and int32 data (the kernels are float32; never lose precision silently);
 * - `op`: kernels not accelerated here (log, sign, sin, cos, reductions, argmax, movement, gather,
 *   scatterAdd, cast, and binary ops other than add/sub/mul/div);
 * - `broadcast`: binary / where layouts other than the ones above;
 * - `small`: results under `minElements` values, products under `minMatmulFlops` multiply-adds, or
 *   `where` blocks under 16 values, where the overhead costs more than it saves;
 * - `size`: work that would need more than `maxMemoryBytes` of WebAssembly memory.
 *
 * State: each backend owns one WebAssembly.Memory (the kernels' constant table at its start, the
 * shared products' counters, then one set of packing buffers per thread), grown on demand to the
 * largest call so far and reused. Inputs are copied into it, results are copied out into fresh
 * typed arrays: nothing a caller holds ever aliases the backend's memory, and no call depends on an
 * earlier one.
 *
 * Threads (Node only; `createThreadedWasmBackend`, or `threads` > 1 with a Worker constructor):
 * the memory is then a shared one (the module's import is made shared, see asm.ts), and threads − 1
 * workers instantiate the same compiled module on it. A product of at least `minSplitFlops`
 * multiply-adds is shared by every ready thread (threads.ts: whole batches each when there are
 * enough, else all threads on each block of B, taking row-block units from a shared counter; tiles
 * and summation order are the undivided product's, so results are bit-identical to one thread's);
 * the calling thread copies in, takes its share, waits for the workers (Atomics), and copies out.
 * SwiGLU's fused gate and its VJP (row-wise: `swiglu`, `swiglu_grad`), and RMS norm and its VJP,
 * are split by rows once an operand has `minSplitElements` values. Everything else runs on the
 * calling thread. With one thread (the default) nothing of this exists: an unshared memory and no
 * workers, as a browser page without cross-origin isolation needs.
 */
import type { TypedArray } from '../../core/dtype.js';
import type { Shape } from '../../core/shape.js';
import { size } from '../../core/shape.js';
import type { Backend, BinaryOp, MatmulSpec, UnaryOp } from '../../backend/backend.js';
import { jsBackend as fallback } from '../js/index.js';
import { ledger, overlay } from '../overlay.js';
import { withSharedMemory } from './asm.js';
import {
  CONST_BYTES,
  CONSTS,
  type ElementwiseOp,
  type KernelExports,
  MR,
  NR,
  UNARY_OPS,
  type WasmUnaryOp,
  kernelModuleBytes,
} from './kernels.js';
import {
  type KernelCall,
  type ProductLayout,
  type Scratch,
  type SharedJob,
  SYNC as SYNC_INDEX,
  SYNC_WORDS,
  type WorkerConstructor,
  type WorkerPool,
  gemmPart,
  maxSharedUnits,
  splitJobs,
  startWorkers,
} from './threads.js';

/** Cache blocking of the product: a KC×NC block of B and an MC×KC block of A are packed at a time. */
export const KC = 256;
export const MC = 128;
export const NC = 1024;

const PAGE = 65536;
/** The most memory a backend may have: addresses stay positive i32s (the kernels compare signed). */
const MAX_MEMORY_BYTES = 2 ** 31 - PAGE;

/** Values per chunk of element-wise work: 64 KiB per operand, so the copies in and out stay in L2. */
export const CHUNK = 16384;

export interface WasmBackendOptions {
  /** Element-wise results with fewer values go to the fallback (js backend) kernels; default 256. */
  readonly minElements?: number;
  /** Products with fewer multiply-adds (batch·m·k·n) go to the fallback (js backend) kernel; default 4096. */
  readonly minMatmulFlops?: number;
  /** Upper bound on the WebAssembly memory this backend may grow to; default 2 GiB − 64 KiB. */
  readonly maxMemoryBytes?: number;
  /** Element-wise work streams through WebAssembly memory this many values at a time; default
   *  CHUNK (16384). Smaller values exist for tests of the multi-chunk path. */
  readonly chunkElements?: number;
  /** Threads computing a large product, the calling one included; default 1 (no workers). More
   *  needs `Worker` (createThreadedWasmBackend passes node:worker_threads' one). */
  readonly threads?: number;
  /** The Worker constructor of node:worker_threads (or a test's stand-in); needed for threads > 1. */
  readonly Worker?: WorkerConstructor;
  /** Products with at least this many multiply-adds are split over the threads; default 2²⁰ (below
   *  that, waking a worker, ~15 µs, costs about what it saves). */
  readonly minSplitFlops?: number;
  /** Build the product's micro-kernel on f32x4.relaxed_madd (fused multiply-add where the CPU has
   *  one). Default: whenever the runtime has relaxed SIMD (`relaxedSimdSupported`). Products then
   *  round differently from the mul + add build (once per multiply-add instead of twice), within
   *  the same float32 tolerance of the reference; a given build on a given CPU is deterministic. */
  readonly fma?: boolean;
  /** Row-wise kernel jobs (SwiGLU's gate) of at least this many values per operand are split
   *  between the threads by rows; default 2^16. */
  readonly minSplitElements?: number;
  /** A worker still busy this long after the calling thread finished its own part counts as hung:
   *  the product throws, and the worker is stopped. Default 60 000 ms (or 10× the calling
   *  thread's part, if longer). */
  readonly workerTimeoutMs?: number;
}

export interface WasmStats {
  /** op → calls computed in WebAssembly. */
  readonly wasm: Readonly<Record<string, number>>;
  /** 'op:reason' → calls handed to the fallback (the tuned JS kernels of the js backend). */
  readonly delegated: Readonly<Record<string, number>>;
  /** Current size of the backend's WebAssembly memory. */
  readonly memoryBytes: number;
  /** Threads a product may be split over, the calling one included (the `threads` option). */
  readonly threads: number;
  /** Of these, the ones usable now: the calling thread and the workers that are ready and alive. */
  readonly threadsReady: number;
  /** Whether products use the relaxed-SIMD fused multiply-add build (the `fma` option). */
  readonly fma: boolean;
  /** Products that ran split over more than one thread. */
  readonly splitMatmuls: number;
  /** Row-wise kernel jobs (SwiGLU's gate and its VJP) that ran split between the threads. */
  readonly splitCalls: number;
}

export interface WasmBackend extends Backend {
  stats(): WasmStats;
  /** Settles once every worker has started (or failed to); at once with one thread. Products
   *  before then run on the threads ready at the time. */
  ready(): Promise<void>;
}

/** The slice of the WebAssembly JS API used here, typed locally: the project's lib is ES2022
 *  without DOM, and @types/node 20 does not declare the WebAssembly global. */
interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  readonly Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Assembled bytes and compiled modules, once per process: [fma] → bytes, `${fma} ${shared}` → module. */
const bytesCache = new Map<boolean, Uint8Array>();
const moduleCache = new Map<string, object>();

const moduleBytes = (fma: boolean): Uint8Array => {
  let b = bytesCache.get(fma);
  if (b === undefined) {
    b = kernelModuleBytes({ fma });
    bytesCache.set(fma, b);
  }
  return b;
};

/**
 * The kernel module, compiled once per process; `shared`: the same kernels importing a shared
 * memory of up to MAX_MEMORY_BYTES, for threads.
 */
const kernelModule = (api: WasmApi, fma: boolean, shared: boolean): object => {
  const key = `${fma} ${shared}`;
  let m = moduleCache.get(key);
  if (m === undefined) {
    m = new api.Module(shared ? withSharedMemory(moduleBytes(fma), MAX_MEMORY_BYTES / PAGE) : moduleBytes(fma));
    moduleCache.set(key, m);
  }
  return m;
};

const validates = (fma: boolean): boolean => {
  try {
    return wasmApi?.validate(moduleBytes(fma)) === true;
  } catch {
    return false;
  }
};

/** Whether this runtime validates the kernel module (WebAssembly with fixed-width SIMD). */
export const wasmSimdSupported = (): boolean => validates(false);

/**
 * Whether this runtime also has relaxed SIMD, which the `fma` build of the product needs: on by
 * default in V8 ≥ 11.4 (Chrome 114, Node 22); Node 20 needs the V8 flag that
 * `enableRelaxedSimd` (relaxed-simd.ts) sets before the first module is compiled.
 */
export const relaxedSimdSupported = (): boolean => validates(true);

const align16 = (bytes: number): number => (bytes + 15) & ~15;

/**
 * The kernels' constant table sits at the start of memory, then each thread's packing buffers and
 * edge tile (thread 0 is the calling one), then the heap: the operands of the call at hand.
 */
const roundUp = (x: number, r: number): number => Math.ceil(x / r) * r;
/** The shared products' counters (SYNC_WORDS int32s), then the scratch. */
const SYNC = align16(CONSTS + CONST_BYTES);
const SCRATCH = SYNC + align16(SYNC_WORDS * 4);
const PACK_A_BYTES = align16(roundUp(MC, MR) * KC * 4);
const PACK_B_BYTES = align16(roundUp(NC, NR) * KC * 4);
const SCRATCH_BYTES = PACK_A_BYTES + PACK_B_BYTES + align16(MR * NR * 4);
const scratchOf = (thread: number): Scratch => {
  const packA = SCRATCH + thread * SCRATCH_BYTES;
  return { packA, packB: packA + PACK_A_BYTES, tile: packA + PACK_A_BYTES + PACK_B_BYTES };
};
const heapStart = (threads: number): number => SCRATCH + threads * SCRATCH_BYTES;
/** A fresh zeroed Float32Array whose pages have all been written once (one store per 4 KiB). */
const touched = (n: number): Float32Array => {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 1024) out[i] = 0;
  return out;
};
/**
 * A product for all the threads together (threads.ts gemmShared): thread t packs A into scratchOf(t),
 * and blocks of B go by turns into thread 0's and thread 1's B buffers. `flags` has room for
 * `flagCount` int32s. The pool sets the team size and each thread's number.
 */
const sharedJob = (p: ProductLayout, flags: number, flagCount: number, timeoutMs: number): SharedJob => {
  const s = scratchOf(0);
  return [
    p.table,
    p.batch,
    p.m,
    p.n,
    p.k,
    p.aI,
    p.aP,
    p.bJ,
    p.bP,
    p.ldc,
    s.packA,
    s.tile,
    SCRATCH_BYTES,
    s.packB,
    scratchOf(1).packB,
    KC,
    MC,
    NC,
    NR,
    SYNC,
    flags,
    flagCount,
    0,
    0,
    timeoutMs,
  ];
};

/**
 * Strips leading size-1 axes of `s` and tells whether the rest is a suffix of `out`: then an
 * operand of shape `s` repeats with period size(s) over the output.
 */
const isTrailingBroadcast = (s: Shape, out: Shape): boolean => {
  let i = 0;
  while (i < s.length && s[i] === 1) i++;
  const rest = s.length - i;
  if (rest > out.length) return false;
  for (let j = 0; j < rest; j++) if (s[i + j] !== out[out.length - rest + j]) return false;
  return true;
};

/**
 * Whether `s` is `out` with its last axis cut to 1 (leading size-1 axes of `out` may be missing):
 * then an operand of shape `s` holds one value per row of `out`, e.g. [..., D] ∘ [..., 1].
 */
const isColumnBroadcast = (s: Shape, out: Shape): boolean => {
  const r = out.length;
  if (s.length === 0 || s.length > r || s[s.length - 1] !== 1 || out[r - 1] === 1) return false;
  const off = r - s.length;
  for (let j = 0; j < s.length - 1; j++) if (s[j] !== out[off + j]) return false;
  for (let i = 0; i < off; i++) if (out[i] !== 1) return false;
  return true;
};

/**
 * Whether `s` is `out` with some trailing axes cut to 1 (leading size-1 axes of `out` may be
 * missing), or a single value: then each value of an operand of shape `s` covers a contiguous
 * block of `out`.
 */
const isBlockBroadcast = (s: Shape, out: Shape): boolean => {
  if (size(s) === 1) return true;
  if (s.length > out.length) return false;
  const off = out.length - s.length;
  for (let i = 0; i < off; i++) if (out[i] !== 1) return false;
  let j = 0;
  while (j < s.length && s[j] === out[off + j]) j++;
  while (j < s.length && s[j] === 1) j++;
  return j === s.length;
};

const elementwise: ReadonlySet<BinaryOp> = new Set<BinaryOp>(['add', 'sub', 'mul', 'div']);
const wasmUnary: ReadonlySet<UnaryOp> = new Set<UnaryOp>(UNARY_OPS);

const BLOCKING = { KC, MC, NC } as const;

/** The Worker constructor threads > 1 need, or an Error saying how to get one. */
const workerFor = (options: WasmBackendOptions, threads: number): WorkerConstructor => {
  if (options.Worker === undefined) {
    throw new Error(`wasm: threads: ${threads} needs a Worker constructor (in Node, use createThreadedWasmBackend)`);
  }
  if (typeof SharedArrayBuffer === 'undefined')
    throw new Error('wasm: threads need SharedArrayBuffer, which this runtime lacks');
  return options.Worker;
};

export const createWasmBackend = (options: WasmBackendOptions = {}): WasmBackend => {
  const minElements = options.minElements ?? 256;
  const minMatmulFlops = options.minMatmulFlops ?? 4096;
  const maxMemoryBytes = Math.min(options.maxMemoryBytes ?? MAX_MEMORY_BYTES, MAX_MEMORY_BYTES);
  const chunk = Math.max(1, Math.floor(options.chunkElements ?? CHUNK));
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`wasm: threads must be a positive integer, got ${threads}`);
  const minSplitFlops = options.minSplitFlops ?? 2 ** 20;
  const minSplitElements = options.minSplitElements ?? 2 ** 16;
  const workerTimeoutMs = options.workerTimeoutMs ?? 60_000;

  if (wasmApi === undefined || !wasmSimdSupported()) {
    throw new Error('wasm: this runtime has no WebAssembly with SIMD (Node ≥ 16.4 has it)');
  }
  const relaxed = relaxedSimdSupported();
  const fma = options.fma ?? relaxed;
  if (fma && !relaxed) {
    throw new Error(
      'wasm: fma needs WebAssembly relaxed SIMD, which this runtime lacks (Node 20: see enableRelaxedSimd)',
    );
  }
  const Worker = threads > 1 ? workerFor(options, threads) : null;
  /** Start of the heap, past every thread's packing buffers. */
  const HEAP = heapStart(threads);
  const initial = Math.ceil(HEAP / PAGE) + 1;
  // Threads share one memory, whose maximum is fixed when it is made (it cannot move when grown).
  let memory: WasmMemory | null =
    Worker === null
      ? new wasmApi.Memory({ initial })
      : new wasmApi.Memory({ initial, maximum: Math.max(initial, Math.floor(maxMemoryBytes / PAGE)), shared: true });
  let view = new Float32Array(memory.buffer);
  const module = kernelModule(wasmApi, fma, Worker !== null);
  const k = new wasmApi.Instance(module, { env: { memory } }).exports as KernelExports;
  // Each worker's instantiation rewrites the constant table (its data segment) with the same bytes,
  // so a kernel reading it meanwhile sees the right values either way.
  const pool: WorkerPool | null =
    Worker === null
      ? null
      : startWorkers({ Worker, workers: threads - 1, module, memory, timeoutMs: workerTimeoutMs, startupMs: 10_000 });
  /** An int32 view of the memory for the products' address tables; re-made with `view`. */
  let words: Int32Array = new Int32Array(0);
  let splitMatmuls = 0;
  let splitCalls = 0;
  /** Runs a kernel call on the calling thread. */
  const runCall = (c: KernelCall): void => (k[c.name] as (...a: number[]) => void)(...c.args);

  const live = (op: string): WasmMemory => {
    if (memory === null) throw new Error(`wasm: ${op}: the backend is closed`);
    return memory;
  };
  const calls = ledger((op) => {
    live(op);
  });
  const { delegate } = calls;

  /** Grows memory to hold `bytes` past HEAP; returns a fresh float32 view, or null if too big. */
  const reserve = (op: string, bytes: number): Float32Array | null => {
    const mem = live(op);
    const need = HEAP + bytes;
    if (need > maxMemoryBytes) return null;
    const have = mem.buffer.byteLength;
    if (need > have) mem.grow(Math.ceil((need - have) / PAGE));
    // Growing an unshared memory detaches its old buffer (length 0); a shared one keeps it, but
    // short. Either way the view's length no longer matches: re-make it only then.
    if (view.byteLength !== mem.buffer.byteLength) view = new Float32Array(mem.buffer);
    return view;
  };

  const matmul = (a: TypedArray, b: TypedArray, spec: MatmulSpec): TypedArray => {
    const run = (): TypedArray => fallback.matmul(a, b, spec);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return delegate('matmul', 'dtype', run);
    const { m, k: kk, n, transA, transB } = spec;
    const batch = spec.aOffsets.length;
    const outLen = batch * m * n;
    if (outLen === 0 || kk === 0) {
      live('matmul');
      calls.computed('matmul');
      return new Float32Array(outLen);
    }
    if (batch * m * n * kk < minMatmulFlops) return delegate('matmul', 'small', run);
    const aAt = HEAP;
    const bAt = aAt + align16(a.length * 4);
    const cAt = bAt + align16(b.length * 4);
    const tableAt = cAt + align16(outLen * 4);
    const parts = pool !== null && batch * m * n * kk >= minSplitFlops ? 1 + pool.readyCount() : 1;
    // Fewer batches than threads: all threads share each block (gemmShared), with a flag per unit.
    const shared = parts > 1 && batch < parts;
    const flagsAt = tableAt + align16(batch * 12);
    const flagCount = shared ? maxSharedUnits(m, MC, parts) : 0;
    const f32 = reserve('matmul', flagsAt + flagCount * 4 - HEAP);
    if (f32 === null) return delegate('matmul', 'size', run);
    calls.computed('matmul');
    f32.set(b, bAt >> 2);
    // Where each batch's A, B and C start, for gemmPart (which every thread runs).
    if (words.buffer !== f32.buffer) words = new Int32Array(f32.buffer);
    for (let bi = 0, t = tableAt >> 2; bi < batch; bi++, t += 3) {
      words[t] = aAt + spec.aOffsets[bi]! * 4;
      words[t + 1] = bAt + spec.bOffsets[bi]! * 4;
      words[t + 2] = cAt + bi * m * n * 4;
    }
    // Byte strides of op(A)(i, p) along i ("inner" for packA) and p, and of op(B)(p, j) along j and p.
    const layout = {
      table: tableAt,
      batch,
      m,
      n,
      k: kk,
      aI: (transA ? 1 : kk) * 4,
      aP: (transA ? m : 1) * 4,
      bJ: (transB ? kk : 1) * 4,
      bP: (transB ? 1 : n) * 4,
      ldc: n * 4,
    };
    const jobs = splitJobs(layout, parts, scratchOf, BLOCKING);
    if (pool === null || jobs.length === 1) {
      f32.set(a, aAt >> 2);
      gemmPart(k, words, jobs[0]!);
      return f32.slice(cAt >> 2, (cAt >> 2) + outLen);
    }
    // Whole batches per thread when there are enough of them; else all threads on each block of B.
    // A shared product's workers start on B as soon as they have their jobs; meanwhile the calling
    // thread copies A in (they wait for it before their first unit), then makes the result array
    // and touches its pages, so that the page faults of a fresh multi-MiB array overlap the
    // workers' arithmetic instead of following it (they cost ≈ 0.5 ms per MiB on some VMs).
    const what = (): string => `matmul m=${m} k=${kk} n=${n} transA=${transA} transB=${transB} batch=${batch}`;
    let out: Float32Array = new Float32Array(0);
    if (shared) {
      const job = { shared: sharedJob(layout, flagsAt, flagCount, workerTimeoutMs) };
      const aReady = (SYNC >> 2) + SYNC_INDEX.A_READY;
      pool.run(
        k,
        words,
        jobs.map(() => job),
        what,
        () => {
          f32.set(a, aAt >> 2);
          Atomics.store(words, aReady, 1);
          Atomics.notify(words, aReady);
          out = touched(outLen);
        },
      );
    } else {
      f32.set(a, aAt >> 2);
      pool.run(k, words, jobs, what, () => {
        out = touched(outLen);
      });
    }
    splitMatmuls++;
    out.set(f32.subarray(cAt >> 2, (cAt >> 2) + outLen));
    return out;
  };

  /**
   * Streams an element-wise job through WebAssembly memory `chunk` values at a time: each chunk of
   * the full operand is copied to region A, computed in place, and copied out into the result, so
   * the copies in and out stay in cache whatever n is. `full` has n = rows·len values (len = 1 for
   * the flat forms); `other` is either chunked alongside it (`perRow` values per row: 1 for vv and
   * col) or copied once to region B (scalar, row). The single-chunk case allocates the result with
   * `slice`, which copies and allocates in one pass.
   */
  const stream = (
    op: string,
    full: Float32Array,
    other: Float32Array,
    otherChunked: boolean,
    rows: number,
    len: number,
    perRow: number,
    call: (A: number, B: number, rows: number) => void,
  ): TypedArray | null => {
    const n = rows * len;
    const rowsPer = Math.min(rows, Math.max(1, Math.floor(chunk / len)));
    const aBytes = align16(rowsPer * len * 4);
    const bBytes = align16((otherChunked ? rowsPer * perRow : other.length) * 4);
    const f32 = reserve(op, aBytes + bBytes);
    if (f32 === null) return null;
    calls.computed(op);
    const A = HEAP;
    const B = HEAP + aBytes;
    const a4 = A >> 2;
    if (!otherChunked) f32.set(other, B >> 2);
    if (rowsPer === rows) {
      f32.set(full, a4);
      if (otherChunked) f32.set(other, B >> 2);
      call(A, B, rows);
      return f32.slice(a4, a4 + n);
    }
    const out = new Float32Array(n);
    for (let r0 = 0; r0 < rows; r0 += rowsPer) {
      const nr = Math.min(rowsPer, rows - r0);
      const lo = r0 * len;
      const m = nr * len;
      f32.set(full.subarray(lo, lo + m), a4);
      if (otherChunked) f32.set(other.subarray(r0 * perRow, (r0 + nr) * perRow), B >> 2);
      call(A, B, nr);
      out.set(f32.subarray(a4, a4 + m), lo);
    }
    return out;
  };

  const binary = (
    op: BinaryOp,
    a: TypedArray,
    aShape: Shape,
    b: TypedArray,
    bShape: Shape,
    outShape: Shape,
  ): TypedArray => {
    const run = (): TypedArray => fallback.binary(op, a, aShape, b, bShape, outShape);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return delegate('binary', 'dtype', run);
    if (!elementwise.has(op)) return delegate('binary', 'op', run);
    const n = size(outShape);
    if (n < minElements) return delegate('binary', 'small', run);
    if (n === 0) {
      live('binary');
      calls.computed('binary');
      return new Float32Array(0);
    }
    const e = op as ElementwiseOp;
    let result: TypedArray | null;
    if (a.length === n && b.length === n) {
      result = stream('binary', a, b, true, n, 1, 1, (A, B, m) => k[`${e}_vv`](A, B, A, m));
    } else if (a.length === n && b.length === 1) {
      result = stream('binary', a, b, false, n, 1, 1, (A, B, m) => k[`${e}_vs`](A, B, A, m));
    } else if (a.length === 1 && b.length === n) {
      result = stream('binary', b, a, false, n, 1, 1, (A, B, m) => k[`${e}_sv`](B, A, A, m));
    } else if (a.length === n && isTrailingBroadcast(bShape, outShape)) {
      result = stream('binary', a, b, false, n / b.length, b.length, 0, (A, B, r) =>
        k[`${e}_row`](A, B, A, r, b.length),
      );
    } else if (b.length === n && isTrailingBroadcast(aShape, outShape)) {
      result = stream('binary', b, a, false, n / a.length, a.length, 0, (A, B, r) =>
        k[`${e}_rowr`](A, B, A, r, a.length),
      );
    } else if (a.length === n && isColumnBroadcast(bShape, outShape)) {
      const len = n / b.length;
      result = stream('binary', a, b, true, b.length, len, 1, (A, B, r) => k[`${e}_col`](A, B, A, r, len));
    } else if (b.length === n && isColumnBroadcast(aShape, outShape)) {
      const len = n / a.length;
      result = stream('binary', b, a, true, a.length, len, 1, (A, B, r) => k[`${e}_colr`](A, B, A, r, len));
    } else return delegate('binary', 'broadcast', run);
    return result ?? delegate('binary', 'size', run);
  };

  const unary = (op: UnaryOp, x: TypedArray): TypedArray => {
    const run = (): TypedArray => fallback.unary(op, x);
    if (!(x instanceof Float32Array)) return delegate('unary', 'dtype', run);
    if (!wasmUnary.has(op)) return delegate('unary', 'op', run);
    const n = x.length;
    if (n < minElements) return delegate('unary', 'small', run);
    const kern = k[`unary_${op as WasmUnaryOp}`];
    return stream('unary', x, x, false, n, 1, 0, (A, _B, m) => kern(A, A, m)) ?? delegate('unary', 'size', run);
  };

  /**
   * where(c, a, b) when a and b are full and c holds one value per block of trailing elements (c's
   * shape is the output's with trailing axes cut to 1, e.g. a per-example flag [B, 1, 1] over
   * [B, S, D]): each block is copied whole from a or b with TypedArray.set. No arithmetic, so the
   * result is the reference's bit for bit; this runs in JS and is counted as `where` in stats().wasm.
   */
  const where = (
    c: TypedArray,
    cS: Shape,
    a: TypedArray,
    aS: Shape,
    b: TypedArray,
    bS: Shape,
    outS: Shape,
  ): TypedArray => {
    const run = (): TypedArray => fallback.where(c, cS, a, aS, b, bS, outS);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return delegate('where', 'dtype', run);
    const n = size(outS);
    const block = c.length === 0 ? 0 : n / c.length;
    if (a.length !== n || b.length !== n || n === 0 || !isBlockBroadcast(cS, outS))
      return delegate('where', 'broadcast', run);
    // Blocks under 16 values: per-block set() costs more than the reference's loop.
    if (block < 16) return delegate('where', 'small', run);
    live('where');
    calls.computed('where');
    const out = new Float32Array(n);
    for (let i = 0, at = 0; i < c.length; i++, at += block) out.set((c[i] !== 0 ? a : b).subarray(at, at + block), at);
    return out;
  };

  /**
   * A row-wise job with inputs and an output of different widths (values per row): `rows` rows
   * stream through WebAssembly memory in chunks of about `chunk` output values; each input's chunk
   * is copied into its own region, `call(addresses of the inputs, output address, rows)` computes
   * the chunk, and the output is copied into the result.
   */
  const rowStream = (
    op: string,
    inputs: readonly { readonly data: Float32Array; readonly width: number }[],
    width: number,
    rows: number,
    call: (at: readonly number[], out: number, rows: number, scalars: number) => KernelCall,
    scalars: readonly number[] = [],
  ): Float32Array | null => {
    const widest = Math.max(width, ...inputs.map((x) => x.width));
    // With workers, the whole job goes in at once and its rows are split between the threads (one
    // hand-over per call; per-chunk hand-overs would cost more than the kernels save).
    const parts = pool !== null && rows * widest >= minSplitElements ? Math.min(rows, 1 + pool.readyCount()) : 1;
    const rowsPer = parts > 1 ? rows : Math.min(rows, Math.max(1, Math.floor(chunk / widest)));
    const at: number[] = [];
    let top = HEAP;
    for (const x of inputs) {
      at.push(top);
      top += align16(rowsPer * x.width * 4);
    }
    const outAt = top;
    // f32 scalars the kernel reads from memory (its arguments are all int32s), past the output.
    const scalarsAt = outAt + align16(rowsPer * width * 4);
    const f32 = reserve(op, scalarsAt + align16(scalars.length * 4) - HEAP);
    if (f32 === null) return null;
    calls.computed(op);
    f32.set(scalars, scalarsAt >> 2);
    const out = new Float32Array(rows * width);
    for (let r0 = 0; r0 < rows; r0 += rowsPer) {
      const nr = Math.min(rowsPer, rows - r0);
      inputs.forEach((x, i) => f32.set(x.data.subarray(r0 * x.width, (r0 + nr) * x.width), at[i]! >> 2));
      if (parts === 1) runCall(call(at, outAt, nr, scalarsAt));
      else {
        // Thread t takes rows [lo, hi): every address moves by lo rows of its own width.
        const jobs = Array.from({ length: parts }, (_, t) => {
          const [lo, hi] = [Math.floor((nr * t) / parts), Math.floor((nr * (t + 1)) / parts)];
          return call(
            at.map((a, i) => a + lo * inputs[i]!.width * 4),
            outAt + lo * width * 4,
            hi - lo,
            scalarsAt,
          );
        });
        pool!.run(k, words, jobs, () => `${op} rows=${rows} width=${width}`);
        splitCalls++;
      }
      out.set(f32.subarray(outAt >> 2, (outAt >> 2) + nr * width), r0 * width);
    }
    return out;
  };

  /** SwiGLU's gate and its VJP in WebAssembly when the half width is a multiple of 4. */
  const swigluJob = (
    op: 'swiglu' | 'swigluGrad',
    g: TypedArray | null,
    h: TypedArray,
    rows: number,
    inter: number,
  ): TypedArray => {
    const run = (): TypedArray =>
      g === null ? fallback.swiglu(h, rows, inter) : fallback.swigluGrad(g, h, rows, inter);
    if (!(h instanceof Float32Array) || (g !== null && !(g instanceof Float32Array))) return delegate(op, 'dtype', run);
    if (inter % 4 !== 0) return delegate(op, 'layout', run);
    if (rows * inter < minElements) return delegate(op, 'small', run);
    const hIn = { data: h, width: 2 * inter };
    const result =
      g === null
        ? rowStream(op, [hIn], inter, rows, ([ha], out, nr) => ({ name: 'swiglu', args: [ha!, out, nr, inter] }))
        : rowStream(op, [{ data: g as Float32Array, width: inter }, hIn], 2 * inter, rows, ([ga, ha], out, nr) => ({
            name: 'swiglu_grad',
            args: [ga!, ha!, out, nr, inter],
          }));
    return result ?? delegate(op, 'size', run);
  };

  /** RMS norm over rows of n and its VJP in WebAssembly. */
  const rmsNormJob = (
    op: 'rmsNorm' | 'rmsNormGrad',
    g: TypedArray | null,
    x: TypedArray,
    rows: number,
    n: number,
    eps: number,
  ): TypedArray => {
    const run = (): TypedArray =>
      g === null ? fallback.rmsNorm(x, rows, n, eps) : fallback.rmsNormGrad(g, x, rows, n, eps);
    if (!(x instanceof Float32Array) || (g !== null && !(g instanceof Float32Array))) return delegate(op, 'dtype', run);
    if (rows * n < minElements || n === 0) return delegate(op, 'small', run);
    const xIn = { data: x, width: n };
    const consts = [1 / n, eps];
    const result =
      g === null
        ? rowStream(
            op,
            [xIn],
            n,
            rows,
            ([xa], out, nr, c) => ({ name: 'rms_norm', args: [xa!, out, nr, n, c] }),
            consts,
          )
        : rowStream(
            op,
            [{ data: g as Float32Array, width: n }, xIn],
            n,
            rows,
            ([ga, xa], out, nr, c) => ({ name: 'rms_norm_grad', args: [ga!, xa!, out, nr, n, c] }),
            consts,
          );
    return result ?? delegate(op, 'size', run);
  };

  const dtypeOrOp = (x: TypedArray): string => (x instanceof Float32Array ? 'op' : 'dtype');

  return overlay({
    name: 'wasm',
    fallback,
    ledger: calls,
    own: {
      unary,
      binary,
      where,
      matmul,
      swiglu: (h, rows, inter) => swigluJob('swiglu', null, h, rows, inter),
      swigluGrad: (g, h, rows, inter) => swigluJob('swigluGrad', g, h, rows, inter),
      rmsNorm: (x, rows, n, eps) => rmsNormJob('rmsNorm', null, x, rows, n, eps),
      rmsNormGrad: (g, x, rows, n, eps) => rmsNormJob('rmsNormGrad', g, x, rows, n, eps),
    },
    // Everything else is data movement or a reduction: handed over whole ('dtype' for non-float32
    // data, 'op' otherwise; concat reads its first part).
    reasonOf: (op, args) => {
      const first =
        op === 'concat' ? (args[0] as readonly { readonly data: TypedArray }[])[0]?.data : (args[0] as TypedArray);
      return first === undefined ? 'op' : dtypeOrOp(first);
    },
    close: (): void => {
      pool?.close();
      memory = null;
      view = new Float32Array(0);
      words = new Int32Array(0);
    },
    extra: {
      stats: (): WasmStats => ({
        wasm: calls.computedCounts(),
        delegated: calls.delegatedCounts(),
        memoryBytes: memory?.buffer.byteLength ?? 0,
        threads,
        threadsReady: memory === null ? 0 : 1 + (pool?.readyCount() ?? 0),
        fma,
        splitMatmuls,
        splitCalls,
      }),
      ready: (): Promise<void> => pool?.ready() ?? Promise.resolve(),
    },
  });
};

/**
 * A backend whose large products run on `threads` threads, the calling one included (Node only:
 * it imports node:worker_threads). Resolves once the workers are ready. `threads` defaults to the
 * machine's available parallelism; the other options are createWasmBackend's.
 */
export const createThreadedWasmBackend = async (
  options: Omit<WasmBackendOptions, 'Worker'> = {},
): Promise<WasmBackend> => {
  const { Worker } = await import('node:worker_threads');
  const threads = options.threads ?? (await import('node:os')).availableParallelism();
  const backend = createWasmBackend({ ...options, threads, Worker });
  await backend.ready();
  return backend;
};
