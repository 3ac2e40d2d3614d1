/**
 * Contracts of the ops beyond their values: the defaults (mean drops its axis, softmax and rmsNorm
 * act on the last axis, transpose swaps the last two, the cross entropies ignore label −100), what
 * each op refuses (naming itself and the shapes), no-op calls returning their input, broadcasting's
 * VJP summing exactly the broadcast axes, and tensors of two backends never mixing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsBackend } from '../src/accel/js/index.js';
import * as ops from '../src/ops/index.js';
import {
  rmsNormLast,
  rmsNormLastComposite,
  rmsNormLastGrad,
  swigluGate,
  swigluGateComposite,
  swigluGateGrad,
} from '../src/ops/fused.js';
import { sumTo } from '../src/ops/primitives.js';
import { type Tensor, fromStorage, storage, tensor, zeros } from '../src/tensor/tensor.js';
import { prng, randomTensor, shapeArb } from './arbitraries.js';

const values = (t: Tensor): number[] => Array.from(storage(t));
const close = (a: Tensor, b: Tensor) => {
  expect(a.shape).toEqual(b.shape);
  values(a).forEach((v, i) => expect(v).toBeCloseTo(values(b)[i]!, 5));
};
const rand = (seed: number, shape: number[]) => randomTensor(prng(seed), shape, 'float64');

describe('defaults', () => {
  it('mean drops its axis unless asked to keep it', () => {
    const x = rand(1, [2, 3, 4]);
    expect(ops.mean(x, 1).shape).toEqual([2, 4]);
    expect(ops.mean(x, 1, true).shape).toEqual([2, 1, 4]);
  });

  it('softmax, rmsNorm and transpose act on the last axes by default', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 2, max: 4 }), (seed, d) => {
        const x = rand(seed, [2, d, d + 1]);
        close(ops.softmax(x), ops.softmax(x, 2));
        close(ops.rmsNorm(x, 1e-5), ops.rmsNorm(x, 1e-5, 2));
        expect(ops.transpose(x).shape).toEqual([2, d + 1, d]);
        close(ops.transpose(x), ops.permute(x, [0, 2, 1]));
      }),
      { numRuns: 10 },
    );
  });

  it('rmsNorm over any axis is x / √(mean(x²) + eps) along it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 }), (seed, axis) => {
        const x = rand(seed, [3, 4, 5]);
        const want = ops.div(x, ops.sqrt(ops.add(ops.mean(ops.mul(x, x), axis, true), 1e-5)));
        close(ops.rmsNorm(x, 1e-5, axis), want);
      }),
      { numRuns: 10 },
    );
  });

  it('both cross entropies ignore label −100 by default', () => {
    const logits = rand(3, [2, 3, 4]);
    const labels = fromStorage([2, 3], Int32Array.from([1, -100, 3, -100, 0, 2]));
    for (const ce of [ops.stablemaxCrossEntropy, ops.softmaxCrossEntropy]) {
      const l = values(ce(logits, labels));
      expect([l[1]! + 0, l[3]! + 0]).toEqual([0, 0]); // −0 or +0
      expect(l.filter((_v, i) => i !== 1 && i !== 3).every((v) => v > 0)).toBe(true);
    }
  });
});

describe('refusals name the op and the shapes', () => {
  const x = rand(4, [2, 3]);

  it('an axis out of range', () => {
    expect(() => ops.mean(x, 5)).toThrow(/^mean: /);
    expect(() => ops.rmsNorm(x, 1e-5, 5)).toThrow(/^rmsNorm: /);
    expect(() => ops.transpose(x, 0, 5)).toThrow(/^transpose: /);
    expect(() => ops.concat([x, x], 5)).toThrow(/^concat: /);
  });

  it('shapes that do not fit', () => {
    expect(() => ops.reshape(x, [4, 2])).toThrow('reshape: cannot reshape [2,3] (6 values) to [4,2]');
    expect(() => ops.reshape(x, [-2, -3])).toThrow(/^reshape: /);
    expect(() => ops.reshape(x, [1.5, 4])).toThrow(/^reshape: /);
    expect(() => ops.permute(x, [0, 0])).toThrow('permute: [0,0] is not a permutation of the axes of [2,3]');
    expect(() => ops.permute(x, [1, 0, 2])).toThrow(/^permute: /);
    expect(() => ops.concat([x, rand(5, [3, 3])], 1)).toThrow(/^concat: .* do not match outside axis 1$/);
    expect(() => ops.concat([x, rand(5, [2, 3, 1])], 0)).toThrow(/^concat: /);
    expect(() => ops.concat([x, ops.cast(x, 'float32')], 0)).toThrow(/^concat: /);
    expect(() => ops.where(tensor([1, 0]), rand(6, [3]), 0)).toThrow(/^where: /);
    expect(() => ops.where(tensor([1, 0]), 1, 0)).toThrow('where: needs at least one tensor branch');
    expect(() => ops.add(1 as never, 2 as never)).toThrow('add: needs at least one tensor');
    expect(() => ops.matmul(rand(7, [2, 3]), rand(8, [2, 3]))).toThrow(/^matmul: /);
    expect(() => ops.gather(fromStorage([], Float64Array.of(1)), fromStorage([1], Int32Array.of(0)))).toThrow(
      'gather: table must have rank ≥ 1, got []',
    );
  });

  it('the fused ops: an odd SwiGLU input, a scalar RMS norm input, a cotangent that does not fit', () => {
    const odd = rand(9, [2, 5]);
    expect(() => swigluGate(odd)).toThrow('swigluGate: the last axis must have even length [gate | up], got [2,5]');
    expect(() => swigluGateComposite(odd)).toThrow(/^swigluGateComposite: the last axis/);
    const h = rand(10, [2, 4]);
    expect(() => swigluGateGrad(rand(11, [2, 4]), h)).toThrow(
      /^swigluGateGrad: cotangent .* \(expected float64 \[2,2\]\)$/,
    );
    expect(() => swigluGateGrad(ops.cast(rand(11, [2, 2]), 'float32'), h)).toThrow(/^swigluGateGrad: cotangent/);
    expect(() => swigluGateGrad(rand(11, [2, 3]), odd)).toThrow(/^swigluGateGrad: the last axis/);
    const s = fromStorage([], Float64Array.of(2));
    expect(() => rmsNormLast(s, 1e-5)).toThrow('rmsNormLast: needs rank ≥ 1, got []');
    expect(() => rmsNormLastComposite(s, 1e-5)).toThrow(/^rmsNormLastComposite: needs rank/);
    expect(() => rmsNormLastGrad(rand(12, [2, 3]), rand(13, [3, 2]), 1e-5)).toThrow(
      /^rmsNormLastGrad: cotangent .* does not match/,
    );
    expect(() => rmsNormLastGrad(ops.cast(h, 'float32'), h, 1e-5)).toThrow(/^rmsNormLastGrad: cotangent/);
    expect(() => rmsNormLastGrad(s, s, 1e-5)).toThrow(/^rmsNormLastGrad: needs rank/);
  });

  it('tensors of two backends do not mix', () => {
    const a = tensor([1, 2]);
    const b = fromStorage([2], Float32Array.of(3, 4), jsBackend);
    expect(() => ops.add(a, b)).toThrow('add: inputs live on different backends (reference, js)');
    expect(() => ops.mul(b, a)).toThrow('mul: inputs live on different backends (js, reference)');
    expect(values(ops.add(b, b))).toEqual([6, 8]);
  });
});

describe('no-op calls and slicing edges', () => {
  it('cast to its own dtype, reshape to its own shape and the identity permutation return the input', () => {
    const x = rand(14, [2, 3]);
    expect(ops.cast(x, 'float64')).toBe(x);
    expect(ops.reshape(x, [2, 3])).toBe(x);
    expect(ops.permute(x, [0, 1])).toBe(x);
  });

  it('slice ends count from the end when negative, and an end of 0 is an empty range', () => {
    const x = tensor([0, 1, 2, 3, 4]);
    expect(values(ops.slice(x, [0], [0]))).toEqual([]);
    expect(values(ops.slice(x, [1], [-1]))).toEqual([1, 2, 3]);
    expect(values(ops.slice(x, [-2]))).toEqual([3, 4]);
  });
});

describe('sumTo, the VJP of broadcasting', () => {
  it('sums exactly the axes that were broadcast (leading ones and size-1 ones)', () => {
    fc.assert(
      fc.property(shapeArb({ minRank: 1, maxRank: 3, maxDim: 3 }), fc.integer({ min: 0, max: 1000 }), (shape, seed) => {
        const target = shape.map((d, i) => (i % 2 === 0 ? 1 : d));
        const g = rand(seed, [2, ...shape]);
        let want = ops.sum(g, 0);
        target.forEach((d, i) => {
          if (d === 1) want = ops.sum(want, i, true);
        });
        close(sumTo(g, target), ops.reshape(want, target));
      }),
      { numRuns: 20 },
    );
    const g = rand(15, [2, 3]);
    expect(sumTo(g, [2, 3])).toBe(g);
    expect(values(sumTo(fromStorage([2, 2], Float64Array.of(1, 2, 3, 4)), [2, 1]))).toEqual([3, 7]);
    expect(values(sumTo(zeros([3, 1]), [1]))).toEqual([0]);
  });
});
