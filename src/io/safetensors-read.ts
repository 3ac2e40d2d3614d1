/**
 * The safetensors reader (see safetensors.ts for the format and the hostile-input rules): header
 * length, strict JSON header, io-ts schema of each entry, layout checks, then the tensors.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { TypedArray } from '../core/dtype.js';
import { type Tensor, fromStorage } from '../tensor/tensor.js';
import { type BoundaryError, fail, decode, preview } from './errors.js';
import { bf16BitsToF32Bits, f16BitsToF32Bits } from './half.js';
import { type Json, parseStrictJson, toPlain } from './json-strict.js';
import {
  HOST_LITTLE_ENDIAN,
  ITEMSIZE,
  MAX_INT32,
  type StDtype,
  isStDtype,
  stDtypes,
  swapBytesInPlace,
  tensorField,
} from './safetensors-format.js';

// ---------------------------------------------------------------------------------------------
// Header codecs

/** An unsigned size or offset: JSON numbers beyond 2^53 are not exact, so they are refused. */
const isCount = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;
const Count = new t.Type<number, number, unknown>(
  'a non-negative safe integer',
  isCount,
  (u, c) => (isCount(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

const Dtype = new t.Type<StDtype, StDtype, unknown>(
  `one of ${stDtypes.join(', ')}`,
  isStDtype,
  (u, c) => (isStDtype(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

/** Like `t.type`, but an unknown field is an error rather than silently ignored. */
const closed = <P extends t.Props>(props: P, name: string): t.Type<t.TypeOf<t.TypeC<P>>, unknown, unknown> => {
  type A = t.TypeOf<t.TypeC<P>>;
  const open = t.type(props);
  const extra = (u: object): string | undefined => Object.keys(u).find((k) => !Object.hasOwn(props, k));
  return new t.Type<A, unknown, unknown>(
    name,
    (u): u is A => open.is(u) && extra(u) === undefined,
    (u, c): t.Validation<A> => {
      const r = open.validate(u, c);
      if (E.isLeft(r)) return r;
      const k = extra(r.right);
      return k === undefined ? t.success(r.right) : t.failure(u, c, `unexpected field ${preview(k)}`);
    },
    t.identity,
  );
};

/** [begin, end]. io-ts's tuple drops extra elements instead of failing, so the length is checked on the raw value. */
const pairOfCounts = t.tuple([Count, Count], 'a pair [begin, end] of non-negative safe integers');
const OffsetPair = new t.Type<[number, number], [number, number], unknown>(
  pairOfCounts.name,
  (u): u is [number, number] => Array.isArray(u) && u.length === 2 && pairOfCounts.is(u),
  (u, c) =>
    Array.isArray(u) && u.length !== 2
      ? t.failure(u, c, `expected exactly two offsets [begin, end], got ${u.length}`)
      : pairOfCounts.validate(u, c),
  t.identity,
);

const TensorEntry = closed(
  {
    dtype: Dtype,
    shape: t.readonlyArray(Count, 'an array of non-negative safe integers'),
    data_offsets: OffsetPair,
  },
  'a tensor entry {dtype, shape, data_offsets}',
);

const Metadata = t.record(t.string, t.string, 'an object of strings');

// ---------------------------------------------------------------------------------------------
// Reading

/** A decoded safetensors file. Tensors keep header order; `dtypes` says what each was on disk. */
export interface SafetensorsFile {
  /** The header's `__metadata__` strings; empty when the file has none. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The tensors by name: floats as float32 or float64, integers and bools as int32. */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** Each tensor's dtype in the file, by name. */
  readonly dtypes: ReadonlyMap<string, StDtype>;
}

/** A header entry that passed the schema and the layout checks. */
interface Entry {
  readonly name: string;
  readonly dtype: StDtype;
  readonly shape: readonly number[];
  readonly numel: number;
  readonly begin: number;
  readonly end: number;
}

/** A fresh, aligned copy of `[begin, end)` in native byte order, for viewing as a typed array. */
const nativeCopy = (data: Uint8Array, begin: number, end: number, itemsize: number): ArrayBuffer => {
  const out = new Uint8Array(end - begin);
  out.set(data.subarray(begin, end));
  if (!HOST_LITTLE_ENDIAN) swapBytesInPlace(out, itemsize);
  return out.buffer;
};

/** The u64 header length, read as two u32 halves so 2^63 is an ordinary, refusable number. */
const headerLength = (bytes: Uint8Array, file: string): E.Either<BoundaryError, number> => {
  if (bytes.length < 8) {
    return fail(file, 'header length', `file has ${bytes.length} bytes, fewer than the 8-byte header length`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const available = bytes.length - 8;
  if (hi !== 0 || lo > available) {
    const claimed = (BigInt(hi) << 32n) | BigInt(lo);
    return fail(file, 'header length', `header claims ${claimed} bytes but only ${available} follow`);
  }
  return E.right(lo);
};

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Header bytes → JSON object (as a Map): strict UTF-8, strict JSON, and it must be an object. */
const parseHeader = (bytes: Uint8Array, file: string): E.Either<BoundaryError, ReadonlyMap<string, Json>> => {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return fail(file, 'header', 'is not valid UTF-8');
  }
  const parsed = parseStrictJson(text);
  if (E.isLeft(parsed)) return fail(file, 'header', `invalid JSON: ${parsed.left}`);
  const v = parsed.right;
  if (!(v instanceof Map)) {
    const kind = v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
    return fail(file, 'header', `expected a JSON object, got ${kind}`);
  }
  return E.right(v);
};

/** `__metadata__` as a frozen null-prototype record, so a `__proto__` key is an ordinary key. */
const decodeMetadata = (v: Json, file: string): E.Either<BoundaryError, Readonly<Record<string, string>>> => {
  const plain = toPlain(v);
  const r = decode(Metadata, file, plain, '__metadata__');
  if (E.isLeft(r)) return r;
  return E.right(Object.freeze(plain as Record<string, string>));
};

/**
 * Strides stay exact only while the product of the non-zero dimensions is a safe integer; a
 * zero-size tensor of shape `[0, 2^40, 2^40]` holds no data but would still break stride maths.
 */
const stridesExact = (shape: readonly number[]): boolean =>
  Number.isSafeInteger(shape.reduce((acc, d) => (d === 0 ? acc : acc * d), 1));

/**
 * The element count of `shape` if it is exactly `bytes / itemsize`, computed so that products of
 * hostile dimensions cannot overflow: it stops as soon as the running product exceeds the cap.
 */
const numelFitting = (shape: readonly number[], bytes: number, itemsize: number): number | undefined => {
  if (shape.includes(0)) return bytes === 0 ? 0 : undefined;
  if (bytes % itemsize !== 0) return undefined;
  const cap = bytes / itemsize;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (n > cap) return undefined;
  }
  return n === cap ? n : undefined;
};

/** One header entry: schema, offsets within the data section, byte length = numel × itemsize. */
const decodeEntry = (name: string, v: Json, dataLen: number, file: string): E.Either<BoundaryError, Entry> => {
  const field = tensorField(name);
  const r = decode(TensorEntry, file, toPlain(v), field);
  if (E.isLeft(r)) return r;
  const {
    dtype,
    shape,
    data_offsets: [begin, end],
  } = r.right;
  if (begin > end) return fail(file, `${field}.data_offsets`, `begin ${begin} is after end ${end}`);
  if (end > dataLen) {
    return fail(file, `${field}.data_offsets`, `end ${end} is past the ${dataLen}-byte data section`);
  }
  if (!stridesExact(shape)) {
    return fail(file, `${field}.shape`, `${preview(shape)} has dimensions whose product exceeds 2^53 - 1`);
  }
  const numel = numelFitting(shape, end - begin, ITEMSIZE[dtype]);
  if (numel === undefined) {
    return fail(
      file,
      field,
      `shape ${preview(shape)} of ${dtype} (${ITEMSIZE[dtype]} bytes each) does not fill the ${end - begin} bytes of data_offsets [${begin}, ${end}]`,
    );
  }
  return E.right({ name, dtype, shape: [...shape], numel, begin, end });
};

/**
 * The tensors must tile the data section: sorted by offset, each begins where the previous one
 * ended, and the last ends at the end of the file. This is the reference implementation's rule;
 * it rules out overlaps (two tensors aliasing bytes) and hidden gaps or trailing payloads.
 */
const checkLayout = (entries: readonly Entry[], dataLen: number, file: string): E.Either<BoundaryError, void> => {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of sorted) {
    if (e.begin < pos && prev !== undefined) {
      return fail(
        file,
        `${tensorField(e.name)}.data_offsets`,
        `[${e.begin}, ${e.end}] overlaps ${tensorField(prev.name)} at [${prev.begin}, ${prev.end}]`,
      );
    }
    if (e.begin > pos) {
      return fail(
        file,
        `${tensorField(e.name)}.data_offsets`,
        `begins at ${e.begin}, leaving bytes [${pos}, ${e.begin}) unused`,
      );
    }
    pos = e.end;
    prev = e;
  }
  if (pos !== dataLen) {
    return fail(
      file,
      'data',
      `${dataLen - pos} trailing bytes after the last tensor (data section is ${dataLen} bytes)`,
    );
  }
  return E.right(undefined);
};

/** Widens 2-byte floats through their float32 bit patterns, so NaN payloads survive. */
const widenHalf = (dv: DataView, n: number, toBits: (h: number) => number): Float32Array => {
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = toBits(dv.getUint16(2 * i, true));
  return out;
};

/** Integers that must land in int32: a reader per element plus the range it must stay in. */
const narrowInts = (
  dv: DataView,
  n: number,
  itemsize: number,
  read: (dv: DataView, at: number) => number | undefined,
): { readonly data: Int32Array } | { readonly bad: number } => {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = read(dv, i * itemsize);
    if (v === undefined) return { bad: i };
    out[i] = v;
  }
  return { data: out };
};

/** i64 fits int32 exactly when the high word is the sign extension of the low word. */
const readI64 = (dv: DataView, at: number): number | undefined => {
  const lo = dv.getInt32(at, true);
  const hi = dv.getInt32(at + 4, true);
  return hi === (lo < 0 ? -1 : 0) ? lo : undefined;
};
const readU64 = (dv: DataView, at: number): number | undefined => {
  const lo = dv.getUint32(at, true);
  return dv.getUint32(at + 4, true) === 0 && lo <= MAX_INT32 ? lo : undefined;
};
const readU32 = (dv: DataView, at: number): number | undefined => {
  const v = dv.getUint32(at, true);
  return v <= MAX_INT32 ? v : undefined;
};
const readBool = (dv: DataView, at: number): number | undefined => {
  const v = dv.getUint8(at);
  return v <= 1 ? v : undefined;
};

/** The raw value at flat index `i`, for error messages. */
const rawValue = (dv: DataView, dtype: StDtype, i: number): string => {
  const at = i * ITEMSIZE[dtype];
  switch (dtype) {
    case 'I64':
      return String(dv.getBigInt64(at, true));
    case 'U64':
      return String(dv.getBigUint64(at, true));
    case 'U32':
      return String(dv.getUint32(at, true));
    default:
      return String(dv.getUint8(at));
  }
};

/** One tensor's bytes → a fresh tensor of the dtype it loads as. */
const decodeTensor = (e: Entry, data: Uint8Array, file: string): E.Either<BoundaryError, Tensor> => {
  const dv = new DataView(data.buffer, data.byteOffset + e.begin, e.end - e.begin);
  const n = e.numel;
  const ints = (
    read: (dv: DataView, at: number) => number | undefined,
    range: string,
  ): E.Either<BoundaryError, TypedArray> => {
    const r = narrowInts(dv, n, ITEMSIZE[e.dtype], read);
    return 'data' in r
      ? E.right(r.data)
      : fail(
          file,
          tensorField(e.name),
          `${e.dtype} value ${rawValue(dv, e.dtype, r.bad)} at flat index ${r.bad} ${range}`,
        );
  };
  const values = ((): E.Either<BoundaryError, TypedArray> => {
    switch (e.dtype) {
      case 'F32':
        return E.right(new Float32Array(nativeCopy(data, e.begin, e.end, 4)));
      case 'F64':
        return E.right(new Float64Array(nativeCopy(data, e.begin, e.end, 8)));
      case 'I32':
        return E.right(new Int32Array(nativeCopy(data, e.begin, e.end, 4)));
      case 'F16':
        return E.right(widenHalf(dv, n, f16BitsToF32Bits));
      case 'BF16':
        return E.right(widenHalf(dv, n, bf16BitsToF32Bits));
      case 'I64':
        return ints(readI64, 'does not fit int32');
      case 'U64':
        return ints(readU64, 'does not fit int32');
      case 'U32':
        return ints(readU32, 'does not fit int32');
      case 'BOOL':
        return ints(readBool, 'is not a bool (0 or 1)');
      case 'I16':
        return E.right(Int32Array.from({ length: n }, (_, i) => dv.getInt16(2 * i, true)));
      case 'U16':
        return E.right(Int32Array.from({ length: n }, (_, i) => dv.getUint16(2 * i, true)));
      case 'I8':
        return E.right(Int32Array.from({ length: n }, (_, i) => dv.getInt8(i)));
      case 'U8':
        return E.right(Int32Array.from({ length: n }, (_, i) => dv.getUint8(i)));
    }
  })();
  return E.map((v: TypedArray) => fromStorage(e.shape, v))(values);
};

const decodeChecked = (raw: Uint8Array, file: string): E.Either<BoundaryError, SafetensorsFile> => {
  const bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength); // a plain view, even of a Buffer
  const n = headerLength(bytes, file);
  if (E.isLeft(n)) return n;
  const header = parseHeader(bytes.subarray(8, 8 + n.right), file);
  if (E.isLeft(header)) return header;
  const data = bytes.subarray(8 + n.right);
  let metadata: Readonly<Record<string, string>> = Object.freeze(Object.create(null) as Record<string, string>);
  const entries: Entry[] = [];
  for (const [key, v] of header.right) {
    if (key === '__metadata__') {
      const m = decodeMetadata(v, file);
      if (E.isLeft(m)) return m;
      metadata = m.right;
      continue;
    }
    const entry = decodeEntry(key, v, data.length, file);
    if (E.isLeft(entry)) return entry;
    entries.push(entry.right);
  }
  const layout = checkLayout(entries, data.length, file);
  if (E.isLeft(layout)) return layout;
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, StDtype>();
  for (const e of entries) {
    const tensor = decodeTensor(e, data, file);
    if (E.isLeft(tensor)) return tensor;
    tensors.set(e.name, tensor.right);
    dtypes.set(e.name, e.dtype);
  }
  return E.right({ metadata, tensors, dtypes });
};

/**
 * Decodes a safetensors file held in memory. `file` only names it in errors. Never throws: a
 * malformed, truncated or hostile file is a `Left` naming the field at fault.
 */
export const decodeSafetensors = (bytes: Uint8Array, file: string): E.Either<BoundaryError, SafetensorsFile> => {
  try {
    return decodeChecked(bytes, file);
  } catch (e) {
    // Only a bug here, or the engine refusing an allocation the checks above allowed.
    return fail(file, 'internal', `unexpected failure: ${e instanceof Error ? e.message : String(e)}`);
  }
};
