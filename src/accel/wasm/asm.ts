/**
 * A tiny WebAssembly assembler: just enough of the binary format (MVP + fixed-width SIMD) to emit
 * the kernels in kernels.ts from TypeScript at module load, so the backend builds on a fresh
 * machine from nothing but this source — no toolchain, no checked-in binary.
 *
 * Functions are written against named parameters and locals; each method appends one instruction
 * (its opcode and immediates as the spec encodes them). Only the instructions the kernels use are
 * here. Reference: WebAssembly Core Specification 2.0, §5 (binary format); SIMD opcodes are the
 * 0xFD-prefixed ones of the fixed-width SIMD proposal (standard since 2.0).
 */

export type ValType = 'i32' | 'f32' | 'v128';

const valTypeCode: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Unsigned LEB128. */
export const uleb = (v: number): number[] => {
  const out: number[] = [];
  let x = v >>> 0;
  do {
    let byte = x & 0x7f;
    x >>>= 7;
    if (x !== 0) byte |= 0x80;
    out.push(byte);
  } while (x !== 0);
  return out;
};

/** Signed LEB128 of a 32-bit integer. */
export const sleb = (v: number): number[] => {
  const out: number[] = [];
  let x = v | 0;
  for (;;) {
    const byte = x & 0x7f;
    x >>= 7;
    const done = (x === 0 && (byte & 0x40) === 0) || (x === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
};

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const vec = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

/** The body of one function: named params/locals and an instruction stream. */
export class Fn {
  private readonly code: number[] = [];
  private readonly index = new Map<string, number>();
  private readonly localTypes: ValType[] = [];
  readonly paramTypes: readonly ValType[];

  constructor(
    readonly name: string,
    params: readonly (readonly [string, ValType])[],
    readonly resultTypes: readonly ValType[] = [],
  ) {
    params.forEach(([n], i) => this.index.set(n, i));
    this.paramTypes = params.map(([, t]) => t);
  }

  /** Declares locals (zero-initialised, as wasm does). */
  locals(type: ValType, ...names: string[]): this {
    for (const n of names) {
      if (this.index.has(n)) throw new Error(`asm: ${this.name}: duplicate local ${n}`);
      this.index.set(n, this.paramTypes.length + this.localTypes.length);
      this.localTypes.push(type);
    }
    return this;
  }

  private idx(n: string): number {
    const i = this.index.get(n);
    if (i === undefined) throw new Error(`asm: ${this.name}: unknown local ${n}`);
    return i;
  }

  private emit(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }

  private simd(op: number, ...imm: number[]): this {
    return this.emit(0xfd, ...uleb(op), ...imm);
  }

  // --- variables and constants
  get(n: string): this {
    return this.emit(0x20, ...uleb(this.idx(n)));
  }
  set(n: string): this {
    return this.emit(0x21, ...uleb(this.idx(n)));
  }
  tee(n: string): this {
    return this.emit(0x22, ...uleb(this.idx(n)));
  }
  i32(v: number): this {
    return this.emit(0x41, ...sleb(v));
  }
  f32(v: number): this {
    const b = new Uint8Array(new Float32Array([v]).buffer);
    return this.emit(0x43, ...b);
  }

  // --- control (blocks have no result)
  block(): this {
    return this.emit(0x02, 0x40);
  }
  loop(): this {
    return this.emit(0x03, 0x40);
  }
  if(): this {
    return this.emit(0x04, 0x40);
  }
  else(): this {
    return this.emit(0x05);
  }
  end(): this {
    return this.emit(0x0b);
  }
  br(depth: number): this {
    return this.emit(0x0c, ...uleb(depth));
  }
  brIf(depth: number): this {
    return this.emit(0x0d, ...uleb(depth));
  }
  return(): this {
    return this.emit(0x0f);
  }
  drop(): this {
    return this.emit(0x1a);
  }
  select(): this {
    return this.emit(0x1b);
  }

  // --- i32
  i32Eqz(): this {
    return this.emit(0x45);
  }
  i32Eq(): this {
    return this.emit(0x46);
  }
  i32Ne(): this {
    return this.emit(0x47);
  }
  i32LtS(): this {
    return this.emit(0x48);
  }
  i32GtS(): this {
    return this.emit(0x4a);
  }
  i32LeS(): this {
    return this.emit(0x4c);
  }
  i32GeS(): this {
    return this.emit(0x4e);
  }
  i32Add(): this {
    return this.emit(0x6a);
  }
  i32Sub(): this {
    return this.emit(0x6b);
  }
  i32Mul(): this {
    return this.emit(0x6c);
  }
  i32And(): this {
    return this.emit(0x71);
  }
  i32Shl(): this {
    return this.emit(0x74);
  }

  // --- f32 scalar
  f32Load(offset = 0): this {
    return this.emit(0x2a, 2, ...uleb(offset));
  }
  f32Store(offset = 0): this {
    return this.emit(0x38, 2, ...uleb(offset));
  }
  f32Add(): this {
    return this.emit(0x92);
  }
  f32Sub(): this {
    return this.emit(0x93);
  }
  f32Mul(): this {
    return this.emit(0x94);
  }
  f32Div(): this {
    return this.emit(0x95);
  }
  f32Sqrt(): this {
    return this.emit(0x91);
  }

  // --- v128 / f32x4 (alignment hint 4 = 16 bytes; a hint only, unaligned access is legal)
  v128Load(offset = 0): this {
    return this.simd(0x00, 4, ...uleb(offset));
  }
  v128Load32Splat(offset = 0): this {
    return this.simd(0x09, 2, ...uleb(offset));
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b, 4, ...uleb(offset));
  }
  /** v128.const of four f32 lanes. */
  f32x4Const(a: number, b = a, c = a, d = a): this {
    return this.simd(0x0c, ...new Uint8Array(new Float32Array([a, b, c, d]).buffer));
  }
  /** i8x16.shuffle with 16 lane indices into the 32 bytes of the two operands. */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new Error('asm: shuffle needs 16 lanes');
    return this.simd(0x0d, ...lanes);
  }
  f32x4Splat(): this {
    return this.simd(0x13);
  }
  f32x4ExtractLane(lane: number): this {
    return this.simd(0x1f, lane);
  }
  f32x4Add(): this {
    return this.simd(0xe4);
  }
  f32x4Sub(): this {
    return this.simd(0xe5);
  }
  f32x4Mul(): this {
    return this.simd(0xe6);
  }
  /** a·b + c, fused or not as the engine chooses (relaxed SIMD); stack: a b c → r. */
  f32x4RelaxedMadd(): this {
    return this.simd(0x105);
  }
  f32x4Div(): this {
    return this.simd(0xe7);
  }
  f32x4Abs(): this {
    return this.simd(0xe0);
  }
  f32x4Neg(): this {
    return this.simd(0xe1);
  }
  f32x4Sqrt(): this {
    return this.simd(0xe3);
  }
  /** Lane-wise minimum; NaN if either lane is NaN. */
  f32x4Min(): this {
    return this.simd(0xe8);
  }
  /** Lane-wise maximum; NaN if either lane is NaN. */
  f32x4Max(): this {
    return this.simd(0xe9);
  }
  /** Pseudo-minimum b < a ? b : a (one x86 minps; a NaN in a is kept). */
  f32x4Pmin(): this {
    return this.simd(0xea);
  }
  /** Pseudo-maximum a < b ? b : a (one x86 maxps; a NaN in a is kept). */
  f32x4Pmax(): this {
    return this.simd(0xeb);
  }
  /** Round to the nearest integer, ties to even. */
  f32x4Nearest(): this {
    return this.simd(0x6a);
  }
  /** Comparisons give an all-ones / all-zeros mask per lane. */
  f32x4Eq(): this {
    return this.simd(0x41);
  }
  f32x4Ne(): this {
    return this.simd(0x42);
  }
  f32x4Lt(): this {
    return this.simd(0x43);
  }
  f32x4Gt(): this {
    return this.simd(0x44);
  }
  f32x4Le(): this {
    return this.simd(0x45);
  }
  f32x4Ge(): this {
    return this.simd(0x46);
  }
  /** Saturating float → int32 (NaN → 0). */
  i32x4TruncSatF32x4S(): this {
    return this.simd(0xf8);
  }
  /** v128.const of four i32 lanes. */
  i32x4Const(a: number, b = a, c = a, d = a): this {
    return this.simd(0x0c, ...new Uint8Array(new Int32Array([a, b, c, d]).buffer));
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  i32x4Add(): this {
    return this.simd(0xae);
  }
  i32x4Sub(): this {
    return this.simd(0xb1);
  }
  /** Shift left by an i32 count (on top of the stack). */
  i32x4Shl(): this {
    return this.simd(0xab);
  }
  /** Arithmetic shift right by an i32 count (on top of the stack). */
  i32x4ShrS(): this {
    return this.simd(0xac);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  v128Or(): this {
    return this.simd(0x50);
  }
  v128Xor(): this {
    return this.simd(0x51);
  }
  /** bitselect(v1, v2, mask) = (v1 & mask) | (v2 & ~mask). */
  v128Bitselect(): this {
    return this.simd(0x52);
  }

  /** local = min(local, c) for an i32 local and constant c. */
  minConst(local: string, c: number): this {
    // select(v1, v2, cond) is cond ? v1 : v2.
    return this.i32(c).get(local).get(local).i32(c).i32GtS().select().set(local);
  }

  /** `for (; i < limit; i += step) body` over i32 locals (i is not reset). */
  forLt(i: string, limit: string, step: number, body: () => void): this {
    this.block().loop();
    this.get(i).get(limit).i32GeS().brIf(1);
    body();
    this.get(i).i32(step).i32Add().set(i);
    this.br(0).end().end();
    return this;
  }

  /** `do { body } while (--n > 0)`; n must be > 0 on entry. */
  doCountdown(n: string, body: () => void): this {
    this.loop();
    body();
    this.get(n).i32(1).i32Sub().tee(n).brIf(0);
    this.end();
    return this;
  }

  /** @internal */
  encode(): number[] {
    // Locals: one run per declared local (simple, and well under any limit).
    const groups = this.localTypes.map((t) => [1, valTypeCode[t]]);
    const body = [...vec(groups), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/** Bytes written into memory at `offset` when the module is instantiated (an active data segment). */
export interface DataSegment {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/** How the module imports env.memory: an ordinary (growable, unshared) memory by default. */
export interface AssembleOptions {
  /**
   * Import a *shared* memory with this maximum, in 64 KiB pages (limits flag 0x03: min 1, max),
   * so that several threads can instantiate the module on one memory. A memory passed in must then
   * be shared too, with a maximum of at most this many pages. Absent: limits flag 0x00, min 1, no
   * maximum; such a module also runs where SharedArrayBuffer is unavailable (a browser page
   * without cross-origin isolation).
   */
  readonly sharedMaxPages?: number;
}

/** The import section: the single import env.memory (kind 0x02) with the limits `options` ask for. */
const memoryImports = (options: AssembleOptions): number[] => {
  const name = (s: string): number[] => [...uleb(utf8(s).length), ...utf8(s)];
  const max = options.sharedMaxPages;
  if (max !== undefined && !(Number.isInteger(max) && max >= 1 && max <= 65536)) {
    throw new Error(`asm: sharedMaxPages must be an integer in [1, 65536], got ${max}`);
  }
  const limits = max === undefined ? [0x00, ...uleb(1)] : [0x03, ...uleb(1), ...uleb(max)];
  return vec([[...name('env'), ...name('memory'), 0x02, ...limits]]);
};

/**
 * A module importing its memory as env.memory, exporting every function by name, and initialising
 * the given data segments at each instantiation.
 */
export const assemble = (
  fns: readonly Fn[],
  data: readonly DataSegment[] = [],
  options: AssembleOptions = {},
): Uint8Array => {
  const types = fns.map((f) => [
    0x60,
    ...vec(f.paramTypes.map((t) => [valTypeCode[t]])),
    ...vec(f.resultTypes.map((t) => [valTypeCode[t]])),
  ]);
  const name = (s: string): number[] => [...uleb(utf8(s).length), ...utf8(s)];
  const funcs = vec(fns.map((_, i) => uleb(i)));
  const exports = vec(fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const code = vec(fns.map((f) => f.encode()));
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(types)),
    ...section(2, memoryImports(options)),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, code),
    // Data: active segments of memory 0: flag 0, offset expression `i32.const offset; end`, bytes.
    ...(data.length === 0
      ? []
      : section(11, vec(data.map((d) => [0x00, 0x41, ...sleb(d.offset), 0x0b, ...uleb(d.bytes.length), ...d.bytes])))),
  ]);
};

/** Reads an unsigned LEB128 at `at`: its value and the offset just past it. */
const readUleb = (bytes: Uint8Array, at: number): readonly [number, number] => {
  let value = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[at++];
    if (byte === undefined || shift > 28) throw new Error('asm: truncated or overlong LEB128');
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
  }
};

/**
 * The module `bytes` (as `assemble` emitted it, without options) with its memory import made
 * shared, maximum `maxPages`: the import section is replaced, every other section is kept byte
 * for byte. For callers that get finished bytes rather than the function list (kernelModuleBytes).
 */
export const withSharedMemory = (bytes: Uint8Array, maxPages: number): Uint8Array => {
  const unshared = memoryImports({});
  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  let found = false;
  for (let at = 8; at < bytes.length; ) {
    const [len, body] = readUleb(bytes, at + 1);
    const next = body + len;
    if (bytes[at] === 2) {
      const same = len === unshared.length && unshared.every((b, i) => bytes[body + i] === b);
      if (!same) throw new Error('asm: withSharedMemory: the import section is not the single unshared env.memory');
      parts.push(new Uint8Array(section(2, memoryImports({ sharedMaxPages: maxPages }))));
      found = true;
    } else {
      parts.push(bytes.subarray(at, next));
    }
    at = next;
  }
  if (!found) throw new Error('asm: withSharedMemory: the module imports no memory');
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};
