/**
 * What the safetensors reader and writer share: the dtypes and their item sizes, which dtypes a
 * tensor may be written as, how errors name a tensor, and byte order.
 */
import type { DType } from '../core/dtype.js';
import { preview } from './errors.js';

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

export const ITEMSIZE: Readonly<Record<StDtype, number>> = {
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

export const isStDtype = (u: unknown): u is StDtype => typeof u === 'string' && Object.hasOwn(ITEMSIZE, u);

/** The tensor dtype a safetensors dtype loads as: floats stay or widen to float32, ints become int32. */
export const loadedDtype = (d: StDtype): DType =>
  d === 'F64' ? 'float64' : d === 'F32' || d === 'F16' || d === 'BF16' ? 'float32' : 'int32';

/** Which safetensors dtypes a tensor of each dtype may be written as. */
export const WRITABLE: Readonly<Record<DType, readonly StDtype[]>> = {
  float32: ['F32', 'F64', 'F16', 'BF16'],
  float64: ['F64', 'F32', 'F16', 'BF16'],
  int32: ['I32', 'I64', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL'],
};

/** The safetensors dtypes a tensor of `dtype` may be written as; the first is the default. */
export const writableDtypes = (dtype: DType): readonly StDtype[] => WRITABLE[dtype];

// ---------------------------------------------------------------------------------------------
// Errors

/** How a tensor is named in error fields: JSON-quoted, so odd names stay one unambiguous line. */
export const tensorField = (name: string): string => preview(name, 120);

// ---------------------------------------------------------------------------------------------
// Byte order

export const MAX_INT32 = 0x7fffffff;

/** True on every platform Node realistically runs on; the byte swaps below cover the rest. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

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
