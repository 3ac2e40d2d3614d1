/**
 * The safetensors writer: plans the layout (names, dtypes, value ranges checked first), then writes
 * the header and the little-endian data, atomically when it goes to a file.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { TypedArray } from '../core/dtype.js';
import { type Tensor, storage } from '../tensor/tensor.js';
import { type BoundaryError, fail, formatBoundaryError, preview } from './errors.js';
import { numberToBf16Bits, numberToF16Bits } from './half.js';
import {
  HOST_LITTLE_ENDIAN,
  ITEMSIZE,
  MAX_INT32,
  type StDtype,
  WRITABLE,
  swapBytesInPlace,
  tensorField,
} from './safetensors-format.js';

// ---------------------------------------------------------------------------------------------
// Writing

/** One tensor to write; `dtype` defaults to F32, F64 or I32 by the tensor's dtype. */
export interface StWriteEntry {
  /** The tensor's name in the header. */
  readonly name: string;
  /** The values to write. */
  readonly tensor: Tensor;
  /** The dtype on disk; one the tensor's dtype may be written as. */
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
