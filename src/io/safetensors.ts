/**
 * Safetensors, read and written by hand (its strict JSON parser is json-strict.ts, its half-float
 * conversions half.ts).
 *
 * The format: an 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON (possibly
 * padded with trailing spaces), then the data section. Every header key except `__metadata__`
 * names a tensor `{"dtype","shape","data_offsets":[begin,end]}` whose raw little-endian,
 * row-major bytes sit at `[begin, end)` of the data section; `__metadata__` maps strings to
 * strings.
 *
 * Files come from strangers, so the reader is written against hostile input: it never throws
 * (every failure is a `Left` naming the file and the field), it checks the claimed header length
 * against the bytes actually present before it decodes or allocates anything, it parses the JSON
 * with its own strict parser (duplicate keys are an error rather than "last one wins", objects
 * become `Map`s so a key like `__proto__` is just a string), and it checks the layout the way the
 * reference implementation does: every tensor's byte length is numel × itemsize, and the tensors
 * tile the data section exactly, without overlaps, gaps or trailing bytes. Every allocation is
 * therefore bounded by a small multiple of the input's size (widening U8 to int32 is the worst,
 * at 4×). Returned typed arrays are fresh, aligned copies: the source bytes may sit at any
 * offset, and callers may keep the tensors after dropping the file.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { DType, TypedArray } from '../core/dtype.js';
import { type Tensor, fromStorage, storage } from '../tensor/tensor.js';
import { writeFileAtomic } from './atomic.js';
import { type BoundaryError, formatBoundaryError, oneLine, preview } from './errors.js';
import { bf16BitsToF32Bits, f16BitsToF32Bits, numberToBf16Bits, numberToF16Bits } from './half.js';
import { type Json, parseStrictJson, toPlain } from './json-strict.js';

// ---------------------------------------------------------------------------------------------
// Dtypes

/** The safetensors element types this module reads (and, per tensor dtype, writes). */
export type StDtype =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'I32'
  | 'I16'
  | 'I8'
  | 'U64'
  | 'U32'
  | 'U16'
  | 'U8'
  | 'BOOL';

const ITEMSIZE: Readonly<Record<StDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Every supported safetensors dtype. */
export const stDtypes: readonly StDtype[] = Object.freeze(Object.keys(ITEMSIZE) as StDtype[]);

/** Bytes per element of a safetensors dtype. */
export const stItemsize = (d: StDtype): number => ITEMSIZE[d];

const isStDtype = (u: unknown): u is StDtype => typeof u === 'string' && Object.hasOwn(ITEMSIZE, u);

/** The tensor dtype a safetensors dtype loads as: floats stay or widen to float32, ints become int32. */
export const loadedDtype = (d: StDtype): DType =>
  d === 'F64' ? 'float64' : d === 'F32' || d === 'F16' || d === 'BF16' ? 'float32' : 'int32';

/** Which safetensors dtypes a tensor of each dtype may be written as. */
const WRITABLE: Readonly<Record<DType, readonly StDtype[]>> = {
  float32: ['F32', 'F64', 'F16', 'BF16'],
  float64: ['F64', 'F32', 'F16', 'BF16'],
  int32: ['I32', 'I64', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'],
};

/** The safetensors dtypes a tensor of `dtype` may be written as; the first is the default. */
export const writableDtypes = (dtype: DType): readonly StDtype[] => WRITABLE[dtype];

// ---------------------------------------------------------------------------------------------
// Errors

const fail = <A = never>(file: string, field: string, message: string): E.Either<BoundaryError, A> =>
  E.left({ file, field, message: oneLine(message) });

/** How a tensor is named in error fields: JSON-quoted, so odd names stay one unambiguous line. */
const tensorField = (name: string): string => preview(name, 120);

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

/** The first io-ts error as a path (`.shape[1]`) and a sentence. */
const report = (errors: t.Errors): { readonly path: string; readonly message: string } => {
  const e = errors[0];
  if (e === undefined) return { path: '', message: 'invalid' };
  const path = e.context
    .slice(1)
    .map((c) =>
      /^[0-9]+$/.test(c.key) ? `[${c.key}]` : /^[A-Za-z_$][\w$]*$/.test(c.key) ? `.${c.key}` : `[${preview(c.key)}]`,
    )
    .join('');
  const expected = e.context[e.context.length - 1]?.type.name ?? 'a valid value';
  return { path, message: e.message ?? `expected ${expected}, got ${preview(e.value)}` };
};

// ---------------------------------------------------------------------------------------------
// Reading

/** A decoded safetensors file. Tensors keep header order; `dtypes` says what each was on disk. */
export interface SafetensorsFile {
  readonly metadata: Readonly<Record<string, string>>;
  readonly tensors: ReadonlyMap<string, Tensor>;
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

const MAX_INT32 = 0x7fffffff;

/** True on every platform Node realistically runs on; the byte swaps below cover the rest. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Reverses the bytes of every `itemsize`-byte element in place: little-endian file bytes become
 * native typed-array bytes on a big-endian host, and back.
 *
 * @internal exported for tests (the big-endian path cannot otherwise run on a little-endian host).
 */
export const swapBytesInPlace = (bytes: Uint8Array, itemsize: number): void => {
  for (let i = 0; i + itemsize <= bytes.length; i += itemsize) {
    for (let a = i, b = i + itemsize - 1; a < b; a++, b--) {
      const x = bytes[a]!;
      bytes[a] = bytes[b]!;
      bytes[b] = x;
    }
  }
};

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
  const r = Metadata.decode(plain);
  if (E.isLeft(r)) {
    const { path, message } = report(r.left);
    return fail(file, `__metadata__${path}`, message);
  }
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
  const r = TensorEntry.decode(toPlain(v));
  if (E.isLeft(r)) {
    const { path, message } = report(r.left);
    return fail(file, `${field}${path}`, message);
  }
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

/** Reads and decodes a safetensors file; an unreadable path is a `Left` naming it. */
export const readSafetensors = (path: string): E.Either<BoundaryError, SafetensorsFile> => {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fail(path, 'file', `cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return decodeSafetensors(bytes, path);
};

// ---------------------------------------------------------------------------------------------
// Writing

/** One tensor to write; `dtype` defaults to F32, F64 or I32 by the tensor's dtype. */
export interface StWriteEntry {
  readonly name: string;
  readonly tensor: Tensor;
  readonly dtype?: StDtype;
}

/** A write entry with its dtype and place in the data section settled. */
interface Planned {
  readonly name: string;
  readonly values: TypedArray;
  readonly shape: readonly number[];
  readonly dtype: StDtype;
  readonly begin: number;
  readonly end: number;
}

/** Strings with lone surrogates would be mangled by UTF-8 encoding; the reader refuses them too. */
const isWellFormed = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
};

/** The inclusive range an int32 value must lie in to be written as an integer dtype. */
const INT_RANGE: Partial<Readonly<Record<StDtype, readonly [number, number]>>> = {
  I16: [-0x8000, 0x7fff],
  I8: [-0x80, 0x7f],
  U64: [0, MAX_INT32],
  U32: [0, MAX_INT32],
  U16: [0, 0xffff],
  U8: [0, 0xff],
  BOOL: [0, 1],
};

/** Settles each entry's dtype and offsets and checks names, dtypes and value ranges. */
const plan = (entries: readonly StWriteEntry[], file: string): E.Either<BoundaryError, readonly Planned[]> => {
  const seen = new Set<string>();
  const out: Planned[] = [];
  let pos = 0;
  for (const { name, tensor, dtype: asked } of entries) {
    const field = tensorField(name);
    if (typeof name !== 'string' || !isWellFormed(name)) return fail(file, field, 'name is not a well-formed string');
    if (name === '__metadata__') return fail(file, field, 'is reserved for the metadata');
    if (seen.has(name)) return fail(file, field, 'duplicate tensor name');
    seen.add(name);
    const allowed = WRITABLE[tensor.dtype];
    const dtype = asked ?? allowed[0]!;
    if (!allowed.includes(dtype)) {
      return fail(
        file,
        field,
        `a ${tensor.dtype} tensor cannot be written as ${preview(dtype)} (allowed: ${allowed.join(', ')})`,
      );
    }
    const values = storage(tensor);
    const range = INT_RANGE[dtype];
    if (range !== undefined) {
      const bad = values.findIndex((v) => v < range[0] || v > range[1]);
      if (bad >= 0) return fail(file, field, `value ${values[bad]} at flat index ${bad} does not fit ${dtype}`);
    }
    const end = pos + values.length * ITEMSIZE[dtype];
    out.push({ name, values, shape: tensor.shape, dtype, begin: pos, end });
    pos = end;
  }
  return E.right(out);
};

/** Metadata as checked `[key, value]` pairs, in insertion order. */
const metadataPairs = (
  metadata: Readonly<Record<string, string>>,
  file: string,
): E.Either<BoundaryError, readonly (readonly [string, string])[]> => {
  const pairs = Object.entries(metadata);
  for (const [k, v] of pairs) {
    if (!isWellFormed(k)) return fail(file, `__metadata__.${preview(k)}`, 'key is not a well-formed string');
    if (typeof v !== 'string' || !isWellFormed(v)) {
      return fail(file, `__metadata__.${preview(k)}`, `expected a well-formed string, got ${preview(v)}`);
    }
  }
  return E.right(pairs);
};

/**
 * The header JSON, built as text so key order is exactly the given order (and no object with a
 * `__proto__` key is ever materialised), UTF-8 encoded and padded with spaces so the data
 * section starts 8-byte aligned, as the reference writer does.
 */
const headerBytes = (planned: readonly Planned[], meta: readonly (readonly [string, string])[]): Uint8Array => {
  const parts: string[] = [];
  if (meta.length > 0) {
    parts.push(`"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  for (const p of planned) {
    parts.push(
      `${JSON.stringify(p.name)}:{"dtype":"${p.dtype}","shape":[${p.shape.join(',')}],"data_offsets":[${p.begin},${p.end}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padded = new Uint8Array(Math.ceil((8 + json.length) / 8) * 8 - 8).fill(0x20);
  padded.set(json);
  return padded;
};

/** Writes one tensor's values as its file dtype, little-endian, into `out` at byte `at`. */
const writeValues = (out: Uint8Array, at: number, p: Planned): void => {
  const { values, dtype } = p;
  const n = values.length;
  const dv = new DataView(out.buffer, out.byteOffset + at, p.end - p.begin);
  const sameLayout =
    (dtype === 'F32' && values instanceof Float32Array) ||
    (dtype === 'F64' && values instanceof Float64Array) ||
    (dtype === 'I32' && values instanceof Int32Array);
  if (sameLayout) {
    // A byte copy keeps every bit, NaN payloads included.
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    if (!HOST_LITTLE_ENDIAN) swapBytesInPlace(out.subarray(at, at + values.byteLength), ITEMSIZE[dtype]);
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    switch (dtype) {
      case 'F64':
        dv.setFloat64(8 * i, v, true);
        break;
      case 'F32':
        dv.setFloat32(4 * i, v, true);
        break;
      case 'F16':
        dv.setUint16(2 * i, numberToF16Bits(v), true);
        break;
      case 'BF16':
        dv.setUint16(2 * i, numberToBf16Bits(v), true);
        break;
      case 'I64':
      case 'U64':
        dv.setInt32(8 * i, v, true);
        dv.setInt32(8 * i + 4, v < 0 ? -1 : 0, true);
        break;
      case 'I32':
      case 'U32':
        dv.setInt32(4 * i, v, true);
        break;
      case 'I16':
      case 'U16':
        dv.setUint16(2 * i, v & 0xffff, true);
        break;
      case 'I8':
      case 'U8':
      case 'BOOL':
        dv.setUint8(i, v & 0xff);
        break;
    }
  }
};

/**
 * Encodes tensors (in the given order) and string metadata as a safetensors file, or says which
 * entry cannot be written: duplicate or reserved names, a dtype the tensor cannot be written as,
 * or a value out of the chosen integer dtype's range (values are never silently wrapped).
 * `file` only names the target in errors.
 */
export const tryEncodeSafetensors = (
  entries: readonly StWriteEntry[],
  metadata: Readonly<Record<string, string>> = {},
  file = '<memory>',
): E.Either<BoundaryError, Uint8Array> => {
  const planned = plan(entries, file);
  if (E.isLeft(planned)) return planned;
  const meta = metadataPairs(metadata, file);
  if (E.isLeft(meta)) return meta;
  const header = headerBytes(planned.right, meta.right);
  const dataLen = planned.right.reduce((acc, p) => Math.max(acc, p.end), 0);
  const start = 8 + header.length;
  let out: Uint8Array;
  try {
    out = new Uint8Array(start + dataLen);
  } catch {
    return fail(file, 'data', `cannot allocate ${start + dataLen} bytes`);
  }
  const dv = new DataView(out.buffer);
  dv.setUint32(0, header.length, true); // the header is far below 2^32 bytes; the high word stays 0
  out.set(header, 8);
  for (const p of planned.right) writeValues(out, start + p.begin, p);
  return E.right(out);
};

/**
 * Encodes as {@link tryEncodeSafetensors}, for callers whose entries are known good (names
 * unique, dtypes compatible). Bad entries are a programming error here, so this throws an
 * `Error` whose message is the formatted {@link BoundaryError}.
 */
export const encodeSafetensors = (
  entries: readonly StWriteEntry[],
  metadata: Readonly<Record<string, string>> = {},
): Uint8Array => {
  const r = tryEncodeSafetensors(entries, metadata);
  if (E.isLeft(r)) throw new Error(formatBoundaryError(r.left));
  return r.right;
};

/** Encodes and writes atomically (temporary file + rename), creating parent directories. */
export const writeSafetensors = (
  path: string,
  entries: readonly StWriteEntry[],
  metadata: Readonly<Record<string, string>> = {},
): E.Either<BoundaryError, void> => {
  const bytes = tryEncodeSafetensors(entries, metadata, path);
  if (E.isLeft(bytes)) return bytes;
  const written = writeFileAtomic(path, bytes.right);
  return E.isLeft(written) ? fail(path, 'file', `${written.left.field}: ${written.left.message}`) : E.right(undefined);
};
