/**
 * Laws of the safetensors reader and writer.
 *
 * The reader faces files from strangers, so most laws here are about hostile input: random
 * bytes, every truncation of a valid file, headers that lie about offsets, lengths, shapes and
 * dtypes, overlapping ranges, absurd header lengths and prototype-polluting keys must all come
 * back as a `Left` with a message, never as a throw, and must leave `Object.prototype` alone.
 * The writer's law is the round trip, for every dtype it can write; the 16-bit float conversions
 * are checked exhaustively against an independent arithmetic decoder.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { bf16BitsToF32Bits, f16BitsToF32Bits, numberToBf16Bits, numberToF16Bits } from '../src/io/half.js';
import { parseStrictJson } from '../src/io/json-strict.js';
import {
  type SafetensorsFile,
  type StDtype,
  type StWriteEntry,
  decodeSafetensors,
  encodeSafetensors,
  stItemsize,
  stDtypes,
} from '../src/io/safetensors.js';
import type { DType, TypedArray } from '../src/core/dtype.js';
import { type Tensor, fromStorage, storage } from '../src/tensor/tensor.js';
import { type BoundaryError, formatBoundaryError } from '../src/io/errors.js';

// ---------------------------------------------------------------------------------------------
// Helpers

const FILE = 'fuzz.safetensors';
const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

afterAll(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
});

const noPollution = (): void => {
  const probe = {} as Record<string, unknown>;
  expect(probe.polluted).toBeUndefined();
  expect(probe.dtype).toBeUndefined();
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
};

/** What is wrong with a decode result under the reader's contract, if anything. */
const contractProblem = (r: E.Either<BoundaryError, SafetensorsFile>): string | undefined => {
  if (E.isRight(r)) return undefined;
  const e = r.left;
  if (e.file !== FILE) return `wrong file ${e.file}`;
  if (e.field.length === 0 || e.field === 'internal') return `bad field ${JSON.stringify(e.field)}: ${e.message}`;
  if (e.message.length === 0) return 'empty message';
  if (/[\r\n]/.test(formatBoundaryError(e))) return 'multi-line error';
  return undefined;
};

/** Decodes and checks the reader's contract: no throw, and a Left is a proper one-line error. */
const decode = (bytes: Uint8Array): E.Either<BoundaryError, SafetensorsFile> => {
  let r: E.Either<BoundaryError, SafetensorsFile>;
  try {
    r = decodeSafetensors(bytes, FILE);
  } catch (e) {
    throw new Error(`decodeSafetensors threw ${String(e)}`);
  }
  const problem = contractProblem(r);
  if (problem !== undefined) throw new Error(problem);
  return r;
};

const expectLeft = (bytes: Uint8Array): BoundaryError => {
  const r = decode(bytes);
  if (E.isRight(r)) throw new Error(`expected Left for header ${headerText(bytes)}`);
  return r.left;
};

const headerText = (bytes: Uint8Array): string => {
  if (bytes.length < 8) return '(short)';
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
  return new TextDecoder().decode(bytes.subarray(8, 8 + Math.min(n, 400)));
};

/** A file from header text and data bytes, with an honest (or a given) u64 length prefix. */
const assemble = (header: string, data: Uint8Array, lengthPrefix?: bigint): Uint8Array => {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lengthPrefix ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
};

/** Splits an encoded file (ours, hence trusted) into its parsed header and data section. */
const split = (bytes: Uint8Array): { readonly header: Record<string, unknown>; readonly data: Uint8Array } => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return {
    header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>,
    data: bytes.subarray(8 + n),
  };
};

const wellFormed = (s: string): boolean => {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
};

/** Independent, arithmetic decoders of the 16-bit floats (no bit tricks shared with the code). */
const refF16 = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
};
const refBf16 = (h: number): number => {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 7) & 0xff;
  const m = h & 0x7f;
  if (e === 0) return s * m * 2 ** -133;
  if (e === 255) return m === 0 ? s * Infinity : NaN;
  return s * (1 + m / 128) * 2 ** (e - 127);
};
const bitsToF32 = (bits: number): number => new Float32Array(new Uint32Array([bits]).buffer)[0]!;

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Tensor names: arbitrary Unicode plus the names that trip up object-based readers. */
const nameArb: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: 'binary', maxLength: 10 }),
    fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      '0',
      '10',
      '',
      'a"b\\c\n\u0000',
      '𝔘',
    ),
  )
  .filter((s) => s !== '__metadata__' && wellFormed(s));

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 });
const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

const u16s = (n: number) => fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: n, maxLength: n });
const ints = (n: number, min: number, max: number) =>
  fc.array(fc.integer({ min, max }), { minLength: n, maxLength: n });

/** Every (tensor dtype, file dtype) pair the writer accepts. */
const COMBOS: readonly (readonly [DType, StDtype])[] = [
  ['float32', 'F32'],
  ['float32', 'F64'],
  ['float32', 'F16'],
  ['float32', 'BF16'],
  ['float64', 'F64'],
  ['float64', 'F32'],
  ['float64', 'F16'],
  ['float64', 'BF16'],
  ['int32', 'I32'],
  ['int32', 'I64'],
  ['int32', 'I16'],
  ['int32', 'I8'],
  ['int32', 'U64'],
  ['int32', 'U32'],
  ['int32', 'U16'],
  ['int32', 'U8'],
  ['int32', 'BOOL'],
];

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const INT_RANGES: Partial<Record<StDtype, readonly [number, number]>> = {
  I32: [INT_MIN, INT_MAX],
  I64: [INT_MIN, INT_MAX],
  I16: [-32768, 32767],
  I8: [-128, 127],
  U64: [0, INT_MAX],
  U32: [0, INT_MAX],
  U16: [0, 65535],
  U8: [0, 255],
  BOOL: [0, 1],
};

/** Storage for a tensor of `dtype` whose values the file dtype `st` can hold. */
const storageArb = (dtype: DType, st: StDtype, n: number): fc.Arbitrary<TypedArray> => {
  const floats = (vs: number[]): TypedArray => (dtype === 'float32' ? Float32Array.from(vs) : Float64Array.from(vs));
  if (dtype === 'int32') {
    const [lo, hi] = INT_RANGES[st]!;
    return ints(n, lo, hi).map((vs) => Int32Array.from(vs));
  }
  switch (st) {
    case 'F16':
      return u16s(n).map((hs) => floats(hs.map(refF16)));
    case 'BF16':
      return u16s(n).map((hs) => floats(hs.map(refBf16)));
    case 'F32':
      // Any float32 bit pattern, NaN payloads included; float64 tensors get any double.
      return dtype === 'float32'
        ? ints(n, 0, 0xffffffff).map((bits) => new Float32Array(Uint32Array.from(bits).buffer))
        : fc.array(fc.double(), { minLength: n, maxLength: n }).map(floats);
    default:
      // F64: any double bit pattern for float64 tensors; any float32 pattern for float32 ones.
      return dtype === 'float64'
        ? fc.uint8Array({ minLength: 8 * n, maxLength: 8 * n }).map((b) => new Float64Array(b.buffer))
        : ints(n, 0, 0xffffffff).map((bits) => new Float32Array(Uint32Array.from(bits).buffer));
  }
};

interface Drawn {
  readonly name: string;
  readonly tensor: Tensor;
  readonly dtype: StDtype;
}

const entryArb = (name: string): fc.Arbitrary<Drawn> =>
  fc
    .tuple(fc.constantFrom(...COMBOS), shapeArb)
    .chain(([[dtype, st], shape]) =>
      storageArb(dtype, st, numelOf(shape)).map((data) => ({ name, tensor: fromStorage(shape, data), dtype: st })),
    );

const entriesArb = (maxLength = 5): fc.Arbitrary<readonly Drawn[]> =>
  fc
    .uniqueArray(nameArb, { maxLength })
    .chain(
      (names): fc.Arbitrary<readonly Drawn[]> =>
        names.length === 0 ? fc.constant([]) : fc.tuple(...names.map(entryArb)),
    );

const metadataArb: fc.Arbitrary<Record<string, string>> = fc.dictionary(
  fc
    .oneof(fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'format'))
    .filter(wellFormed),
  fc.string({ unit: 'binary', maxLength: 12 }).filter(wellFormed),
  { maxKeys: 4 },
);

const fileArb = fc
  .tuple(entriesArb(), metadataArb)
  .map(([entries, metadata]) => ({ entries, metadata, bytes: encodeSafetensors(entries as StWriteEntry[], metadata) }));

/** A valid file with at least one tensor that has data. */
const fileWithDataArb = fileArb.filter((f) => f.entries.some((e) => e.tensor.size > 0));

const sameBits = (a: TypedArray, b: TypedArray): boolean => {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
};

const loadedAs = (st: StDtype): DType =>
  st === 'F64' ? 'float64' : st.startsWith('F') || st === 'BF16' ? 'float32' : 'int32';

// ---------------------------------------------------------------------------------------------
// Round trips

describe('round trip', () => {
  it('decode(encode(x)) == x for random tensors of every writable dtype, names and metadata', () => {
    fc.assert(
      fc.property(fileArb, ({ entries, metadata, bytes }) => {
        const st = E.getOrElseW((e: BoundaryError) => {
          throw new Error(formatBoundaryError(e));
        })(decode(bytes));
        expect([...st.tensors.keys()]).toEqual(entries.map((e) => e.name));
        expect(Object.entries(st.metadata).sort()).toEqual(Object.entries(metadata).sort());
        for (const { name, tensor, dtype } of entries) {
          const back = st.tensors.get(name)!;
          expect(st.dtypes.get(name)).toBe(dtype);
          expect(back.dtype).toBe(loadedAs(dtype));
          expect(back.shape).toEqual(tensor.shape);
          const exact =
            (dtype === 'F32' && tensor.dtype === 'float32') ||
            (dtype === 'F64' && tensor.dtype === 'float64') ||
            tensor.dtype === 'int32';
          if (exact) expect(sameBits(storage(back), storage(tensor))).toBe(true);
          else {
            const want = Array.from(tensor.data, (v) => (dtype === 'F32' ? Math.fround(v) : v));
            expect(Array.from(back.data).every((v, i) => Object.is(v, want[i]))).toBe(true);
          }
        }
        noPollution();
      }),
      { numRuns: 150 },
    );
  });

  it('pads the header to 8 bytes with spaces and decodes the same from any byte offset', () => {
    fc.assert(
      fc.property(fileArb, fc.integer({ min: 1, max: 7 }), ({ bytes }, shift) => {
        const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        expect((8 + n) % 8).toBe(0);
        const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
        expect(text.slice(text.lastIndexOf('}') + 1)).toMatch(/^ {0,7}$/);
        const moved = new Uint8Array(bytes.length + shift);
        moved.set(bytes, shift);
        const a = decode(bytes);
        const b = decode(moved.subarray(shift));
        if (E.isLeft(a) || E.isLeft(b)) throw new Error('expected Right');
        for (const [k, t] of a.right.tensors) expect(sameBits(storage(b.right.tensors.get(k)!), storage(t))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('handles rank-0 and zero-size tensors of every dtype', () => {
    for (const [dtype, st] of COMBOS) {
      for (const shape of [[], [0], [3, 0, 2], [0, 0]]) {
        const n = numelOf(shape);
        const data =
          dtype === 'int32'
            ? new Int32Array(n).fill(1)
            : dtype === 'float32'
              ? new Float32Array(n).fill(1)
              : new Float64Array(n).fill(1);
        const bytes = encodeSafetensors([{ name: 't', tensor: fromStorage(shape, data), dtype: st }]);
        const r = decode(bytes);
        if (E.isLeft(r)) throw new Error(formatBoundaryError(r.left));
        const t = r.right.tensors.get('t')!;
        expect(t.shape).toEqual(shape);
        expect(Array.from(t.data)).toEqual(Array.from(data));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 16-bit floats

describe('F16 and BF16', () => {
  const f16 = (h: number): number => bitsToF32(f16BitsToF32Bits(h));
  const bf16 = (h: number): number => bitsToF32(bf16BitsToF32Bits(h));

  it('decode known bit patterns', () => {
    const known: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x3555, 0.333251953125],
      [0x7bff, 65504],
      [0x0400, 2 ** -14],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x8001, -(2 ** -24)],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x0000, 0],
      [0x8000, -0],
    ];
    for (const [h, v] of known) expect(Object.is(f16(h), v), h.toString(16)).toBe(true);
    for (const h of [0x7e00, 0x7c01, 0xfe00, 0x7fff]) expect(Number.isNaN(f16(h))).toBe(true);

    const knownBf: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x7f7f, 3.3895313892515355e38],
      [0x0080, 2 ** -126],
      [0x0001, 2 ** -133],
      [0x007f, 127 * 2 ** -133],
      [0x7f80, Infinity],
      [0xff80, -Infinity],
      [0x8000, -0],
      [0x3eab, 0.333984375],
    ];
    for (const [h, v] of knownBf) expect(Object.is(bf16(h), v), h.toString(16)).toBe(true);
    for (const h of [0x7fc0, 0x7f81, 0xffc0]) expect(Number.isNaN(bf16(h))).toBe(true);
  });

  const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

  it('decode every bit pattern like the arithmetic definition, keeping NaN payloads', () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if (!same(f16(h), refF16(h))) bad.push(`f16 ${h.toString(16)}`);
      if (!same(bf16(h), refBf16(h))) bad.push(`bf16 ${h.toString(16)}`);
      const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      if (nan && ((f16BitsToF32Bits(h) >>> 13) & 0x3ff) !== (h & 0x3ff)) bad.push(`f16 payload ${h.toString(16)}`);
      if (bf16BitsToF32Bits(h) >>> 16 !== h) bad.push(`bf16 bits ${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
  });

  it('encode every non-NaN pattern back to itself, and NaN to a NaN', () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if (!Number.isNaN(refF16(h)) && numberToF16Bits(refF16(h)) !== h) bad.push(`f16 ${h.toString(16)}`);
      if (!Number.isNaN(refBf16(h)) && numberToBf16Bits(refBf16(h)) !== h) bad.push(`bf16 ${h.toString(16)}`);
    }
    expect(bad).toEqual([]);
    expect(Number.isNaN(refF16(numberToF16Bits(NaN)))).toBe(true);
    expect(Number.isNaN(refBf16(numberToBf16Bits(NaN)))).toBe(true);
  });

  it('round to nearest, ties to even, with known examples', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // tie between 0x3c00 and 0x3c01: even wins
      [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3c01 and 0x3c02
      [1 + 2 ** -11 + 2 ** -30, 0x3c01],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [1e10, 0x7c00],
      [-1e10, 0xfc00],
      [2 ** -25, 0x0000], // halfway to the smallest subnormal: even (zero) wins
      [2 ** -25 * 1.0000001, 0x0001],
      [-(2 ** -26), 0x8000],
      [2 ** -14 * (1 - 2 ** -12), 0x0400], // rounds up out of the subnormals
      [1e-300, 0x0000],
    ];
    for (const [x, h] of cases) expect(numberToF16Bits(x).toString(16), String(x)).toBe(h.toString(16));
    const bfCases: [number, number][] = [
      [1 + 2 ** -8, 0x3f80],
      [1 + 3 * 2 ** -8, 0x3f82],
      [3.4e38, 0x7f80],
      [2 ** -134, 0x0000],
      [3 * 2 ** -134, 0x0002],
      [Math.fround(0.1), 0x3dcd],
    ];
    for (const [x, h] of bfCases) expect(numberToBf16Bits(x).toString(16), String(x)).toBe(h.toString(16));
  });

  const nearestLaw = (
    x: number,
    toBits: (x: number) => number,
    ref: (h: number) => number,
    maxFinite: number,
  ): void => {
    const h = toBits(x);
    const r = ref(h);
    expect(Math.sign(r) === Math.sign(x) || r === 0).toBe(true);
    expect(Object.is(r, 0) || Object.is(r, -0) ? Object.is(x < 0 || Object.is(x, -0), Object.is(r, -0)) : true).toBe(
      true,
    );
    const mag = h & 0x7fff;
    const maxMag = (toBits(maxFinite) & 0x7fff) + 1; // the infinity pattern
    if (mag === maxMag) {
      // Overflow only past the midpoint between the largest finite value and the next binade step.
      const ulp = maxFinite - ref(maxMag - 2);
      expect(Math.abs(x) >= maxFinite + ulp / 2).toBe(true);
      return;
    }
    const d = Math.abs(x - r);
    for (const m of [mag - 1, mag + 1]) {
      if (m < 0 || m >= maxMag) continue;
      const other = ref((h & 0x8000) | m);
      const e = Math.abs(x - other);
      expect(d <= e).toBe(true);
      if (d === e) expect(mag % 2).toBe(0);
    }
  };

  it('encoding picks the nearest value (ties to even) for random doubles', () => {
    const around = (scale: number) => fc.double({ min: -scale, max: scale, noNaN: true });
    const midpoints = (ref: (h: number) => number, maxMag: number) =>
      fc.integer({ min: 0, max: maxMag - 1 }).map((m) => (ref(m) + ref(m + 1)) / 2);
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true }), around(70000), around(1e-4), midpoints(refF16, 0x7bff)), (x) =>
        nearestLaw(x, numberToF16Bits, refF16, 65504),
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.oneof(fc.double({ noNaN: true }), around(1e-38), around(1e5), midpoints(refBf16, 0x7f7f)), (x) =>
        nearestLaw(x, numberToBf16Bits, refBf16, refBf16(0x7f7f)),
      ),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile input

describe('hostile input gives Left, never a throw', () => {
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        decode(bytes);
      }),
      { numRuns: 500 },
    );
  });

  it('random bytes behind an honest header length', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 16 }), (header, data) => {
        const out = new Uint8Array(8 + header.length + data.length);
        new DataView(out.buffer).setUint32(0, header.length, true);
        out.set(header, 8);
        out.set(data, 8 + header.length);
        decode(out);
      }),
      { numRuns: 500 },
    );
  });

  it('random JSON headers', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 4 }), fc.uint8Array({ maxLength: 16 }), (json, data) => {
        const r = decode(assemble(json, data));
        if (E.isRight(r)) expect(JSON.parse(json)).toBeTypeOf('object');
        noPollution();
      }),
      { numRuns: 300 },
    );
  });

  it('non-object JSON headers', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue().filter((v) => v === null || typeof v !== 'object' || Array.isArray(v))),
        (v) => {
          expect(expectLeft(assemble(JSON.stringify(v), new Uint8Array(0))).field).toBe('header');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('every truncation of a valid file', () => {
    fc.assert(
      fc.property(fileArb, ({ bytes }) => {
        for (let len = 0; len < bytes.length; len++) {
          const r = decode(bytes.subarray(0, len));
          if (E.isRight(r)) throw new Error(`prefix of ${len} of ${bytes.length} bytes decoded`);
        }
      }),
      { numRuns: 25 },
    );
  });

  it('header lengths that lie: 2^63, 2^64-1, 2^32+small, off by any amount', () => {
    fc.assert(
      fc.property(
        fileArb,
        fc.oneof(
          fc.constantFrom(1n << 63n, (1n << 64n) - 1n, 1n << 32n),
          fc.bigInt({ min: 0n, max: 64n }).map((s) => (1n << 32n) + s),
          fc.bigInt({ min: 1n << 32n, max: (1n << 64n) - 1n }),
          fc
            .integer({ min: -40, max: 40 })
            .filter((d) => d !== 0)
            .map((d) => BigInt(d)),
        ),
        ({ bytes }, lie) => {
          const n = new DataView(bytes.buffer).getBigUint64(0, true);
          const claimed = lie >= 1n << 32n ? lie : n + lie;
          if (claimed < 0n) return;
          const out = bytes.slice();
          new DataView(out.buffer).setBigUint64(0, claimed, true);
          const e = expectLeft(out);
          if (claimed > BigInt(bytes.length - 8)) {
            expect(e.field).toBe('header length');
            expect(e.message).toContain(String(claimed));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  /** Rewrites one tensor entry of a valid file's header; the data section is kept as is. */
  const mutateEntry = (
    bytes: Uint8Array,
    pick: number,
    change: (entry: Record<string, unknown>, dataLen: number) => unknown,
  ): Uint8Array => {
    const { header, data } = split(bytes);
    const names = Object.keys(header).filter((k) => k !== '__metadata__');
    const name = names[pick % names.length]!;
    const entry = header[name] as Record<string, unknown>;
    Object.defineProperty(header, name, {
      value: change(entry, data.length),
      enumerable: true,
      writable: true,
      configurable: true,
    });
    return assemble(JSON.stringify(header), data);
  };

  const liesArb = fc.oneof(
    fc.nat().map((k) => ({
      kind: 'end past data',
      f: (e: Record<string, unknown>, len: number) => ({
        ...e,
        data_offsets: [(e.data_offsets as number[])[0], len + 1 + k],
      }),
    })),
    fc.nat().map((k) => ({
      kind: 'begin after end',
      f: (e: Record<string, unknown>) => {
        const [, end] = e.data_offsets as number[];
        return { ...e, data_offsets: [end! + 1 + k, end] };
      },
    })),
    fc.constant({
      kind: 'shape lies',
      f: (e: Record<string, unknown>) => {
        const s = e.shape as number[];
        return { ...e, shape: numelOf(s) === 0 ? [1] : [...s, 2] };
      },
    }),
    fc.constant({
      kind: 'zero-size shape over data',
      f: (e: Record<string, unknown>) => ({ ...e, shape: [...(e.shape as number[]), 0] }),
    }),
    fc.constantFrom(-1, 1.5, 2 ** 53, 1e300, '2', null, true, [1], { a: 1 }).map((bad) => ({
      kind: 'bad shape entry',
      f: (e: Record<string, unknown>) => ({ ...e, shape: [...(e.shape as number[]), bad] }),
    })),
    fc.constantFrom(-8, 0.5, 2 ** 60, '0', null).map((bad) => ({
      kind: 'bad offset',
      f: (e: Record<string, unknown>) => ({ ...e, data_offsets: [bad, (e.data_offsets as number[])[1]] }),
    })),
    fc
      .constantFrom([0], [0, 1, 2], 'x', {}, null)
      .map((bad) => ({ kind: 'bad offsets', f: (e: Record<string, unknown>) => ({ ...e, data_offsets: bad }) })),
    fc
      .constantFrom('F8_E4M3', 'f32', 'float32', '', 'I4', '__proto__', 1, null)
      .map((d) => ({ kind: 'unknown dtype', f: (e: Record<string, unknown>) => ({ ...e, dtype: d }) })),
    fc.constantFrom('extra', '__proto__', 'constructor').map((k) => ({
      kind: 'extra field',
      f: (e: Record<string, unknown>) =>
        JSON.parse(`{${JSON.stringify(k)}:{"polluted":"yes"},${JSON.stringify(e).slice(1)}`) as unknown,
    })),
    fc.constantFrom('dtype', 'shape', 'data_offsets').map((k) => ({
      kind: 'missing field',
      f: (e: Record<string, unknown>) => Object.fromEntries(Object.entries(e).filter(([x]) => x !== k)),
    })),
    fc.constantFrom(null, 1, 'x', [], [1, 2]).map((v) => ({ kind: 'entry not an object', f: () => v })),
  );

  it('headers that lie about offsets, shapes, dtypes and fields', () => {
    fc.assert(
      fc.property(fileWithDataArb, fc.nat(), liesArb, ({ bytes, entries }, pick, lie) => {
        // Lies about byte counts need a tensor with data; pick one.
        const withData = entries.map((e, i) => [e, i] as const).filter(([e]) => e.tensor.size > 0);
        const index = withData[pick % withData.length]![1];
        const names = entries.map((e) => e.name);
        const { header } = split(bytes);
        const order = Object.keys(header).filter((k) => k !== '__metadata__');
        const e = expectLeft(mutateEntry(bytes, order.indexOf(names[index]!), lie.f));
        expect(e.message.length).toBeGreaterThan(0);
        noPollution();
      }),
      { numRuns: 400 },
    );
  });

  it('dtype swaps to a different item size', () => {
    fc.assert(
      fc.property(fileWithDataArb, fc.nat(), fc.constantFrom(...stDtypes), ({ bytes, entries }, pick, d) => {
        const withData = entries.filter((e) => e.tensor.size > 0);
        const target = withData[pick % withData.length]!;
        fc.pre(stItemsize(d) !== stItemsize(target.dtype));
        const { header } = split(bytes);
        const order = Object.keys(header).filter((k) => k !== '__metadata__');
        expectLeft(mutateEntry(bytes, order.indexOf(target.name), (e) => ({ ...e, dtype: d })));
      }),
      { numRuns: 100 },
    );
  });

  it('overlapping ranges', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 2, max: 40 })
          .chain((len) =>
            fc.tuple(fc.constant(len), fc.integer({ min: 1, max: len - 1 }), fc.integer({ min: 0, max: len - 1 })),
          ),
        fc.boolean(),
        ([len, aEnd, bBegin], swapOrder) => {
          fc.pre(bBegin < aEnd);
          const a = `"a":{"dtype":"U8","shape":[${aEnd}],"data_offsets":[0,${aEnd}]}`;
          const b = `"b":{"dtype":"U8","shape":[${len - bBegin}],"data_offsets":[${bBegin},${len}]}`;
          const e = expectLeft(assemble(`{${swapOrder ? `${b},${a}` : `${a},${b}`}}`, new Uint8Array(len)));
          expect(e.message).toMatch(/overlaps/);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('duplicate keys, at the top level and inside entries', () => {
    fc.assert(
      fc.property(fc.constantFrom('t', '__proto__', 'constructor', '__metadata__'), fc.boolean(), (k, inner) => {
        const entry = '{"dtype":"U8","shape":[0],"data_offsets":[0,0]}';
        const header = inner
          ? `{"${k}":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}`
          : `{"${k}":${k === '__metadata__' ? '{}' : entry},"${k}":${k === '__metadata__' ? '{}' : entry}}`;
        expect(expectLeft(assemble(header, new Uint8Array(0))).message).toMatch(/duplicate key/);
      }),
    );
  });

  it('prototype-polluting keys', () => {
    const templates = [
      '{"__proto__":{"polluted":"yes"}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"__metadata__":{"__proto__":{"polluted":"yes"}}}',
      '{"__metadata__":{"constructor":{"prototype":{"polluted":"yes"}}}}',
      '{"t":{"__proto__":{"polluted":"yes"},"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
      '{"t":{"dtype":"U8","shape":{"__proto__":[0]},"data_offsets":[0,0]}}',
      '{"__proto__":{"dtype":"U8","shape":[0],"data_offsets":[0,0],"__proto__":{"polluted":"yes"}}}',
      '{"__metadata__":"__proto__"}',
      '{"__proto__":[]}',
    ];
    const keyArb = fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'polluted',
      'dtype',
      'shape',
      'data_offsets',
      '__metadata__',
      'toString',
    );
    const nasty = fc.object({
      key: keyArb,
      maxDepth: 3,
      values: [fc.constant('yes'), fc.integer(), fc.constant(null)],
    });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constantFrom(...templates),
          nasty.map((o) => JSON.stringify(o)),
        ),
        (header) => {
          decode(assemble(header, new Uint8Array(0)));
          noPollution();
        },
      ),
      { numRuns: 300 },
    );
    for (const t of templates) expectLeft(assemble(t, new Uint8Array(0)));
    noPollution();
  });

  it('values that do not fit int32, and non-bool bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc
            .bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n })
            .filter((v) => v < -(1n << 31n) || v >= 1n << 31n)
            .map((v) => ['I64', v] as const),
          fc.bigInt({ min: 1n << 31n, max: (1n << 64n) - 1n }).map((v) => ['U64', v] as const),
          fc.bigInt({ min: 1n << 31n, max: (1n << 32n) - 1n }).map((v) => ['U32', v] as const),
          fc.integer({ min: 2, max: 255 }).map((v) => ['BOOL', BigInt(v)] as const),
        ),
        fc.integer({ min: 0, max: 3 }),
        ([dtype, v], at) => {
          const size = stItemsize(dtype);
          const data = new Uint8Array(4 * size);
          const dv = new DataView(data.buffer);
          if (size === 8) dv.setBigUint64(at * 8, BigInt.asUintN(64, v), true);
          else if (size === 4) dv.setUint32(at * 4, Number(v), true);
          else dv.setUint8(at, Number(v));
          const e = expectLeft(
            assemble(`{"ids":{"dtype":"${dtype}","shape":[4],"data_offsets":[0,${data.length}]}}`, data),
          );
          expect(e.field).toBe('"ids"');
          expect(e.message).toContain(`at flat index ${at}`);
          expect(e.message).toContain(String(v));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('parseStrictJson', () => {
  it('agrees with JSON.parse on valid JSON without duplicate keys', () => {
    const toJs = (j: unknown): unknown =>
      j instanceof Map ? Object.fromEntries([...j].map(([k, v]) => [k, toJs(v)])) : Array.isArray(j) ? j.map(toJs) : j;
    fc.assert(
      fc.property(fc.json({ maxDepth: 5 }), (text) => {
        const r = parseStrictJson(text);
        if (E.isLeft(r)) throw new Error(r.left);
        expect(toJs(r.right)).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what JSON.parse refuses, never throwing', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 30 }), (text) => {
        let ok = true;
        try {
          JSON.parse(text);
        } catch {
          ok = false;
        }
        const r = parseStrictJson(text);
        if (!ok) expect(E.isLeft(r)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('bounds nesting depth', () => {
    const deep = `${'['.repeat(100000)}${']'.repeat(100000)}`;
    const r = parseStrictJson(deep);
    expect(E.isLeft(r) && /nesting/.test(r.left)).toBe(true);
    expect(E.isLeft(decode(assemble(`{"a":${deep}}`, new Uint8Array(0))))).toBe(true);
  });
});
