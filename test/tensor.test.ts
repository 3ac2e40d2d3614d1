/** Examples for the immutable Tensor: construction, copying, accessors, shapes and printing. */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { valueAndGrad } from '../src/autodiff/grad.js';
import * as ops from '../src/ops/index.js';
import { broadcastShapes, normAxis, shapeStr, size, strides } from '../src/core/shape.js';
import {
  arange,
  format,
  full,
  item,
  ones,
  scalar,
  tensor,
  toArray,
  toNested,
  toTypedArray,
  zeros,
} from '../src/tensor/tensor.js';

describe('construction', () => {
  it('infers the shape of nested arrays; float32 by default', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.size).toBe(6);
    expect(t.rank).toBe(2);
    expect(toArray(t)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('a number is a rank-0 tensor; [] has shape [0]', () => {
    const s = tensor(3.5);
    expect(s.shape).toEqual([]);
    expect(item(s)).toBe(3.5);
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[], []]).shape).toEqual([2, 0]);
  });

  it('rounds values to the dtype', () => {
    expect(toArray(tensor([0.1]))).toEqual([Math.fround(0.1)]);
    expect(toArray(tensor([0.1], { dtype: 'float64' }))).toEqual([0.1]);
    expect(toArray(tensor([2.7, -2.7], { dtype: 'int32' }))).toEqual([2, -2]);
  });

  it('takes a flat array or typed array plus a shape', () => {
    const t = tensor([1, 2, 3, 4, 5, 6], [3, 2], { dtype: 'float64' });
    expect(toNested(t)).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(tensor(new Int32Array([1, 2]), [2, 1]).dtype).toBe('int32');
    expect(tensor(new Float64Array([1, 2]), [2], { dtype: 'float32' }).dtype).toBe('float32');
  });

  it('copies the values: later writes to the source do not show', () => {
    const src = [1, 2, 3];
    const typed = new Float32Array([1, 2, 3]);
    const shape = [3];
    const a = tensor(src, shape);
    const b = tensor(typed, [3]);
    const nested = [[1, 2]];
    const c = tensor(nested);
    src[0] = 99;
    typed[0] = 99;
    shape[0] = 1;
    nested[0]![0] = 99;
    expect(toArray(a)).toEqual([1, 2, 3]);
    expect(a.shape).toEqual([3]);
    expect(toArray(b)).toEqual([1, 2, 3]);
    expect(toArray(c)).toEqual([1, 2]);
  });

  it('freezes the shape', () => {
    const t = tensor([[1, 2]]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(Object.isFrozen(ops.reshape(t, [2]).shape)).toBe(true);
    expect(Object.isFrozen(ops.add(t, 1).shape)).toBe(true);
  });

  it('rejects ragged arrays, wrong sizes and invalid shapes', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow('tensor: ragged nested array');
    expect(() => tensor([[1, 2], 3] as never)).toThrow('tensor: ragged nested array');
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow('tensor: shape [2,2] needs 4 values, got 3');
    expect(() => tensor([1], [-1])).toThrow('tensor: invalid shape [-1]');
    expect(() => tensor([1], [1.5])).toThrow('tensor: invalid shape [1.5]');
    expect(() => full([2, -1], 0)).toThrow('full: invalid shape [2,-1]');
  });

  it('full, zeros, ones, scalar and arange', () => {
    expect(toArray(full([2, 2], 7, { dtype: 'int32' }))).toEqual([7, 7, 7, 7]);
    expect(toArray(zeros([3]))).toEqual([0, 0, 0]);
    expect(ones([2, 1], { dtype: 'float64' }).dtype).toBe('float64');
    expect(toArray(ones([2, 1]))).toEqual([1, 1]);
    expect(scalar(2).shape).toEqual([]);
    expect(toArray(arange(4))).toEqual([0, 1, 2, 3]);
    expect(arange(3, { dtype: 'int32' }).dtype).toBe('int32');
    expect(zeros([0, 3]).size).toBe(0);
  });
});

describe('reading values', () => {
  it('toArray and toTypedArray return fresh copies', () => {
    const t = tensor([1, 2]);
    const a = toArray(t);
    const b = toTypedArray(t);
    a[0] = 9;
    b[0] = 9;
    expect(toArray(t)).toEqual([1, 2]);
    expect(b).toBeInstanceOf(Float32Array);
  });

  it('item needs exactly one value', () => {
    expect(item(tensor([[5]]))).toBe(5);
    expect(() => item(tensor([1, 2]))).toThrow('item: tensor of shape [2] has 2 values');
  });

  it('toNested matches the shape, rank 0 included', () => {
    const t = tensor(
      Float64Array.from({ length: 24 }, (_, i) => i),
      [2, 3, 4],
    );
    const n = toNested(t) as number[][][];
    expect(n[1]![2]![3]).toBe(23);
    expect(n[0]![1]![0]).toBe(4);
    expect(toNested(scalar(4))).toBe(4);
    expect(toNested(tensor(new Float32Array(0), [2, 0]))).toEqual([[], []]);
  });
});

describe('printing shows the shape, the dtype and a few values', () => {
  it('short tensors in full', () => {
    expect(format(tensor([[1, 2.5, 3]]))).toBe('Tensor<float32 [1,3]> [1.0, 2.5000, 3.0]');
    expect(String(tensor([1, 2], { dtype: 'int32' }))).toBe('Tensor<int32 [2]> [1, 2]');
    expect(String(scalar(0.125, { dtype: 'float64' }))).toBe('Tensor<float64 []> [0.12500]');
    expect(String(zeros([0]))).toBe('Tensor<float32 [0]> []');
  });

  it('long tensors elided in the middle', () => {
    expect(String(arange(10))).toBe('Tensor<float32 [10]> [0.0, 1.0, 2.0, ..., 7.0, 8.0, 9.0]');
    expect(format(arange(10), 2)).toBe('Tensor<float32 [10]> [0.0, ..., 9.0]');
  });

  it('non-finite values and inspect', () => {
    expect(String(tensor([NaN, Infinity, -Infinity]))).toBe('Tensor<float32 [3]> [NaN, Infinity, -Infinity]');
    expect(inspect(tensor([1, 2]))).toBe('Tensor<float32 [2]> [1.0, 2.0]');
  });

  it('marks traced tensors while a gradient is taken', () => {
    let seen = '';
    valueAndGrad((p: ReturnType<typeof tensor>) => {
      seen = String(ops.mul(p, 2));
      return ops.sumAll(p);
    })(tensor([1]));
    expect(seen).toBe('Tensor<float32 [1]> (traced) [2.0]');
  });
});

describe('shapes', () => {
  it('size, strides and printing', () => {
    expect(size([])).toBe(1);
    expect(size([2, 0, 3])).toBe(0);
    expect(strides([2, 3, 4])).toEqual([12, 4, 1]);
    expect(strides([])).toEqual([]);
    expect(shapeStr([2, 3])).toBe('[2,3]');
    expect(shapeStr([])).toBe('[]');
  });

  it('broadcasting follows NumPy', () => {
    expect(broadcastShapes('op', [2, 1, 4], [3, 1])).toEqual([2, 3, 4]);
    expect(broadcastShapes('op', [], [5])).toEqual([5]);
    expect(broadcastShapes('op', [0], [1])).toEqual([0]);
    expect(() => broadcastShapes('add', [2, 3], [4])).toThrow('add: [2,3] and [4] do not broadcast: axis 1 has 3 ≠ 4');
  });

  it('normAxis accepts −rank..rank−1', () => {
    expect(normAxis('sum', -1, 3, [1, 2, 3])).toBe(2);
    expect(normAxis('sum', 0, 3, [1, 2, 3])).toBe(0);
    expect(() => normAxis('sum', 3, 3, [1, 2, 3])).toThrow('sum: axis 3 out of range for shape [1,2,3]');
    expect(() => normAxis('sum', -4, 3, [1, 2, 3])).toThrow('sum: axis -4 out of range for shape [1,2,3]');
  });
});
