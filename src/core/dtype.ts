/**
 * Element types. float32 is the default; float64 is there for gradient checks and
 * for the float64 parts of the official loss; int32 holds token ids, labels and masks.
 */
export type DType = 'float32' | 'float64' | 'int32';

/** The storage of a tensor: one typed array per supported dtype. */
export type TypedArray = Float32Array | Float64Array | Int32Array;

/** The typed-array storage of each dtype. */
export type StorageOf<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : Int32Array;

export const allocate = (dtype: DType, size: number): TypedArray => {
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
  }
};

/** Copies any array-like of numbers into fresh storage of `dtype` (rounding as the dtype does). */
export const storageFrom = (dtype: DType, values: ArrayLike<number>): TypedArray => {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int32':
      return Int32Array.from(values);
  }
};

export const dtypeOf = (data: TypedArray): DType =>
  data instanceof Float32Array ? 'float32' : data instanceof Float64Array ? 'float64' : 'int32';

export const isFloat = (dtype: DType): boolean => dtype !== 'int32';
