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
 *   threads pack each block of B together into one buffer, then take (row block × column run)
 *   units from a shared counter, with a barrier around each block (BLIS-style, dynamically
 *   balanced). Either way the tiles are those of the undivided product, and every element of C is
 *   summed by the same kernel in the same k-blocking order: bit-identical whatever the thread count.
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
 * packing buffer and edge tile, thread t's being `stride` bytes further on; `packB`: the one packed
 * block of B all threads share; KC, MC, NC, NR; `sync`: the byte address of SYNC_WORDS int32s
 * for the counters and barrier; `threads` taking part, this one being `self`; `timeoutMs`: the
 * longest wait at a barrier before the product is abandoned.
 */
export type SharedJob = readonly [
  ...ProductFields,
  packA: number,
  tile: number,
  stride: number,
  packB: number,
  KC: number,
  MC: number,
  NC: number,
  NR: number,
  sync: number,
  threads: number,
  self: number,
  timeoutMs: number,
];
const SHARED_LENGTH = 22;
/** Indices in a SharedJob of the fields the pool sets: sync (read), threads and self. */
const SHARED_SYNC = 18;
const SHARED_THREADS = 19;
const SHARED_SELF = 20;
/** Int32 words at a SharedJob's `sync`: the work-unit counter, the barrier's arrivals, its
 *  generation, an abort flag, the packing-chunk counter and the count of chunks packed. */
export const SYNC_WORDS = 6;

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
 * A thread's share of a product that all threads compute together, BLIS-style: for each batch and
 * each KC×NC block of B (in the order gemmPart takes them), the threads pack the block into the one
 * shared buffer (chunks of NR-column panels taken from a counter), wait until every chunk is
 * packed, then take work units (an MC-row block of A × a run of columns of the packed block) from a
 * shared counter until none is left, packing their A block into their own buffer; a barrier ends
 * the block (no thread may repack B while another still reads it). A thread may join late: it
 * finds the work done so far taken and does what is left. Dynamic units
 * balance threads that run at different speeds (another process, the engine's own threads), and B
 * is packed once, not once per thread. Every element of C is summed by the same micro-kernel over
 * the same k blocks in the same order as in one thread: bit-identical results.
 *
 * A thread that fails sets the abort word, so that the others leave their barrier with an error
 * instead of waiting; a barrier not reached within timeoutMs aborts the product too.
 * Self-contained: the worker's source is this function's text (see the file comment).
 */
export const gemmShared = (kern: GemmKernels, words: Int32Array, job: SharedJob): void => {
  const [table, count, m, n, k, aI, aP, bJ, bP, ldc, packA0, tile0, stride, packB, KC, MC, NC, NR, sync, threads, self, timeoutMs] = job;
  const UNIT = sync >> 2;
  const ARRIVED = UNIT + 1;
  const GENERATION = UNIT + 2;
  const ABORT = UNIT + 3;
  const PACK = UNIT + 4;
  const PACKED = UNIT + 5;
  /** NR-column panels of B per packing chunk. */
  const PACK_CHUNK_PANELS = 8;
  const packA = packA0 + self * stride;
  const tile = tile0 + self * stride;
  /** Spins, then sleeps in 1 ms slices, until words[at] satisfies `done`; throws when another
   *  thread has failed or after timeoutMs. */
  const waitFor = (at: number, done: (value: number) => boolean, what: string): void => {
    const deadline = Date.now() + timeoutMs;
    for (let spins = 0, v = Atomics.load(words, at); !done(v); spins++, v = Atomics.load(words, at)) {
      if (Atomics.load(words, ABORT) !== 0) throw new Error('abandoned: another thread failed');
      if (spins < 2000) continue;
      if (Date.now() > deadline) throw new Error(`thread ${self} waited over ${timeoutMs} ms ${what}`);
      Atomics.wait(words, at, v, 1);
    }
  };
  const barrier = (): void => {
    const gen = Atomics.load(words, GENERATION);
    if (Atomics.add(words, ARRIVED, 1) === threads - 1) {
      // Last to arrive: reset the counters for the next block, then release the others.
      Atomics.store(words, ARRIVED, 0);
      Atomics.store(words, UNIT, 0);
      Atomics.store(words, PACK, 0);
      Atomics.store(words, PACKED, 0);
      Atomics.add(words, GENERATION, 1);
      Atomics.notify(words, GENERATION);
      return;
    }
    waitFor(GENERATION, (g) => g !== gen, 'at a barrier');
  };
  /** Waits until every chunk of the block is packed (whoever packed them). */
  const packedAll = (chunks: number): void => waitFor(PACKED, (p) => p >= chunks, 'for B to be packed');
  try {
    const mBlocks = Math.ceil(m / MC);
    for (let t = 0; t < count; t++) {
      const at = (table >> 2) + 3 * t;
      const aBase = words[at]!;
      const bBase = words[at + 1]!;
      const cBase = words[at + 2]!;
      for (let jc = 0; jc < n; jc += NC) {
        const nc = Math.min(NC, n - jc);
        const panels = Math.ceil(nc / NR);
        // Few row blocks: cut the columns too, for about four units per thread.
        const colRuns = mBlocks >= 4 * threads ? 1 : Math.min(panels, Math.ceil((4 * threads) / mBlocks));
        const runWidth = Math.ceil(panels / colRuns) * NR;
        const runs = Math.ceil(nc / runWidth);
        for (let pc = 0; pc < k; pc += KC) {
          const kc = Math.min(KC, k - pc);
          // Chunks of panels are taken from a counter, so a thread that comes late (the caller,
          // allocating the result meanwhile) finds the block packed and goes on to the units.
          const chunks = Math.ceil(panels / PACK_CHUNK_PANELS);
          for (let c = Atomics.add(words, PACK, 1); c < chunks; c = Atomics.add(words, PACK, 1)) {
            const j0 = c * PACK_CHUNK_PANELS * NR;
            const j1 = Math.min(j0 + PACK_CHUNK_PANELS * NR, nc);
            kern.packB(bBase + pc * bP + (jc + j0) * bJ, bJ, bP, j1 - j0, kc, packB + j0 * kc * 4);
            if (Atomics.add(words, PACKED, 1) === chunks - 1) Atomics.notify(words, PACKED);
          }
          packedAll(chunks);
          let packed = -1;
          for (let u = Atomics.add(words, UNIT, 1); u < mBlocks * runs; u = Atomics.add(words, UNIT, 1)) {
            const ib = Math.floor(u / runs);
            const j0 = (u - ib * runs) * runWidth;
            const ic = ib * MC;
            const mc = Math.min(MC, m - ic);
            if (ib !== packed) {
              kern.packA(aBase + ic * aI + pc * aP, aI, aP, mc, kc, packA);
              packed = ib;
            }
            const ncs = Math.min(runWidth, nc - j0);
            kern.macro(packA, packB + j0 * kc * 4, cBase + ic * ldc + (jc + j0) * 4, mc, ncs, kc, ldc, pc > 0 ? 1 : 0, tile);
          }
          barrier();
        }
      }
    }
  } catch (e) {
    Atomics.store(words, ABORT, 1);
    Atomics.notify(words, GENERATION);
    Atomics.notify(words, PACKED);
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
  if (Math.ceil(p.m / MR) >= Math.ceil(p.n / NR)) return cuts(p.m, threads, MR).map(([i0, i1]) => ({ ...whole, i0, i1 }));
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
  const api = (globalThis as unknown as { WebAssembly: { Instance: new (m: object, i: object) => { exports: unknown } } }).WebAssembly;
  const kern = new api.Instance(data.module, { env: { memory: data.memory } }).exports as GemmKernels & Record<string, (...a: number[]) => void>;
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
 * for the `threads` there are, numbered, so that no barrier waits for a thread that never comes
 * (fewer workers may be ready than when the jobs were made); and its sync words are reset. Other
 * jobs are returned as they are.
 */
const shareAmong = (jobs: readonly Job[], threads: number, words: Int32Array): readonly Job[] => {
  const first = jobs[0]!;
  if (!('shared' in first)) return jobs;
  // All but the barrier's generation, which only ever grows (a waiter compares it with its own).
  const SYNC = first.shared[SHARED_SYNC] >> 2;
  for (let i = 0; i < SYNC_WORDS; i++) if (i !== 2) Atomics.store(words, SYNC + i, 0);
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
    const worker = new o.Worker(source, { eval: true, workerData: { module: o.module, memory: o.memory, control: control.buffer } });
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

  const run = (kern: KernelExports, words: Int32Array, given: readonly Job[], what: () => string, meanwhile?: () => void): void => {
    const helpers = threads.filter(isReady).slice(0, given.length - 1);
    const jobs = shareAmong(given, helpers.length + 1, words);
    const seqs = helpers.map((t, i) => post(t, jobs[i + 1]!));
    const started = Date.now();
    let own: { readonly error: unknown } | null = null;
    try {
      meanwhile?.();
      runJob(kern, words, jobs[0]!);
      for (const job of jobs.slice(helpers.length + 1)) runJob(kern, words, job);
    } catch (error) {
      own = { error };
    }
    // A slow machine stretches the workers' parts as it stretched ours: allow for that (but not
    // when our part failed: a shared product's part fails by waiting for the others).
    const timeoutMs = own === null ? Math.max(o.timeoutMs, 10 * (Date.now() - started)) : o.timeoutMs;
    const deadline = Date.now() + timeoutMs;
    const errors = helpers.map((t, i) => finish(t, threads.indexOf(t) + 1, seqs[i]!, deadline, timeoutMs));
    const first = errors.find((e) => e !== null);
    const shared = 'shared' in jobs[0]!;
    if (own !== null && !shared) throw own.error;
    // In a shared product, a worker's failure is the cause of ours (we were waiting for it).
    if (first !== undefined && first !== null) throw new Error(`wasm: ${what()}: ${first}`);
    if (own !== null) throw new Error(`wasm: ${what()}: ${own.error instanceof Error ? own.error.message : String(own.error)}`);
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
