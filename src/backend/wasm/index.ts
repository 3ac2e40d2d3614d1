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
 * - `where` with full operands and a per-block condition (e.g. [B, 1, 1] over [B, S, D]) is done
 *   here too, by block copies in JS (no arithmetic: bit for bit), and counted as `where`.
 *
 * Element-wise work streams through WebAssembly memory in chunks (CHUNK values): copy a chunk in,
 * compute in place, copy it out into the fresh result; the copies stay in cache whatever the size.
 *
 * Everything else is handed explicitly to the reference kernels (`reference.ts`), and each hand-over
 * is counted by reason in `stats().delegated`:
 * - `dtype`: float64 and int32 data (the kernels are float32; never lose precision silently);
 * - `op`: kernels not accelerated here (log, sign, sin, cos, reductions, argmax, movement, gather,
 *   scatterAdd, cast, and binary ops other than add/sub/mul/div);
 * - `broadcast`: binary / where layouts other than the ones above;
 * - `small`: results under `minElements` values, products under `minMatmulFlops` multiply-adds, or
 *   `where` blocks under 16 values, where the overhead costs more than it saves;
 * - `size`: work that would need more than `maxMemoryBytes` of WebAssembly memory.
 *
 * State: each backend owns one WebAssembly.Memory (the kernels' constant table at its start),
 * grown on demand to the largest call so far and reused. Inputs are copied into it, results are
 * copied out into fresh typed arrays: nothing a caller holds ever aliases the backend's memory, and
 * no call depends on an earlier one.
 */
import type { DType, TypedArray } from '../../tensor/dtype.js';
import type { Shape } from '../../tensor/shape.js';
import { size } from '../../tensor/shape.js';
import type { Backend, BinaryOp, MatmulSpec, ReduceOp, UnaryOp } from '../backend.js';
import { reference } from '../reference.js';
import { CONST_BYTES, CONSTS, type ElementwiseOp, type KernelExports, MR, NR, UNARY_OPS, type WasmUnaryOp, kernelModuleBytes } from './kernels.js';

/** Cache blocking of the product: a KC×NC block of B and an MC×KC block of A are packed at a time. */
export const KC = 256;
export const MC = 128;
export const NC = 1024;

const PAGE = 65536;

/** Values per chunk of element-wise work: 64 KiB per operand, so the copies in and out stay in L2. */
export const CHUNK = 16384;

export interface WasmBackendOptions {
  /** Element-wise results with fewer values go to the reference kernels; default 256. */
  readonly minElements?: number;
  /** Products with fewer multiply-adds (batch·m·k·n) go to the reference kernel; default 4096. */
  readonly minMatmulFlops?: number;
  /** Upper bound on the WebAssembly memory this backend may grow to; default 2 GiB − 64 KiB. */
  readonly maxMemoryBytes?: number;
  /** Element-wise work streams through WebAssembly memory this many values at a time; default
   *  CHUNK (16384). Smaller values exist for tests of the multi-chunk path. */
  readonly chunkElements?: number;
}

export interface WasmStats {
  /** op → calls computed in WebAssembly. */
  readonly wasm: Readonly<Record<string, number>>;
  /** 'op:reason' → calls handed to the reference kernels. */
  readonly delegated: Readonly<Record<string, number>>;
  /** Current size of the backend's WebAssembly memory. */
  readonly memoryBytes: number;
}

export interface WasmBackend extends Backend {
  stats(): WasmStats;
}

/** The slice of the WebAssembly JS API used here, typed locally: the project's lib is ES2022
 *  without DOM, and @types/node 20 does not declare the WebAssembly global. */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (module: object, imports: object) => { readonly exports: unknown };
  readonly Memory: new (descriptor: { initial: number }) => WasmMemory;
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

let bytes: Uint8Array | null = null;
let compiled: object | null = null;

const moduleBytes = (): Uint8Array => {
  bytes ??= kernelModuleBytes();
  return bytes;
};

/** The kernel module, assembled and compiled once per process. */
const kernelModule = (api: WasmApi): object => {
  compiled ??= new api.Module(moduleBytes());
  return compiled;
};

/** Whether this runtime validates the kernel module (WebAssembly with fixed-width SIMD). */
export const wasmSimdSupported = (): boolean => {
  try {
    return wasmApi !== undefined && wasmApi.validate(moduleBytes());
  } catch {
    return false;
  }
};

const align16 = (bytes: number): number => (bytes + 15) & ~15;

/** The kernels' constant table sits at the start of memory, then the packing buffers and the edge tile. */
const roundUp = (x: number, r: number): number => Math.ceil(x / r) * r;
const PACK_A = align16(CONSTS + CONST_BYTES);
const PACK_B = PACK_A + align16(roundUp(MC, MR) * KC * 4);
const TILE = PACK_B + align16(roundUp(NC, NR) * KC * 4);
const HEAP = align16(TILE + MR * NR * 4);

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

export const createWasmBackend = (options: WasmBackendOptions = {}): WasmBackend => {
  const minElements = options.minElements ?? 256;
  const minMatmulFlops = options.minMatmulFlops ?? 4096;
  const maxMemoryBytes = Math.min(options.maxMemoryBytes ?? 2 ** 31 - PAGE, 2 ** 31 - PAGE);
  const chunk = Math.max(1, Math.floor(options.chunkElements ?? CHUNK));

  if (wasmApi === undefined || !wasmSimdSupported()) {
    throw new Error('wasm: this runtime has no WebAssembly with SIMD (Node ≥ 16.4 has it)');
  }
  let memory: WasmMemory | null = new wasmApi.Memory({ initial: Math.ceil(HEAP / PAGE) + 1 });
  let view = new Float32Array(memory.buffer);
  const k = new wasmApi.Instance(kernelModule(wasmApi), { env: { memory } }).exports as KernelExports;

  const wasmCalls: Record<string, number> = {};
  const delegatedCalls: Record<string, number> = {};
  const count = (rec: Record<string, number>, key: string): void => {
    rec[key] = (rec[key] ?? 0) + 1;
  };

  const live = (op: string): WasmMemory => {
    if (memory === null) throw new Error(`wasm: ${op}: the backend is closed`);
    return memory;
  };

  /** Grows memory to hold `bytes` past HEAP; returns a fresh float32 view, or null if too big. */
  const reserve = (op: string, bytes: number): Float32Array | null => {
    const mem = live(op);
    const need = HEAP + bytes;
    if (need > maxMemoryBytes) return null;
    const have = mem.buffer.byteLength;
    if (need > have) mem.grow(Math.ceil((need - have) / PAGE));
    // Growing replaces the ArrayBuffer (the old one is detached): re-make the view only then.
    if (view.buffer !== mem.buffer) view = new Float32Array(mem.buffer);
    return view;
  };

  const delegate = <T>(op: string, reason: string, run: () => T): T => {
    live(op);
    count(delegatedCalls, `${op}:${reason}`);
    return run();
  };

  const matmul = (a: TypedArray, b: TypedArray, spec: MatmulSpec): TypedArray => {
    const run = (): TypedArray => reference.matmul(a, b, spec);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return delegate('matmul', 'dtype', run);
    const { m, k: kk, n, transA, transB } = spec;
    const batch = spec.aOffsets.length;
    const outLen = batch * m * n;
    if (outLen === 0 || kk === 0) {
      live('matmul');
      count(wasmCalls, 'matmul');
      return new Float32Array(outLen);
    }
    if (batch * m * n * kk < minMatmulFlops) return delegate('matmul', 'small', run);
    const aAt = HEAP;
    const bAt = aAt + align16(a.length * 4);
    const cAt = bAt + align16(b.length * 4);
    const f32 = reserve('matmul', cAt + outLen * 4 - HEAP);
    if (f32 === null) return delegate('matmul', 'size', run);
    count(wasmCalls, 'matmul');
    f32.set(a, aAt >> 2);
    f32.set(b, bAt >> 2);
    // Byte strides of op(A)(i, p) along i ("inner" for packA) and p, and of op(B)(p, j) along j and p.
    const aI = (transA ? 1 : kk) * 4;
    const aP = (transA ? m : 1) * 4;
    const bJ = (transB ? kk : 1) * 4;
    const bP = (transB ? 1 : n) * 4;
    const ldc = n * 4;
    for (let bi = 0; bi < batch; bi++) {
      const aBase = aAt + spec.aOffsets[bi]! * 4;
      const bBase = bAt + spec.bOffsets[bi]! * 4;
      const cBase = cAt + bi * m * n * 4;
      for (let jc = 0; jc < n; jc += NC) {
        const nc = Math.min(NC, n - jc);
        for (let pc = 0; pc < kk; pc += KC) {
          const kc = Math.min(KC, kk - pc);
          k.packB(bBase + pc * bP + jc * bJ, bJ, bP, nc, kc, PACK_B);
          for (let ic = 0; ic < m; ic += MC) {
            const mc = Math.min(MC, m - ic);
            k.packA(aBase + ic * aI + pc * aP, aI, aP, mc, kc, PACK_A);
            k.macro(PACK_A, PACK_B, cBase + ic * ldc + jc * 4, mc, nc, kc, ldc, pc > 0 ? 1 : 0, TILE);
          }
        }
      }
    }
    return f32.slice(cAt >> 2, (cAt >> 2) + outLen);
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
    count(wasmCalls, op);
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

  const binary = (op: BinaryOp, a: TypedArray, aShape: Shape, b: TypedArray, bShape: Shape, outShape: Shape): TypedArray => {
    const run = (): TypedArray => reference.binary(op, a, aShape, b, bShape, outShape);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return delegate('binary', 'dtype', run);
    if (!elementwise.has(op)) return delegate('binary', 'op', run);
    const n = size(outShape);
    if (n < minElements) return delegate('binary', 'small', run);
    if (n === 0) {
      live('binary');
      count(wasmCalls, 'binary');
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
      result = stream('binary', a, b, false, n / b.length, b.length, 0, (A, B, r) => k[`${e}_row`](A, B, A, r, b.length));
    } else if (b.length === n && isTrailingBroadcast(aShape, outShape)) {
      result = stream('binary', b, a, false, n / a.length, a.length, 0, (A, B, r) => k[`${e}_rowr`](A, B, A, r, a.length));
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
    const run = (): TypedArray => reference.unary(op, x);
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
  const where = (c: TypedArray, cS: Shape, a: TypedArray, aS: Shape, b: TypedArray, bS: Shape, outS: Shape): TypedArray => {
    const run = (): TypedArray => reference.where(c, cS, a, aS, b, bS, outS);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return delegate('where', 'dtype', run);
    const n = size(outS);
    const block = c.length === 0 ? 0 : n / c.length;
    if (a.length !== n || b.length !== n || n === 0 || !isBlockBroadcast(cS, outS)) return delegate('where', 'broadcast', run);
    // Blocks under 16 values: per-block set() costs more than the reference's loop.
    if (block < 16) return delegate('where', 'small', run);
    live('where');
    count(wasmCalls, 'where');
    const out = new Float32Array(n);
    for (let i = 0, at = 0; i < c.length; i++, at += block) out.set((c[i] !== 0 ? a : b).subarray(at, at + block), at);
    return out;
  };

  const dtypeOrOp = (x: TypedArray): string => (x instanceof Float32Array ? 'op' : 'dtype');

  return Object.freeze({
    name: 'wasm',
    unary,
    binary,
    where,
    reduce: (op: ReduceOp, x: TypedArray, outer: number, n: number, inner: number) =>
      delegate('reduce', dtypeOrOp(x), () => reference.reduce(op, x, outer, n, inner)),
    argmax: (x: TypedArray, outer: number, n: number, inner: number) =>
      delegate('argmax', dtypeOrOp(x), () => reference.argmax(x, outer, n, inner)),
    matmul,
    permute: (x: TypedArray, shape: Shape, perm: readonly number[]) =>
      delegate('permute', dtypeOrOp(x), () => reference.permute(x, shape, perm)),
    slice: (x: TypedArray, shape: Shape, starts: readonly number[], sizes: readonly number[]) =>
      delegate('slice', dtypeOrOp(x), () => reference.slice(x, shape, starts, sizes)),
    pad: (x: TypedArray, shape: Shape, before: readonly number[], outShape: Shape, value: number) =>
      delegate('pad', dtypeOrOp(x), () => reference.pad(x, shape, before, outShape, value)),
    concat: (parts: readonly { readonly data: TypedArray; readonly shape: Shape }[], axis: number, outShape: Shape) =>
      delegate('concat', parts[0] === undefined ? 'op' : dtypeOrOp(parts[0].data), () => reference.concat(parts, axis, outShape)),
    gather: (table: TypedArray, rows: number, cols: number, ids: Int32Array) =>
      delegate('gather', dtypeOrOp(table), () => reference.gather(table, rows, cols, ids)),
    scatterAdd: (values: TypedArray, ids: Int32Array, rows: number, cols: number) =>
      delegate('scatterAdd', dtypeOrOp(values), () => reference.scatterAdd(values, ids, rows, cols)),
    cast: (x: TypedArray, dtype: DType) =>
      delegate('cast', dtypeOrOp(x), () => reference.cast(x, dtype)),
    stats: (): WasmStats => ({
      wasm: { ...wasmCalls },
      delegated: { ...delegatedCalls },
      memoryBytes: memory?.buffer.byteLength ?? 0,
    }),
    close: (): void => {
      memory = null;
      view = new Float32Array(0);
    },
  });
};
