/**
 * Dtypes: float32 results equal the float64 results within float32 tolerance, for every op and its
 * VJP; single-kernel primitives are exact (the reference computes in doubles and rounds once);
 * dtypes propagate as documented; and mismatched shapes or dtypes throw errors that name the op and
 * both shapes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vjp } from '../src/autodiff/grad.js';
import * as ops from '../src/ops/index.js';
import { primitiveNames } from '../src/ops/primitives.js';
import { fusedNames } from '../src/ops/fused.js';
import type { DType } from '../src/core/dtype.js';
import { broadcastShapes, shapeStr } from '../src/core/shape.js';
import { type Tensor, fromStorage, storage, tensor } from '../src/tensor/tensor.js';
import { broadcastPairArb, prng, randomTensor, roundToFloat32, shapeArb, tensorArb } from './arbitraries.js';
import { type Tolerance, expectAllClose } from './assert.js';
import { type OpCase, differentiable, nonDifferentiable } from './catalogue.js';

const cases: readonly OpCase[] = [...differentiable, ...nonDifferentiable];

/** One fixed draw of a float64 tensor of `shape`. */
const drawTensor = (shape: readonly number[]): Tensor => fc.sample(tensorArb(shape), { numRuns: 1, seed: 1 })[0]!;

/**
 * float32 tolerance: relative to the largest magnitude around (the tensor itself, and the inputs or
 * cotangents it came from, since cancellation in a composite loses digits against those), plus a
 * floor for float32 underflow.
 */
const RTOL32 = 2e-5;
const maxAbs = (ts: readonly Tensor[]): number => Math.max(0, ...ts.flatMap((t) => Array.from(t.data, Math.abs)));
const tol32 = (reference: Tensor, around: readonly Tensor[]): Tolerance => ({
  rtol: RTOL32,
  atol: RTOL32 * Math.max(maxAbs([reference]), maxAbs(around)) + 1e-30,
});

/** The float32 values the float64 reference rounds to (what one rounding of a double computation gives). */
const fround = (t: Tensor): Tensor =>
  t.dtype === 'float64' ? fromStorage(t.shape, Float64Array.from(Float32Array.from(storage(t)))) : t;

const asFloat64 = (t: Tensor): Tensor => (t.dtype === 'float32' ? ops.cast(t, 'float64') : t);

/** Cases that run exactly one kernel forward: float32 must be float64 rounded once, bit for bit. */
const singleKernel = (c: OpCase): boolean =>
  primitiveNames.includes(c.name) ||
  fusedNames.includes(c.name) ||
  c.name.startsWith('matmul') ||
  c.name === 'transpose' ||
  c.name === 'cast→int32';

describe('float32 results equal float64 results within float32 tolerance', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    fc.assert(
      fc.property(c.arb, fc.integer(), (inst, seed) => {
        const x64 = inst.inputs.map(roundToFloat32);
        const x32 = x64.map((x) => ops.cast(x, 'float32'));
        const f = (xs: readonly Tensor[]): Tensor => inst.f(xs);
        const y64 = f(x64);
        const y32 = f(x32);
        const out32: DType = inst.outDtype32 ?? 'float32';
        if (y32.dtype !== out32)
          throw new Error(`${c.name} ${inst.context}: float32 inputs gave ${y32.dtype}, expected ${out32}`);

        const ctx = `${inst.context} (float32 vs float64)`;
        if (singleKernel(c)) expectAllClose(c.name, ctx, asFloat64(y32), fround(y64));
        else expectAllClose(c.name, ctx, asFloat64(y32), y64, tol32(y64, x64));

        if (y64.dtype === 'int32' || c.name === 'cast') return;
        const dy64 = roundToFloat32(randomTensor(prng(seed), y64.shape, 'float64'));
        const g64 = vjp(f, x64, dy64).grad;
        const g32 = vjp(f, x32, ops.cast(dy64, y32.dtype)).grad;
        g32.forEach((g, k) => {
          if (g.dtype !== 'float32')
            throw new Error(`${c.name} ${inst.context}: gradient ${k} is ${g.dtype}, expected float32`);
          expectAllClose(c.name, ctx, asFloat64(g), g64[k]!, tol32(g64[k]!, [dy64]), `gradients of input ${k}`);
        });
      }),
      { numRuns: 40 },
    );
  });
});

describe('dtypes propagate', () => {
  it('storage class follows the dtype; float32 is the default', () => {
    expect(storage(tensor([1, 2]))).toBeInstanceOf(Float32Array);
    expect(storage(tensor([1, 2], { dtype: 'float64' }))).toBeInstanceOf(Float64Array);
    expect(storage(tensor([1, 2], { dtype: 'int32' }))).toBeInstanceOf(Int32Array);
    expect(tensor(new Float64Array([1]), [1]).dtype).toBe('float64');
    expect(tensor(new Int32Array([1]), [1]).dtype).toBe('int32');
  });

  it('cast to float32 rounds as Math.fround; cast to int32 truncates toward zero', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { maxLength: 20 }), (vs) => {
        const x = tensor(Float64Array.from(vs), [vs.length]);
        expect(Array.from(ops.cast(x, 'float32').data)).toEqual(vs.map(Math.fround));
        expect(Array.from(ops.cast(x, 'int32').data)).toEqual(vs.map((v) => Math.trunc(v) + 0));
        expect(Array.from(ops.cast(ops.cast(x, 'int32'), 'float64').data)).toEqual(vs.map((v) => Math.trunc(v) + 0));
      }),
    );
  });

  it('comparisons give 1/0 in the dtype of their operands, int32 included', () => {
    const a = tensor([1, 2, 3], { dtype: 'int32' });
    const r = ops.lt(a, 2);
    expect(r.dtype).toBe('int32');
    expect(Array.from(r.data)).toEqual([1, 0, 0]);
    const f = ops.ge(tensor([0.5, -1], { dtype: 'float64' }), 0);
    expect(f.dtype).toBe('float64');
    expect(Array.from(f.data)).toEqual([1, 0]);
  });

  it('int32 arithmetic, sums and maxima stay int32', () => {
    const a = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'int32' },
    );
    expect(ops.add(a, 1).dtype).toBe('int32');
    expect(Array.from(ops.sum(a, -1).data)).toEqual([3, 7]);
    expect(ops.maximum(a, 2).dtype).toBe('int32');
    expect(ops.argmax(tensor([[0.1, 0.3, 0.2]]), -1).dtype).toBe('int32');
  });

  it('float-only ops reject int32 with the op and the shape', () => {
    const a = tensor([[1, 2]], { dtype: 'int32' });
    expect(() => ops.exp(a)).toThrow('exp: needs a float tensor, got int32 [1,2]');
    expect(() => ops.matmul(a, a)).toThrow(/^matmul: /);
  });

  it('gather and scatterAdd need int32 ids', () => {
    const table = tensor([
      [1, 2],
      [3, 4],
    ]);
    expect(() => ops.gather(table, tensor([0, 1]))).toThrow('gather: ids must be int32, got float32 [2]');
    expect(() => ops.scatterAdd(table, tensor([0, 1]), 2)).toThrow('scatterAdd: ids must be int32, got float32 [2]');
  });
});

describe('bad input: mismatches name the op and both shapes', () => {
  const binaries = ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'atan2', 'eq', 'lt'] as const;

  it('mixed dtypes throw for every binary op', () => {
    fc.assert(
      fc.property(fc.constantFrom(...binaries), broadcastPairArb(), (op, [sa, sb]) => {
        const a = tensor(new Float32Array(sa.reduce((p, d) => p * d, 1)), sa);
        const b = tensor(new Float64Array(sb.reduce((p, d) => p * d, 1)), sb);
        expect(() => ops[op](a, b)).toThrow(
          `${op}: dtypes differ: float32 ${shapeStr(sa)} and float64 ${shapeStr(sb)}`,
        );
      }),
    );
  });

  it('shapes that do not broadcast throw for every binary op', () => {
    const pair = fc
      .tuple(shapeArb({ minRank: 1, maxRank: 3 }), shapeArb({ minRank: 1, maxRank: 3 }))
      .filter(([a, b]) => {
        try {
          broadcastShapes('probe', a, b);
          return false;
        } catch {
          return true;
        }
      });
    fc.assert(
      fc.property(fc.constantFrom(...binaries), pair, (op, [sa, sb]) => {
        const a = tensor(new Float32Array(sa.reduce((p, d) => p * d, 1)), sa);
        const b = tensor(new Float32Array(sb.reduce((p, d) => p * d, 1)), sb);
        expect(() => ops[op](a, b)).toThrow(
          new RegExp(`^${op}: \\${shapeStr(sa)} and \\${shapeStr(sb)} do not broadcast: axis \\d+ has \\d+ ≠ \\d+$`),
        );
      }),
    );
  });

  it('matmul with different inner dimensions names both shapes and both dimensions', () => {
    expect(() => ops.matmul(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(20), [4, 5]))).toThrow(
      'matmul: [2,3] @ [4,5]: inner dimensions 3 ≠ 4',
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.boolean(),
        (m, k, k2, n, tA, tB) => {
          fc.pre(k !== k2);
          const a = drawTensor(tA ? [k, m] : [m, k]);
          const b = drawTensor(tB ? [n, k2] : [k2, n]);
          const tag = `${tA ? 'ᵀ' : ''}@${tB ? 'ᵀ' : ''}`;
          expect(() => ops.matmulT(a, b, tA, tB)).toThrow(
            `matmul: ${shapeStr(a.shape)} ${tag} ${shapeStr(b.shape)}: inner dimensions ${k} ≠ ${k2}`,
          );
        },
      ),
    );
  });

  it('other ops name themselves and the shapes involved', () => {
    const x = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(() => ops.matmul(tensor([1, 2]), x)).toThrow('matmul: [2] @ [2,3]: both operands need rank ≥ 2');
    expect(() => ops.matmul(x, tensor([[1], [2], [3]], { dtype: 'float64' }))).toThrow(
      'matmul: [2,3] @ [3,1]: dtypes differ (float32, float64)',
    );
    expect(() => ops.matmul(tensor(new Float32Array(12), [2, 2, 3]), tensor(new Float32Array(18), [3, 3, 2]))).toThrow(
      'matmul: [2] and [3] do not broadcast',
    );
    expect(() => ops.reshape(x, [4, 2])).toThrow('reshape: cannot reshape [2,3] (6 values) to [4,2]');
    expect(() => ops.permute(x, [0, 0])).toThrow('permute: [0,0] is not a permutation of the axes of [2,3]');
    expect(() => ops.broadcastTo(x, [3, 3])).toThrow('broadcastTo: [2,3] and [3,3] do not broadcast');
    expect(() => ops.broadcastTo(x, [1, 3])).toThrow('broadcastTo: [2,3] does not broadcast to [1,3]');
    expect(() => ops.concat([x, tensor([[1, 2]])], 0)).toThrow(
      'concat: float32 [2,3], float32 [1,2] do not match outside axis 0',
    );
    expect(() => ops.concat([x, tensor([[1, 2, 3]], { dtype: 'float64' })], 0)).toThrow(
      'concat: float32 [2,3], float64 [1,3] do not match outside axis 0',
    );
    expect(() => ops.where(tensor([1, 0]), x, 0)).toThrow('where: [2] and [2,3] do not broadcast');
    expect(() => ops.where(tensor([1, 0, 1]), x, tensor([0], { dtype: 'float64' }))).toThrow(
      'where: branch dtypes differ: float32 [2,3] and float64 [1]',
    );
    expect(() => ops.sum(x, 2)).toThrow('sum: axis 2 out of range for shape [2,3]');
    expect(() => ops.slice(x, [0, 2], [2, 4])).toThrow('slice: [2:4] out of range on axis 1 of [2,3]');
    expect(() => ops.pad(x, [[0, -1]])).toThrow('pad: negative widths for [2,3]');
    expect(() => ops.gather(x, tensor([2], { dtype: 'int32' }))).toThrow('gather: id 2 at index 0 out of range [0, 2)');
    expect(() => ops.scatterAdd(x, tensor([0], { dtype: 'int32' }), 2)).toThrow(
      'scatterAdd: values [2,3] do not start with ids [1]',
    );
  });
});
