/**
 * A small reader and writer for NumPy `.npy` files (format versions 1.0, 2.0 and 3.0), enough for the
 * arrays of the official dataset format (§0): uint8 inputs/labels and int32 index arrays. Other
 * little-endian integer dtypes are read too, because a dataset built with a different NumPy default
 * (e.g. int64 indices) is still a valid dataset for the official loader, which casts to int32 (§4).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, boundaryError } from './errors.js';

/** The dtypes we read; `descr` strings as NumPy writes them. */
export type NpyDescr = '|u1' | '|i1' | '|b1' | '<u2' | '<i2' | '<u4' | '<i4' | '<i8' | '<u8';

export type NpyData =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigInt64Array
  | BigUint64Array;

export interface NpyArray {
  readonly descr: NpyDescr;
  readonly shape: readonly number[];
  readonly data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const ITEM_SIZE: Record<NpyDescr, number> = {
  '|u1': 1,
  '|i1': 1,
  '|b1': 1,
  '<u2': 2,
  '<i2': 2,
  '<u4': 4,
  '<i4': 4,
  '<i8': 8,
  '<u8': 8,
};

/** NumPy also spells the one-byte types with '<' or '=' and the others with '='; normalise. */
const normaliseDescr = (d: string): NpyDescr | undefined => {
  const m = /^([<|=])([uib])(\d)$/.exec(d);
  if (m === null) return undefined;
  const kind = m[2];
  const size = m[3];
  const order = size === '1' ? '|' : '<';
  const canon = `${order}${kind}${size}`;
  return canon in ITEM_SIZE && !(kind === 'b' && size !== '1') ? (canon as NpyDescr) : undefined;
};

const view = (descr: NpyDescr, bytes: Uint8Array, count: number): NpyData => {
  // Copy into a fresh, aligned buffer: the payload offset in the file need not be aligned.
  // (`new Uint8Array(view)` copies; Buffer#slice would not.)
  const buf = new Uint8Array(bytes.subarray(0, count * ITEM_SIZE[descr])).buffer;
  switch (descr) {
    case '|u1':
    case '|b1':
      return new Uint8Array(buf);
    case '|i1':
      return new Int8Array(buf);
    case '<u2':
      return new Uint16Array(buf);
    case '<i2':
      return new Int16Array(buf);
    case '<u4':
      return new Uint32Array(buf);
    case '<i4':
      return new Int32Array(buf);
    case '<i8':
      return new BigInt64Array(buf);
    case '<u8':
      return new BigUint64Array(buf);
  }
};

const parseHeader = (file: string, header: string): E.Either<BoundaryError, { descr: NpyDescr; shape: number[] }> => {
  const descrM = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortranM = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shapeM = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (descrM === null || fortranM === null || shapeM === null) {
    return E.left(
      boundaryError(
        file,
        'npy header',
        `expected a dict with 'descr', 'fortran_order' and 'shape', got ${JSON.stringify(header.trim())}`,
      ),
    );
  }
  const descr = normaliseDescr(descrM[1] ?? '');
  if (descr === undefined) {
    return E.left(
      boundaryError(
        file,
        'npy header descr',
        `unsupported dtype '${descrM[1]}' (supported: little-endian integers and bool)`,
      ),
    );
  }
  if (fortranM[1] === 'True')
    return E.left(boundaryError(file, 'npy header fortran_order', 'Fortran-ordered arrays are not supported'));
  const parts = (shapeM[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const shape = parts.map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
    return E.left(boundaryError(file, 'npy header shape', `bad shape (${shapeM[1]})`));
  }
  return E.right({ descr, shape });
};

/** Decodes the bytes of a `.npy` file. `file` only names the source in errors. */
export const decodeNpy = (file: string, bytes: Uint8Array): E.Either<BoundaryError, NpyArray> => {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    return E.left(boundaryError(file, 'npy magic', 'not a .npy file (missing \\x93NUMPY magic)'));
  }
  const major = bytes[6] ?? 0;
  if (major < 1 || major > 3)
    return E.left(boundaryError(file, 'npy version', `unsupported format version ${major}.${bytes[7]}`));
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lenBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lenBytes)
    return E.left(boundaryError(file, 'npy header', 'file ends inside the header length'));
  const headerLen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const start = 8 + lenBytes;
  if (bytes.length < start + headerLen) return E.left(boundaryError(file, 'npy header', 'file ends inside the header'));
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  return E.flatMap(parseHeader(file, header), ({ descr, shape }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const payload = bytes.subarray(start + headerLen);
    const need = count * ITEM_SIZE[descr];
    if (payload.length < need) {
      return E.left(
        boundaryError(file, 'npy data', `shape (${shape.join(', ')}) needs ${need} bytes, file has ${payload.length}`),
      );
    }
    return E.right({ descr, shape, data: view(descr, payload, count) });
  });
};

const descrOf = (data: NpyData): NpyDescr =>
  data instanceof Uint8Array
    ? '|u1'
    : data instanceof Int8Array
      ? '|i1'
      : data instanceof Uint16Array
        ? '<u2'
        : data instanceof Int16Array
          ? '<i2'
          : data instanceof Uint32Array
            ? '<u4'
            : data instanceof Int32Array
              ? '<i4'
              : data instanceof BigInt64Array
                ? '<i8'
                : '<u8';

/** Encodes an array as NumPy 1.0 (2.0 when the header would not fit), header padded to 64 bytes as NumPy does. */
export const encodeNpy = (shape: readonly number[], data: NpyData, descr: NpyDescr = descrOf(data)): Uint8Array => {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new Error(`encodeNpy: shape (${shape.join(', ')}) needs ${count} values, got ${data.length}`);
  if (descr !== descrOf(data) && !(descr === '|b1' && data instanceof Uint8Array)) {
    throw new Error(`encodeNpy: descr ${descr} does not match the ${data.constructor.name}`);
  }
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  const major = dict.length + 1 + 10 > 65535 ? 2 : 1;
  const prefix = 8 + (major === 1 ? 2 : 4);
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const header = dict + ' '.repeat(total - prefix - dict.length - 1) + '\n';
  const payload = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(total + payload.length);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(payload, total);
  return out;
};

/**
 * The values as plain numbers for the loader (which casts every field to int32, §4).
 * 64-bit values outside the int32 range are an error rather than a silent wrap.
 */
export const npyToInt32 = (file: string, a: NpyArray): E.Either<BoundaryError, Int32Array> => {
  const d = a.data;
  if (d instanceof BigInt64Array || d instanceof BigUint64Array || d instanceof Uint32Array) {
    const out = new Int32Array(d.length);
    for (let i = 0; i < d.length; i++) {
      const v = Number(d[i]);
      if (v > 2147483647 || v < -2147483648)
        return E.left(boundaryError(file, `element ${i}`, `value ${v} does not fit in int32`));
      out[i] = v;
    }
    return E.right(out);
  }
  return E.right(d instanceof Int32Array ? d : Int32Array.from(d));
};
