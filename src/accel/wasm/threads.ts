/**
 * Threads for the WebAssembly backend (Node's worker_threads on one shared WebAssembly.Memory): the
 * matrix product, and row-wise kernels (`KernelCall`, e.g. SwiGLU's gate) split by rows.
 *
 * - `gemmPart` is the blocked product loop (GotoBLAS jc/pc/ic over the kernels packB, packA,
 *   macro). The calling thread runs it, and so does every worker: the worker's source embeds it
 *   via `toString()`, so it is self-contained on purpose (no imports, no closures, no helpers:
 *   every constant arrives in its job).
 * - `splitJobs` cuts a product into one part per thread: whole batches, or rows of C at multiples
 *   of MR or columns at multiples of NR. The backend uses these parts when there are at least as
 *   many batches as threads; otherwise every thread runs `gemmShared` on the whole product: the
 *   threads pack each block of B together (two buffers, used by turns), and take (row block ×
 *   column run) units from a shared counter, a unit waiting only for what it reads or adds to
 *   (BLIS-style, dynamically balanced, no barrier). Either way the tiles are those of the
 *   undivided product, and every element of C is summed by the same kernel in the same k-blocking
 *   order: bit-identical whatever the thread count.
 * - `startWorkers` starts the workers. Each has a small control block (an Int32Array on a
 *   SharedArrayBuffer): the caller writes a job's arguments, bumps SEQ and notifies; the worker,
 *   parked in Atomics.wait on SEQ, runs the job, stores SEQ into DONE and notifies; the caller waits
 *   on DONE with a deadline. A worker that has not yet signalled READY (startup is asynchronous) or
 *   has exited gets no job: the calling thread computes that part itself.
 *
 * Nothing here imports node:*: the Worker constructor is passed in (see createThreadedWasmBackend
 * in index.ts), so the module stays importable in a browser bundle.
 */
import type { KernelExports } from './kernels.js';
import { MR, NR } from './kernels.js';

/** The kernels a product part calls. */
export type GemmKernels = Pick<KernelExports, 'packA' | 'packB' | 'macro'>;

/** The fields every product job starts with (see GemmJob). */
type ProductFields = [
  table: number,
  count: number,
  m: number,
  n: number,
  k: number,
  aI: number,
  aP: number,
  bJ: number,
  bP: number,
  ldc: number,
];

/**
 * One part of a product, as int32s (so it fits a control block as is). `table` is the byte address
 * of `count` triples (aBase, bBase, cBase) of byte addresses, one per batch; the part adds dA, dB,
 * dC to them (its sub-block's offset) and computes an m×n block of C from op(A) (element (i, p) at
 * aBase + i·aI + p·aP) and op(B) (element (p, j) at bBase + j·bJ + p·bP), k deep, C's row stride
 * ldc bytes, with its own packing buffers and edge tile, blocked by KC, MC, NC.
 */
export type GemmJob = readonly [
  ...ProductFields,
  dA: number,
  dB: number,
  dC: number,
  packA: number,
  packB: number,
  tile: number,
  KC: number,
  MC: number,
  NC: number,
];
const JOB_LENGTH = 19;

/**
 * The exports a `KernelCall` may name: row-wise kernels whose rows are independent, so that a call
 * over rows [r0, r1) is the same work whatever thread does it.
 */
export const CALLABLE = ['swiglu', 'swiglu_grad', 'rms_norm', 'rms_norm_grad'] as const;
export type Callable = (typeof CALLABLE)[number];

/** A call `kern[name](...args)` of one of the CALLABLE exports (all of its arguments int32). */
export interface KernelCall {
  readonly name: Callable;
  readonly args: readonly number[];
}

/**
 * One thread's share of a product computed by all threads together (`gemmShared`), as int32s. The
 * same for every thread but `self`: `table`…`ldc` as in GemmJob; `packA`, `tile`: thread 0's
 * packing buffer and edge tile, thread t's being `stride` bytes further on; `packB0`, `packB1`: the
 * two buffers that blocks of B are packed into by turns (block i into the buffer i mod 2); KC, MC,
 * NC, NR; `sync`: the byte address of SYNC_WORDS int32s (see SYNC); `flags`: the byte address of
 * `flagCount` int32s, one per work unit of a block; `threads` taking part, this one being `self`;
 * `timeoutMs`: the longest wait for another thread before the product is abandoned.
 */
export type SharedJob = readonly [
  ...ProductFields,
  packA: number,
  tile: number,
  stride: number,
  packB0: number,
  packB1: number,
  KC: number,
  MC: number,
  NC: number,
  NR: number,
  sync: number,
  flags: number,
  flagCount: number,
  threads: number,
  self: number,
  timeoutMs: number,
];
const SHARED_LENGTH = 25;
/** Indices in a SharedJob of the fields the pool reads (sync, flags, flagCount) and sets (threads, self). */
const SHARED_SYNC = 19;
const SHARED_FLAGS = 20;
const SHARED_FLAG_COUNT = 21;
const SHARED_THREADS = 22;
const SHARED_SELF = 23;
/** What gemmShared throws when another thread failed first (it spells the text out itself). */
export const ABANDONED = 'abandoned: another thread failed';
/**
 * The int32 words at a SharedJob's `sync` (gemmShared, being self-contained, spells these numbers
 * out again): UNIT, the next work unit to take (numbered across the whole product); ABORT, 1 + the
 * number of the first thread that failed (0 while none has; the caller is thread 0); A_READY, set
 * by the caller once op(A) is in memory (it copies A after the workers started packing B); and per
 * buffer parity q: TAKEN_q, the chunks of B taken for packing, PACKED_q, the chunks packed, and
 * DONE_q, the units finished (each counted over all the blocks packed into buffer q so far: they
 * only grow).
 */
export const SYNC = { UNIT: 0, ABORT: 1, A_READY: 2, TAKEN: 3, PACKED: 5, DONE: 7 } as const;
export const SYNC_WORDS = 9;
/**
 * A shared product cuts each block into at least this many work units per thread (gemmShared,
 * self-contained, has the number again): small units leave little for the last thread to finish
 * alone (at 512³ on two threads the caller's wait for the worker at the end went from ≈ 0.08 to
 * ≈ 0.02 ms with 16 instead of 4).
 */
export const UNITS_PER_THREAD = 16;
/**
 * The most work units a block of a shared product has for a team of up to `threads`: gemmShared
 * cuts ⌈m/MC⌉ row blocks, and columns into at most ⌈UNITS_PER_THREAD·threads/rowBlocks⌉ runs when
 * there are fewer row blocks than UNITS_PER_THREAD·threads (it throws if the flags are too few).
 */
export const maxSharedUnits = (m: number, MC: number, threads: number): number =>
  Math.ceil(m / MC) + UNITS_PER_THREAD * threads;

/** What a thread runs: a part of a product, its share of a shared product, or a kernel call. */
export type Job = GemmJob | { readonly shared: SharedJob } | KernelCall;

/** Runs a job on the calling thread. */
const runJob = (kern: KernelExports, words: Int32Array, job: Job): void => {
  if ('name' in job) (kern[job.name] as (...a: number[]) => void)(...job.args);
  else if ('shared' in job) gemmShared(kern, words, job.shared);
  else gemmPart(kern, words, job);
};

/**
 * Runs one part. `words` is an Int32Array view of the module's memory, long enough for the table.
 * Self-contained: the worker's source is this function's text (see the file comment).
 */
export const gemmPart = (kern: GemmKernels, words: Int32Array, job: GemmJob): void => {
  const [table, count, m, n, k, aI, aP, bJ, bP, ldc, dA, dB, dC, packA, packB, tile, KC, MC, NC] = job;
  for (let t = 0; t < count; t++) {
    const at = (table >> 2) + 3 * t;
    const aBase = words[at]! + dA;
    const bBase = words[at + 1]! + dB;
    const cBase = words[at + 2]! + dC;
    for (let jc = 0; jc < n; jc += NC) {
      const nc = Math.min(NC, n - jc);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = Math.min(KC, k - pc);
        kern.packB(bBase + pc * bP + jc * bJ, bJ, bP, nc, kc, packB);
        for (let ic = 0; ic < m; ic += MC) {
          const mc = Math.min(MC, m - ic);
          kern.packA(aBase + ic * aI + pc * aP, aI, aP, mc, kc, packA);
          kern.macro(packA, packB, cBase + ic * ldc + jc * 4, mc, nc, kc, ldc, pc > 0 ? 1 : 0, tile);
        }
      }
    }
  }
};

/**
 * A thread's share of a product that all threads compute together, BLIS-style but without
 * barriers. The product is a sequence of blocks (for each batch, each NC-column block, each KC-deep
 * block: the order gemmPart takes them); block i's B is packed into buffer i mod 2, and each block
 * is cut into work units (an MC-row block of A × a run of columns). Threads take units from one
 * counter across the whole product, and for each unit:
 * 1. on a thread's first unit of a block, it helps pack that block of B (chunks of NR-column panels
 *    taken from a counter), after waiting until every unit of the block two back (the last one to
 *    use the same buffer) is done, then waits until the block is packed. So the next block is
 *    packed by the threads that have run out of units of this one while the others finish theirs;
 * 2. a unit that adds to C (not the first k block) waits until the same unit of the previous block
 *    is done: every element of C is then summed by the same micro-kernel over the same k blocks in
 *    the same order as in one thread (bit-identical results);
 * 3. it packs its A block into its own buffer (after the caller said A is there) and computes.
 * Every wait is for a unit or a packing chunk taken before its own (or for the caller's A), so the
 * work always progresses; a thread may join late (the caller, copying A and making the result
 * meanwhile): it finds what is left. Dynamic units balance threads that run at different speeds (another process, the engine's
 * own threads), and each block of B is packed once, not once per thread.
 *
 * The first thread to fail leaves its number + 1 in the abort word, so that the others stop
 * waiting (throwing ABANDONED) and the pool can tell the cause; a wait longer than timeoutMs fails
 * the thread that waited.
 * Self-contained: the worker's source is this function's text (see the file comment).
 */
export const gemmShared = (kern: GemmKernels, words: Int32Array, job: SharedJob): void => {
  const [
    table,
    count,
    m,
    n,
    k,
    aI,
    aP,
    bJ,
    bP,
    ldc,
    packA0,
    tile0,
    stride,
    packB0,
    packB1,
    KC,
    MC,
    NC,
    NR,
    sync,
    flags,
    flagCount,
    threads,
    self,
    timeoutMs,
  ] = job;
  // The words of SYNC (threads.ts), by index.
  const UNIT = sync >> 2;
  const ABORT = UNIT + 1;
  const A_READY = UNIT + 2;
  const TAKEN = UNIT + 3;
  const PACKED = UNIT + 5;
  const DONE = UNIT + 7;
  const FLAGS = flags >> 2;
  /** NR-column panels of B per packing chunk. */
  const PACK_CHUNK_PANELS = 8;
  /** UNITS_PER_THREAD (threads.ts; maxSharedUnits counts on it). */
  const UNITS_PER_THREAD = 16;
  const packA = packA0 + self * stride;
  const tile = tile0 + self * stride;
  /** Spins, then sleeps in 1 ms slices, until words[at] satisfies `done`; throws when another
   *  thread has failed or after timeoutMs. */
  const waitFor = (at: number, done: (value: number) => boolean, what: string): void => {
    const deadline = Date.now() + timeoutMs;
    for (let spins = 0, v = Atomics.load(words, at); !done(v); spins++, v = Atomics.load(words, at)) {
      if (Atomics.load(words, ABORT) !== 0) throw new Error('abandoned: another thread failed'); // ABANDONED
      if (spins < 2000) continue;
      if (Date.now() > deadline) throw new Error(`thread ${self} waited over ${timeoutMs} ms ${what}`);
      Atomics.wait(words, at, v, 1);
    }
  };
  try {
    const mBlocks = Math.ceil(m / MC);
    // The blocks, in order: [aBase, bBase, cBase, jc, nc, pc, kc, runs, runWidth, first unit,
    // chunks, chunks and units of the earlier blocks of the same buffer].
    const blocks: number[][] = [];
    const before = [
      [0, 0],
      [0, 0],
    ];
    let units = 0;
    for (let t = 0; t < count; t++) {
      const at = (table >> 2) + 3 * t;
      for (let jc = 0; jc < n; jc += NC) {
        const nc = Math.min(NC, n - jc);
        const panels = Math.ceil(nc / NR);
        // Few row blocks: cut the columns too, for about UNITS_PER_THREAD units per thread.
        const colRuns =
          mBlocks >= UNITS_PER_THREAD * threads
            ? 1
            : Math.min(panels, Math.ceil((UNITS_PER_THREAD * threads) / mBlocks));
        const runWidth = Math.ceil(panels / colRuns) * NR;
        const runs = Math.ceil(nc / runWidth);
        if (mBlocks * runs > flagCount) throw new Error(`${mBlocks * runs} units per block, flags for ${flagCount}`);
        for (let pc = 0; pc < k; pc += KC) {
          const q = before[blocks.length & 1]!;
          const chunks = Math.ceil(panels / PACK_CHUNK_PANELS);
          blocks.push([
            words[at]!,
            words[at + 1]!,
            words[at + 2]!,
            jc,
            nc,
            pc,
            Math.min(KC, k - pc),
            runs,
            runWidth,
            units,
            chunks,
            q[0]!,
            q[1]!,
          ]);
          q[0]! += chunks;
          q[1]! += mBlocks * runs;
          units += mBlocks * runs;
        }
      }
    }
    let i = 0;
    let prepared = -1;
    let aReady = false;
    let packedA = -1;
    for (let g = Atomics.add(words, UNIT, 1); g < units; g = Atomics.add(words, UNIT, 1)) {
      while (i + 1 < blocks.length && blocks[i + 1]![9]! <= g) i++;
      const [aBase, bBase, cBase, jc, nc, pc, kc, runs, runWidth, first, chunks, chunksBefore, unitsBefore] =
        blocks[i]!;
      const q = i & 1;
      const packB = q === 0 ? packB0 : packB1;
      if (prepared !== i) {
        // The buffer is free once every unit of the blocks packed into it before is done.
        waitFor(DONE + q, (d) => d >= unitsBefore!, `for block ${i - 2} to be done`);
        for (let v = Atomics.load(words, TAKEN + q); v - chunksBefore! < chunks!; v = Atomics.load(words, TAKEN + q)) {
          if (Atomics.compareExchange(words, TAKEN + q, v, v + 1) !== v) continue;
          const j0 = (v - chunksBefore!) * PACK_CHUNK_PANELS * NR;
          const j1 = Math.min(j0 + PACK_CHUNK_PANELS * NR, nc!);
          kern.packB(bBase! + pc! * bP + (jc! + j0) * bJ, bJ, bP, j1 - j0, kc!, packB + j0 * kc! * 4);
          if (Atomics.add(words, PACKED + q, 1) === chunksBefore! + chunks! - 1) Atomics.notify(words, PACKED + q);
        }
        waitFor(PACKED + q, (p) => p >= chunksBefore! + chunks!, `for block ${i} of B to be packed`);
        prepared = i;
      }
      const u = g - first!;
      const ib = Math.floor(u / runs!);
      const j0 = (u - ib * runs!) * runWidth!;
      const ic = ib * MC;
      const mc = Math.min(MC, m - ic);
      if (pc! > 0) waitFor(FLAGS + u, (f) => f >= i, `for unit ${u} of block ${i - 1}`);
      if (packedA !== i * mBlocks + ib) {
        if (!aReady) waitFor(A_READY, (r) => r !== 0, 'for A');
        aReady = true;
        kern.packA(aBase! + ic * aI + pc! * aP, aI, aP, mc, kc!, packA);
        packedA = i * mBlocks + ib;
      }
      kern.macro(
        packA,
        packB + j0 * kc! * 4,
        cBase! + ic * ldc + (jc! + j0) * 4,
        mc,
        Math.min(runWidth!, nc! - j0),
        kc!,
        ldc,
        pc! > 0 ? 1 : 0,
        tile,
      );
      // Unit u's flag holds the latest block done + 1 (a later batch or column block's first unit
      // may finish before an earlier block's: keep the larger).
      for (let f = Atomics.load(words, FLAGS + u); f < i + 1; f = Atomics.load(words, FLAGS + u)) {
        if (Atomics.compareExchange(words, FLAGS + u, f, i + 1) === f) break;
      }
      Atomics.notify(words, FLAGS + u);
      Atomics.add(words, DONE + q, 1);
      Atomics.notify(words, DONE + q);
    }
  } catch (e) {
    // The first to fail leaves its number (+ 1) there, so that the caller can tell the cause.
    Atomics.compareExchange(words, ABORT, 0, self + 1);
    Atomics.notify(words, A_READY);
    throw e;
  }
};

/** A product laid out in WebAssembly memory (byte addresses and strides; see GemmJob). */
export interface ProductLayout {
  readonly table: number;
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly aI: number;
  readonly aP: number;
  readonly bJ: number;
  readonly bP: number;
  readonly ldc: number;
}

/** A thread's packing buffers and edge tile (byte addresses). */
export interface Scratch {
  readonly packA: number;
  readonly packB: number;
  readonly tile: number;
}

export interface Blocking {
  readonly KC: number;
  readonly MC: number;
  readonly NC: number;
}

/** A sub-block of the product: batches [b0, b1), rows [i0, i1), columns [j0, j1). */
interface Part {
  readonly b0: number;
  readonly b1: number;
  readonly i0: number;
  readonly i1: number;
  readonly j0: number;
  readonly j1: number;
}

/** [lo, hi) bounds cutting `len` into at most `parts` nonempty ranges at multiples of `align`. */
const cuts = (len: number, parts: number, align: number): (readonly [number, number])[] => {
  const units = Math.ceil(len / align);
  const out: (readonly [number, number])[] = [];
  for (let t = 0; t < parts; t++) {
    const lo = Math.min(len, Math.floor((units * t) / parts) * align);
    const hi = Math.min(len, Math.floor((units * (t + 1)) / parts) * align);
    if (hi > lo) out.push([lo, hi]);
  }
  return out;
};

/** Cuts the product into at most `threads` parts (see the file comment). */
const split = (p: ProductLayout, threads: number): Part[] => {
  const whole = { b0: 0, b1: p.batch, i0: 0, i1: p.m, j0: 0, j1: p.n };
  if (p.batch >= threads) return cuts(p.batch, threads, 1).map(([b0, b1]) => ({ ...whole, b0, b1 }));
  // Fewer batches than threads: cut the side with more register tiles, for the evener split.
  if (Math.ceil(p.m / MR) >= Math.ceil(p.n / NR))
    return cuts(p.m, threads, MR).map(([i0, i1]) => ({ ...whole, i0, i1 }));
  return cuts(p.n, threads, NR).map(([j0, j1]) => ({ ...whole, j0, j1 }));
};

/** The job computing `part`, with the packing buffers `s`. */
const jobOf = (p: ProductLayout, part: Part, s: Scratch, b: Blocking): GemmJob => [
  p.table + part.b0 * 12,
  part.b1 - part.b0,
  part.i1 - part.i0,
  part.j1 - part.j0,
  p.k,
  p.aI,
  p.aP,
  p.bJ,
  p.bP,
  p.ldc,
  part.i0 * p.aI,
  part.j0 * p.bJ,
  part.i0 * p.ldc + part.j0 * 4,
  s.packA,
  s.packB,
  s.tile,
  b.KC,
  b.MC,
  b.NC,
];

/** The product as at most `threads` jobs; job t uses the packing buffers `scratch(t)`. */
export const splitJobs = (p: ProductLayout, threads: number, scratch: (t: number) => Scratch, b: Blocking): GemmJob[] =>
  (threads <= 1 ? [{ b0: 0, b1: p.batch, i0: 0, i1: p.m, j0: 0, j1: p.n }] : split(p, threads)).map((part, t) =>
    jobOf(p, part, scratch(t), b),
  );

// --- workers

/** The slice of node:worker_threads' Worker used here (typed locally: no node import). */
export interface WorkerLike {
  on(event: 'message' | 'error' | 'exit', listener: (value: unknown) => void): unknown;
  unref(): void;
  terminate(): Promise<number>;
}
export type WorkerConstructor = new (source: string, options: { eval: true; workerData: unknown }) => WorkerLike;

/** A control block's word indices (STATE, SEQ, DONE, STATUS, the job's ARGS and a failure MSG of
 *  up to MSG_LENGTH UTF-16 units) and the values of STATE. */
export const LAYOUT = {
  STATE: 0,
  SEQ: 1,
  DONE: 2,
  STATUS: 3,
  /** 0: ARGS hold a GemmJob; 1 + i: a call of CALLABLE[i] with NARGS arguments in ARGS; SHARED:
   *  a SharedJob. */
  KIND: 4,
  NARGS: 5,
  ARGS: 6,
  JOB: Math.max(JOB_LENGTH, SHARED_LENGTH),
  MSG: 6 + Math.max(JOB_LENGTH, SHARED_LENGTH),
  SHARED: -1,
  MSG_LENGTH: 160,
  STARTING: 0,
  READY: 1,
  STOPPING: 2,
} as const;
const CONTROL_WORDS = LAYOUT.MSG + LAYOUT.MSG_LENGTH;

interface WorkerData {
  readonly module: object;
  readonly memory: { readonly buffer: ArrayBufferLike };
  readonly control: SharedArrayBuffer;
}

/**
 * A worker's whole program: instantiate the kernels on the shared memory, signal READY, then run
 * jobs until told to stop. Self-contained (its text is the worker's source): `gemm` is gemmPart,
 * `L` is LAYOUT. A job's exception (a trap, say) is caught and reported through STATUS and MSG, so
 * the caller gets an error instead of waiting in vain.
 */
const workerMain = (
  data: WorkerData,
  port: { postMessage(value: unknown): void },
  gemm: typeof gemmPart,
  shared: typeof gemmShared,
  L: typeof LAYOUT,
  calls: readonly string[],
): void => {
  const c = new Int32Array(data.control);
  const api = (
    globalThis as unknown as { WebAssembly: { Instance: new (m: object, i: object) => { exports: unknown } } }
  ).WebAssembly;
  const kern = new api.Instance(data.module, { env: { memory: data.memory } }).exports as GemmKernels &
    Record<string, (...a: number[]) => void>;
  let words = new Int32Array(data.memory.buffer);
  // Not over STOPPING: a backend closed before its worker started must not see it ready.
  Atomics.compareExchange(c, L.STATE, L.STARTING, L.READY);
  port.postMessage('ready');
  for (let seen = 0; ; ) {
    Atomics.wait(c, L.SEQ, seen);
    seen = Atomics.load(c, L.SEQ);
    if (Atomics.load(c, L.STATE) === L.STOPPING) return;
    // Another thread may have grown the memory: the old buffer stays valid but short.
    if (words.byteLength !== data.memory.buffer.byteLength) words = new Int32Array(data.memory.buffer);
    let status = 0;
    try {
      const kind = c[L.KIND]!;
      if (kind === 0) gemm(kern, words, c.subarray(L.ARGS, L.ARGS + L.JOB) as unknown as GemmJob);
      else if (kind === L.SHARED) shared(kern, words, c.subarray(L.ARGS, L.ARGS + L.JOB) as unknown as SharedJob);
      else kern[calls[kind - 1]!]!(...Array.from(c.subarray(L.ARGS, L.ARGS + c[L.NARGS]!)));
    } catch (e) {
      status = 1;
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      for (let i = 0; i < L.MSG_LENGTH; i++) c[L.MSG + i] = i < msg.length ? msg.charCodeAt(i) : 0;
    }
    Atomics.store(c, L.STATUS, status);
    Atomics.store(c, L.DONE, seen);
    Atomics.notify(c, L.DONE);
  }
};

/** The source a worker evaluates (CommonJS, as Node runs `eval: true` workers). */
const workerSource = (): string =>
  [
    "'use strict';",
    "const { workerData, parentPort } = require('node:worker_threads');",
    `(${workerMain.toString()})(workerData, parentPort, ${gemmPart.toString()}, ${gemmShared.toString()}, ${JSON.stringify(LAYOUT)}, ${JSON.stringify(CALLABLE)});`,
  ].join('\n');

interface Thread {
  readonly worker: WorkerLike;
  readonly control: Int32Array;
  /** False once the worker reported an error or exited (or missed a deadline). */
  alive: boolean;
  seq: number;
}

const isReady = (t: Thread): boolean => t.alive && Atomics.load(t.control, LAYOUT.STATE) === LAYOUT.READY;

/** Hands `job` to the worker and wakes it; returns the sequence number to wait for. */
const post = (t: Thread, job: Job): number => {
  if ('name' in job) {
    t.control[LAYOUT.KIND] = 1 + CALLABLE.indexOf(job.name);
    t.control[LAYOUT.NARGS] = job.args.length;
    t.control.set(job.args, LAYOUT.ARGS);
  } else if ('shared' in job) {
    t.control[LAYOUT.KIND] = LAYOUT.SHARED;
    t.control.set(job.shared, LAYOUT.ARGS);
  } else {
    t.control[LAYOUT.KIND] = 0;
    t.control.set(job, LAYOUT.ARGS);
  }
  t.seq++;
  Atomics.store(t.control, LAYOUT.SEQ, t.seq);
  Atomics.notify(t.control, LAYOUT.SEQ);
  return t.seq;
};

/** Waits until the worker has done job `seq` or `deadline` (Date.now() ms) passed; false then. */
const waitDone = (t: Thread, seq: number, deadline: number): boolean => {
  for (;;) {
    const done = Atomics.load(t.control, LAYOUT.DONE);
    if (done === seq) return true;
    const left = deadline - Date.now();
    if (left <= 0) return false;
    Atomics.wait(t.control, LAYOUT.DONE, done, left);
  }
};

const failureMessage = (t: Thread): string => {
  let s = '';
  for (let i = 0; i < LAYOUT.MSG_LENGTH; i++) {
    const ch = t.control[LAYOUT.MSG + i]!;
    if (ch === 0) break;
    s += String.fromCharCode(ch);
  }
  return s;
};

/** Waits for job `seq` of worker `i` (numbered from 1; 0 is the caller); an error message, or null. */
const finish = (t: Thread, i: number, seq: number, deadline: number, timeoutMs: number): string | null => {
  if (!waitDone(t, seq, deadline)) {
    // Never hand this worker work again, and stop it: it may still be writing into the memory.
    t.alive = false;
    t.worker.terminate().catch(() => undefined);
    return `worker ${i} did not finish its part within ${timeoutMs} ms (it has been stopped)`;
  }
  return Atomics.load(t.control, LAYOUT.STATUS) === 0 ? null : `worker ${i} failed: ${failureMessage(t)}`;
};

/**
 * Shared-product jobs (one per thread wanted, all the same) take part as a team: the team is made
 * for the `threads` there are, numbered (fewer workers may be ready than when the jobs were made;
 * the units are cut for the team); and its sync words and unit flags are reset. Other jobs are
 * returned as they are.
 */
const shareAmong = (jobs: readonly Job[], threads: number, words: Int32Array): readonly Job[] => {
  const first = jobs[0]!;
  if (!('shared' in first)) return jobs;
  const sync = first.shared[SHARED_SYNC] >> 2;
  const flags = first.shared[SHARED_FLAGS] >> 2;
  for (let i = 0; i < SYNC_WORDS; i++) Atomics.store(words, sync + i, 0);
  for (let i = 0; i < first.shared[SHARED_FLAG_COUNT]; i++) Atomics.store(words, flags + i, 0);
  return Array.from({ length: threads }, (_, self) => {
    const j = [...first.shared];
    j[SHARED_THREADS] = threads;
    j[SHARED_SELF] = self;
    return { shared: j as unknown as SharedJob };
  });
};

export interface WorkerPool {
  /** Workers that have signalled ready and are alive: a product may use 1 + this many threads. */
  readyCount(): number;
  /** Settles once every worker is ready or dead, or after the start-up deadline. */
  ready(): Promise<void>;
  /**
   * Runs jobs[0] on the calling thread and the others on ready workers, all at once, and returns
   * when all are done. `meanwhile`, if given, runs on the calling thread after the workers have
   * their jobs and before its own (in a shared product the workers start without it). Jobs beyond the ready workers run on the calling thread after its own.
   * Throws an Error naming the product (`what`) when a job failed or a worker missed its deadline,
   * after every other job has finished, so that no worker still writes into the memory.
   */
  run(kern: KernelExports, words: Int32Array, jobs: readonly Job[], what: () => string, meanwhile?: () => void): void;
  /** Stops and terminates every worker. */
  close(): void;
}

export interface PoolOptions {
  readonly Worker: WorkerConstructor;
  readonly workers: number;
  /** The compiled kernel module (its memory import shared) and the shared memory. */
  readonly module: object;
  readonly memory: object;
  /** How long a worker may take past the caller's own part before it counts as hung. */
  readonly timeoutMs: number;
  /** How long `ready` waits for the workers to start. */
  readonly startupMs: number;
}

/** Starts `workers` workers; see WorkerPool. */
export const startWorkers = (o: PoolOptions): WorkerPool => {
  const source = workerSource();
  const starts: Promise<void>[] = [];
  const threads: Thread[] = [];
  for (let i = 0; i < o.workers; i++) {
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_WORDS * 4));
    const worker = new o.Worker(source, {
      eval: true,
      workerData: { module: o.module, memory: o.memory, control: control.buffer },
    });
    // Never keep the process alive for a worker (see `ready` for the wait at start-up).
    worker.unref();
    const t: Thread = { worker, control, alive: true, seq: 0 };
    starts.push(
      new Promise<void>((resolve) => {
        worker.on('message', () => resolve());
        const dead = (): void => {
          t.alive = false;
          resolve();
        };
        worker.on('error', dead);
        worker.on('exit', dead);
      }),
    );
    threads.push(t);
  }
  const started = Promise.all(starts);
  // Made on the first call only: its timer keeps the process alive while someone awaits the
  // (unref'd) workers, and only then.
  let waiting: Promise<void> | null = null;
  const ready = (): Promise<void> =>
    (waiting ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.startupMs);
      void started.then(() => {
        clearTimeout(timer);
        resolve();
      });
    }));

  const run = (
    kern: KernelExports,
    words: Int32Array,
    given: readonly Job[],
    what: () => string,
    meanwhile?: () => void,
  ): void => {
    const helpers = threads.filter(isReady).slice(0, given.length - 1);
    const jobs = shareAmong(given, helpers.length + 1, words);
    const seqs = helpers.map((t, i) => post(t, jobs[i + 1]!));
    const head = jobs[0]!;
    const abortAt = 'shared' in head ? (head.shared[SHARED_SYNC] >> 2) + SYNC.ABORT : null;
    const started = Date.now();
    let own: { readonly error: unknown } | null = null;
    try {
      meanwhile?.();
      runJob(kern, words, jobs[0]!);
      for (const job of jobs.slice(helpers.length + 1)) runJob(kern, words, job);
    } catch (error) {
      own = { error };
      // A shared product's workers would wait for us (for A, say, if `meanwhile` failed): release
      // them, as the first to fail unless one of them was.
      if (abortAt !== null) Atomics.compareExchange(words, abortAt, 0, 1);
    }
    // A slow machine stretches the workers' parts as it stretched ours: allow for that (but not
    // when our part failed: a shared product's part fails by waiting for the others).
    const timeoutMs = own === null ? Math.max(o.timeoutMs, 10 * (Date.now() - started)) : o.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const errors = helpers.map((t, i) => finish(t, threads.indexOf(t) + 1, seqs[i]!, deadline, timeoutMs));
    if (abortAt === null) {
      if (own !== null) throw own.error;
      const failed = errors.find((e) => e !== null);
      if (failed !== undefined && failed !== null) throw new Error(`wasm: ${what()}: ${failed}`);
      return;
    }
    // A shared product: the first thread to fail (its number in the abort word) made the others
    // give up (ABANDONED). Report that cause first, then what else went wrong (a hung worker).
    const messages = [
      own === null ? null : own.error instanceof Error ? own.error.message : String(own.error),
      ...errors,
    ];
    const cause = Atomics.load(words, abortAt) - 1;
    const report = [
      cause >= 0 ? messages[cause] : null,
      ...messages.filter((m, self) => self !== cause && m !== null && !m.includes(ABANDONED)),
    ];
    const said = report.filter((m): m is string => m !== null && m !== undefined);
    if (said.length > 0) throw new Error(`wasm: ${what()}: ${said.join('; ')}`);
    const any = messages.find((m) => m !== null);
    if (any !== undefined && any !== null) throw new Error(`wasm: ${what()}: ${any}`);
  };

  const close = (): void => {
    for (const t of threads) {
      t.alive = false;
      Atomics.store(t.control, LAYOUT.STATE, LAYOUT.STOPPING);
      Atomics.add(t.control, LAYOUT.SEQ, 1);
      Atomics.notify(t.control, LAYOUT.SEQ);
      t.worker.terminate().catch(() => undefined);
    }
  };

  return { readyCount: () => threads.filter(isReady).length, ready, run, close };
};
