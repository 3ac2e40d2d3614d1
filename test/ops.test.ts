/**
 * Examples with known values for the ops: broadcasting, element-wise maths, reductions, movement
 * (reshape, permute, slice, pad, concat), indexing (gather, scatterAdd), matmul in all four
 * transpose forms against a naive triple loop, the composites, and error messages.
 */
import { describe, expect, it } from 'vitest';
import { grad } from '../src/autodiff/grad.js';
import * as ops from '../src/ops/index.js';
import type { DType } from '../src/core/dtype.js';
import { size, strides } from '../src/core/shape.js';
import { type Tensor, arange, scalar, tensor, toArray, toNested } from '../src/tensor/tensor.js';

const f64 = { dtype: 'float64' } as const;
const i32 = { dtype: 'int32' } as const;
const close = (t: Tensor, want: readonly number[], digits = 6): void => {
  const got = toArray(t);
  expect(got.length).toBe(want.length);
  got.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, digits));
};

const gradOf = (f: (p: Tensor) => Tensor, x: Tensor): Tensor => grad(f)(x);

describe('broadcasting', () => {
  it('[2,1] + [3] → [2,3]', () => {
    const r = ops.add(tensor([[10], [20]]), tensor([1, 2, 3]));
    expect(r.shape).toEqual([2, 3]);
    expect(toNested(r)).toEqual([
      [11, 12, 13],
      [21, 22, 23],
    ]);
  });

  it('[2,1,3] · [4,1] → [2,4,3], and JS numbers broadcast as scalars', () => {
    const a = tensor(arange(6).data, [2, 1, 3]);
    const b = tensor([1, 2, 3, 4], [4, 1]);
    const r = ops.mul(a, b);
    expect(r.shape).toEqual([2, 4, 3]);
    expect(toNested(r)).toEqual([
      [
        [0, 1, 2],
        [0, 2, 4],
        [0, 3, 6],
        [0, 4, 8],
      ],
      [
        [3, 4, 5],
        [6, 8, 10],
        [9, 12, 15],
        [12, 16, 20],
      ],
    ]);
    expect(toArray(ops.sub(1, tensor([1, 2])))).toEqual([0, -1]);
    expect(toArray(ops.div(tensor([1, 2]), 4))).toEqual([0.25, 0.5]);
    expect(ops.add(scalar(1), scalar(2)).shape).toEqual([]);
  });

  it('size-0 axes broadcast against size 1', () => {
    const r = ops.add(tensor(new Float32Array(0), [0, 3]), tensor([[1, 2, 3]]));
    expect(r.shape).toEqual([0, 3]);
  });

  it('where picks elementwise with three-way broadcasting', () => {
    const cond = tensor([[1], [0]], i32);
    const r = ops.where(cond, tensor([1, 2, 3]), -1);
    expect(toNested(r)).toEqual([
      [1, 2, 3],
      [-1, -1, -1],
    ]);
  });

  it('broadcastTo copies values bit for bit, −0 included', () => {
    const r = ops.broadcastTo(tensor([-0, 0, NaN]), [2, 3]);
    expect(Array.from(r.data).map((v) => Object.is(v, -0))).toEqual([true, false, false, true, false, false]);
  });

  it('broadcastTo repeats along size-1 and new axes', () => {
    expect(toNested(ops.broadcastTo(tensor([[1], [2]]), [2, 2, 3]))).toEqual([
      [
        [1, 1, 1],
        [2, 2, 2],
      ],
      [
        [1, 1, 1],
        [2, 2, 2],
      ],
    ]);
  });
});

describe('element-wise', () => {
  it('unary maths', () => {
    const x = tensor([-1, 0, 2], f64);
    close(ops.neg(x), [1, 0, -2]);
    close(ops.exp(x), [Math.exp(-1), 1, Math.exp(2)], 12);
    close(ops.abs(x), [1, 0, 2]);
    close(ops.sign(x), [-1, 0, 1]);
    close(ops.sigmoid(x), [1 / (1 + Math.E), 0.5, 1 / (1 + Math.exp(-2))], 12);
    close(ops.silu(x), [-1 / (1 + Math.E), 0, 2 / (1 + Math.exp(-2))], 12);
    close(ops.sin(x), [Math.sin(-1), 0, Math.sin(2)], 12);
    close(ops.cos(x), [Math.cos(-1), 1, Math.cos(2)], 12);
    const p = tensor([0.25, 1, 4], f64);
    close(ops.log(p), [Math.log(0.25), 0, Math.log(4)], 12);
    close(ops.sqrt(p), [0.5, 1, 2]);
    close(ops.rsqrt(p), [2, 1, 0.5]);
  });

  it('sigmoid is stable for large |x|', () => {
    const r = toArray(ops.sigmoid(tensor([-1000, 1000], f64)));
    expect(r).toEqual([0, 1]);
  });

  it('binary maths', () => {
    const a = tensor([1, -2, 3], f64);
    const b = tensor([2, 2, -1], f64);
    close(ops.maximum(a, b), [2, 2, 3]);
    close(ops.minimum(a, b), [1, -2, -1]);
    close(ops.atan2(a, b), [Math.atan2(1, 2), Math.atan2(-2, 2), Math.atan2(3, -1)], 12);
    expect(toArray(ops.eq(a, b))).toEqual([0, 0, 0]);
    expect(toArray(ops.ne(a, b))).toEqual([1, 1, 1]);
    expect(toArray(ops.le(a, tensor([1, 1, 1], f64)))).toEqual([1, 1, 0]);
    expect(toArray(ops.gt(a, tensor([1, 1, 1], f64)))).toEqual([0, 0, 1]);
  });

  it('maximum and minimum propagate NaN', () => {
    expect(toArray(ops.maximum(tensor([NaN, 1]), tensor([0, NaN])))).toEqual([NaN, NaN]);
    expect(toArray(ops.minimum(tensor([NaN, 1]), tensor([0, NaN])))).toEqual([NaN, NaN]);
  });
});

describe('reductions', () => {
  const x = tensor(
    [
      [1, 5, 3],
      [4, 2, 6],
    ],
    f64,
  );

  it('sum, max and mean over an axis, with and without keepdims', () => {
    expect(toArray(ops.sum(x, 0))).toEqual([5, 7, 9]);
    expect(ops.sum(x, -1, true).shape).toEqual([2, 1]);
    expect(toArray(ops.sum(x, -1, true))).toEqual([9, 12]);
    expect(toArray(ops.max(x, 1))).toEqual([5, 6]);
    expect(toArray(ops.mean(x, 0))).toEqual([2.5, 3.5, 4.5]);
    expect(toArray(ops.sumAll(x))).toEqual([21]);
    expect(ops.sumAll(x).shape).toEqual([]);
    expect(toArray(ops.meanAll(x))).toEqual([3.5]);
  });

  it('argmax gives the first index of the maximum', () => {
    expect(
      toArray(
        ops.argmax(
          tensor([
            [1, 3, 3],
            [2, 2, 0],
          ]),
          -1,
        ),
      ),
    ).toEqual([1, 0]);
    expect(toArray(ops.argmax(x, 0, true))).toEqual([1, 0, 1]);
  });

  it('the max gradient is shared among ties', () => {
    // d/dx max(x) over [1, 3, 3]: half to each tied maximum.
    expect(toArray(gradOf((p) => ops.sumAll(ops.max(p, 0)), tensor([1, 3, 3], f64)))).toEqual([0, 0.5, 0.5]);
  });

  it('empty axes: sum is 0, max is −∞', () => {
    const e = tensor(new Float32Array(0), [2, 0]);
    expect(toArray(ops.sum(e, 1))).toEqual([0, 0]);
    expect(toArray(ops.max(e, 1))).toEqual([-Infinity, -Infinity]);
  });
});

describe('movement', () => {
  const x = tensor(
    Float64Array.from({ length: 24 }, (_, i) => i),
    [2, 3, 4],
  );

  it('reshape keeps row-major order and infers −1', () => {
    expect(ops.reshape(x, [4, -1]).shape).toEqual([4, 6]);
    expect((toNested(ops.reshape(x, [6, 4])) as number[][])[5]).toEqual([20, 21, 22, 23]);
    expect(ops.reshape(x, [-1]).shape).toEqual([24]);
    expect(ops.reshape(x, [2, 3, 4])).toBe(x);
  });

  it('permute moves axes: out[k,i,j] = x[i,j,k]', () => {
    const p = ops.permute(x, [2, 0, 1]);
    expect(p.shape).toEqual([4, 2, 3]);
    const n = toNested(p) as number[][][];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) expect(n[k]![i]![j]).toBe(i * 12 + j * 4 + k);
  });

  it('transpose swaps the last two axes by default', () => {
    expect(
      toNested(
        ops.transpose(
          tensor([
            [1, 2, 3],
            [4, 5, 6],
          ]),
        ),
      ),
    ).toEqual([
      [1, 4],
      [2, 5],
      [3, 6],
    ]);
    expect(ops.transpose(x, 0, 2).shape).toEqual([4, 3, 2]);
  });

  it('slice takes a box, with negative indices from the end', () => {
    const s = ops.slice(x, [1, 1], [2, -1]);
    expect(s.shape).toEqual([1, 1, 4]);
    expect(toArray(s)).toEqual([16, 17, 18, 19]);
    expect(toArray(ops.slice(x, [0, 0, -2]))).toEqual([2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23]);
    expect(ops.slice(x, [0, 2], [2, 2]).shape).toEqual([2, 0, 4]);
  });

  it('pad places the tensor inside a constant border', () => {
    expect(
      toNested(
        ops.pad(
          tensor([[1, 2]]),
          [
            [1, 0],
            [0, 2],
          ],
          9,
        ),
      ),
    ).toEqual([
      [9, 9, 9, 9],
      [1, 2, 9, 9],
    ]);
    expect(toArray(ops.pad(tensor([1]), [[2, 1]]))).toEqual([0, 0, 1, 0]);
  });

  it('concat joins along any axis, empty parts included', () => {
    const a = tensor([[1, 2]]);
    const b = tensor([
      [3, 4],
      [5, 6],
    ]);
    expect(toNested(ops.concat([a, b], 0))).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
    expect(toNested(ops.concat([b, tensor([[7], [8]])], -1))).toEqual([
      [3, 4, 7],
      [5, 6, 8],
    ]);
    expect(toNested(ops.concat([a, tensor(new Float32Array(0), [0, 2]), a], 0))).toEqual([
      [1, 2],
      [1, 2],
    ]);
    expect(ops.concat([a], 0)).toBe(a);
  });
});

describe('indexing', () => {
  const table = tensor(
    [
      [0, 1],
      [10, 11],
      [20, 21],
    ],
    f64,
  );

  it('gather looks up rows: [...ids, ...row]', () => {
    const g = ops.gather(
      table,
      tensor(
        [
          [2, 0],
          [1, 1],
        ],
        i32,
      ),
    );
    expect(g.shape).toEqual([2, 2, 2]);
    expect(toArray(g)).toEqual([20, 21, 0, 1, 10, 11, 10, 11]);
    expect(toArray(ops.gather(tensor([5, 6, 7]), tensor(2, i32)))).toEqual([7]);
  });

  it('scatterAdd adds rows into place, repeats accumulating', () => {
    const s = ops.scatterAdd(
      tensor(
        [
          [1, 1],
          [2, 2],
          [4, 4],
        ],
        f64,
      ),
      tensor([2, 0, 2], i32),
      4,
    );
    expect(toNested(s)).toEqual([
      [2, 2],
      [0, 0],
      [5, 5],
      [0, 0],
    ]);
  });

  it('the gradient of gather is scatterAdd', () => {
    const ids = tensor([1, 1, 2], i32);
    const g = gradOf((t) => ops.sumAll(ops.gather(t, ids)), table);
    expect(toNested(g)).toEqual([
      [0, 0],
      [2, 2],
      [1, 1],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// matmul vs a naive triple loop

/** The i-k-j loop over logical (untransposed) indices, with NumPy batch broadcasting. */
const naiveMatmul = (a: Tensor, b: Tensor, transA: boolean, transB: boolean): { shape: number[]; data: number[] } => {
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [m, k] = transA ? [ac, ar] : [ar, ac];
  const n = transB ? br : bc;
  const aB = a.shape.slice(0, -2);
  const bB = b.shape.slice(0, -2);
  const rank = Math.max(aB.length, bB.length);
  const batch = Array.from({ length: rank }, (_, i) => {
    const da = aB[aB.length - rank + i] ?? 1;
    const db = bB[bB.length - rank + i] ?? 1;
    return da === 1 ? db : da;
  });
  const offset = (shape: readonly number[], idx: readonly number[]): number => {
    const s = strides(shape);
    return shape.reduce((acc, d, i) => acc + (d === 1 ? 0 : idx[idx.length - shape.length + i]! * s[i]!), 0);
  };
  const out: number[] = [];
  for (let flat = 0; flat < size(batch); flat++) {
    const idx = batch.map((_, i) => Math.floor(flat / size(batch.slice(i + 1))) % batch[i]!);
    const aOff = offset(aB, idx) * ar * ac;
    const bOff = offset(bB, idx) * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const av = a.data[aOff + (transA ? p * ac + i : i * ac + p)]!;
          const bv = b.data[bOff + (transB ? j * bc + p : p * bc + j)]!;
          acc += av * bv;
        }
        out.push(acc);
      }
    }
  }
  return { shape: [...batch, m, n], data: out };
};

const seeded = (shape: readonly number[], seed: number, dtype: DType): Tensor => {
  let s = seed;
  const vs = Array.from({ length: size(shape) }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
  return tensor(vs, shape, { dtype });
};

describe('matmul: all four transpose forms agree with a naive triple loop', () => {
  const dims = [1, 3, 4, 5, 8, 9, 13];
  const forms = [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ] as const;

  for (const [transA, transB] of forms) {
    it(`${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'} for m, k, n in {${dims.join(',')}}, float64 and float32`, () => {
      let seed = 1;
      for (const m of dims) {
        for (const k of dims) {
          for (const n of [1, 4, 7, 13]) {
            for (const dtype of ['float64', 'float32'] as const) {
              const a = seeded(transA ? [k, m] : [m, k], seed++, dtype);
              const b = seeded(transB ? [n, k] : [k, n], seed++, dtype);
              const r = ops.matmulT(a, b, transA, transB);
              const want = naiveMatmul(a, b, transA, transB);
              expect(r.shape).toEqual(want.shape);
              // Both sum p = 0..k−1 in order in doubles and round once: equal bit for bit.
              const wantData = dtype === 'float32' ? want.data.map(Math.fround) : want.data;
              expect(toArray(r), `${dtype} m=${m} k=${k} n=${n}`).toEqual(wantData);
            }
          }
        }
      }
    });
  }

  it('batched, with broadcast batch axes', () => {
    const cases: [number[], number[]][] = [
      [
        [2, 1, 5, 3],
        [4, 3, 6],
      ],
      [
        [5, 3],
        [2, 3, 7],
      ],
      [
        [3, 2, 6, 5],
        [5, 6],
      ],
      [
        [1, 4, 9],
        [3, 9, 4],
      ],
    ];
    let seed = 100;
    for (const [sa, sb] of cases) {
      for (const [transA, transB] of forms) {
        const swap = (s: number[], t: boolean): number[] =>
          t ? [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!] : s;
        const a = seeded(swap(sa, transA), seed++, 'float64');
        const b = seeded(swap(sb, transB), seed++, 'float64');
        const r = ops.matmulT(a, b, transA, transB);
        const want = naiveMatmul(a, b, transA, transB);
        expect(r.shape, `${sa} ${sb} ${transA} ${transB}`).toEqual(want.shape);
        expect(toArray(r)).toEqual(want.data);
      }
    }
  });

  it('matmul is matmulT without transposes; k = 0 gives zeros', () => {
    const a = seeded([3, 5], 1, 'float64');
    const b = seeded([5, 2], 2, 'float64');
    expect(toArray(ops.matmul(a, b))).toEqual(toArray(ops.matmulT(a, b, false, false)));
    const z = ops.matmul(tensor(new Float32Array(0), [2, 0]), tensor(new Float32Array(0), [0, 3]));
    expect(z.shape).toEqual([2, 3]);
    expect(toArray(z)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('a small example by hand', () => {
    const a = tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = tensor([
      [5, 6],
      [7, 8],
    ]);
    expect(toNested(ops.matmul(a, b))).toEqual([
      [19, 22],
      [43, 50],
    ]);
    expect(toNested(ops.matmulT(a, b, true, false))).toEqual([
      [26, 30],
      [38, 44],
    ]);
    expect(toNested(ops.matmulT(a, b, false, true))).toEqual([
      [17, 23],
      [39, 53],
    ]);
    expect(toNested(ops.matmulT(a, b, true, true))).toEqual([
      [23, 31],
      [34, 46],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Composites

describe('composites', () => {
  it('softmax and logSoftmax', () => {
    const x = tensor(
      [
        [1, 2, 3],
        [1000, 1000, 1000],
      ],
      f64,
    );
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    close(ops.softmax(x), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z, 1 / 3, 1 / 3, 1 / 3], 12);
    close(
      ops.logSoftmax(x),
      [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z), -Math.log(3), -Math.log(3), -Math.log(3)],
      12,
    );
    close(ops.softmax(x, 0), [0, 0, 0, 1, 1, 1], 12);
  });

  it('rmsNorm divides by the root mean square', () => {
    const x = tensor([[3, 4]], f64);
    const r = Math.sqrt((9 + 16) / 2 + 1e-5);
    close(ops.rmsNorm(x, 1e-5), [3 / r, 4 / r], 12);
  });

  it('stablemax: s(x) = x + 1 for x ≥ 0, 1/(1 − x) below', () => {
    close(ops.stablemaxS(tensor([-1, 0, 2], f64)), [0.5, 1, 3], 12);
    close(ops.logStablemax(tensor([0, 1], f64)), [Math.log(1 / 3), Math.log(2 / 3)], 12);
  });

  it('stablemax in float32 has finite gradients at integer logits (x = 1 once gave NaN)', () => {
    const g = gradOf((p) => ops.sumAll(ops.mul(ops.logStablemax(p), tensor([1, 0, 0]))), tensor([1, 0.5, -2]));
    expect(toArray(g).every(Number.isFinite)).toBe(true);
    const g64 = gradOf(
      (p) => ops.sumAll(ops.mul(ops.logStablemax(p), tensor([1, 0, 0], f64))),
      tensor([1, 0.5, -2], f64),
    );
    close(g, toArray(g64), 6);
  });

  it('stablemax cross entropy is float64, 0 where the label is ignored', () => {
    const logits = tensor([
      [0, 1],
      [-1, 2],
    ]);
    const loss = ops.stablemaxCrossEntropy(logits, tensor([1, -100], i32));
    expect(loss.dtype).toBe('float64');
    close(loss, [-Math.log(2 / 3), 0], 12);
  });

  it('softmax cross entropy: float32 for float32 logits, float64 stays float64', () => {
    const labels = tensor([2, 0, -100], i32);
    const logits = tensor(
      [
        [1, 2, 3],
        [0, 0, 0],
        [5, 5, 5],
      ],
      f64,
    );
    const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
    const l64 = ops.softmaxCrossEntropy(logits, labels);
    expect(l64.dtype).toBe('float64');
    close(l64, [Math.log(z) - 3, Math.log(3), 0], 12);
    const l32 = ops.softmaxCrossEntropy(ops.cast(logits, 'float32'), labels);
    expect(l32.dtype).toBe('float32');
    close(l32, [Math.log(z) - 3, Math.log(3), 0], 5);
  });

  it('BCE with logits matches −y·log σ(x) − (1−y)·log(1−σ(x)), stably', () => {
    const x = tensor([-2, 0.5, 3], f64);
    const y = tensor([0, 1, 0.25], f64);
    const sig = (v: number): number => 1 / (1 + Math.exp(-v));
    const want = [
      [-2, 0],
      [0.5, 1],
      [3, 0.25],
    ].map(([xv, yv]) => -yv! * Math.log(sig(xv!)) - (1 - yv!) * Math.log(1 - sig(xv!)));
    close(ops.binaryCrossEntropyWithLogits(x, y), want, 12);
    close(ops.binaryCrossEntropyWithLogits(tensor([1000, -1000], f64), tensor([0, 1], f64)), [1000, 1000], 9);
  });

  it('oneHot: labels outside [0, classes) give zero rows', () => {
    expect(toNested(ops.oneHot(tensor([1, -100, 0], i32), 2))).toEqual([
      [0, 1],
      [0, 0],
      [1, 0],
    ]);
  });
});

describe('error messages name the op and the shapes', () => {
  it('matmul [2,3] @ [4,5]', () => {
    expect(() => ops.matmul(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(20), [4, 5]))).toThrow(
      'matmul: [2,3] @ [4,5]: inner dimensions 3 ≠ 4',
    );
    expect(() =>
      ops.matmulT(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(20), [4, 5]), true, true),
    ).toThrow('matmul: [2,3] ᵀ@ᵀ [4,5]: inner dimensions 2 ≠ 5');
  });

  it('element-wise broadcast and dtype mismatches', () => {
    expect(() => ops.add(tensor([[1, 2, 3]]), tensor([1, 2]))).toThrow(
      'add: [1,3] and [2] do not broadcast: axis 1 has 3 ≠ 2',
    );
    expect(() => ops.mul(tensor([1]), tensor([1], f64))).toThrow('mul: dtypes differ: float32 [1] and float64 [1]');
  });

  it('movement and indexing', () => {
    const x = tensor([[1, 2]]);
    expect(() =>
      ops.pad(x, [
        [0, 0],
        [2, -1],
      ]),
    ).toThrow('pad: negative widths for [1,2]');
    expect(() =>
      ops.pad(x, [
        [0, 0],
        [0, 0],
        [0, 0],
      ]),
    ).toThrow('pad: 3 widths for shape [1,2]');
    expect(() => ops.slice(x, [0, 0, 0])).toThrow('slice: 3 starts for shape [1,2]');
    expect(() => ops.concat([], 0)).toThrow('concat: no tensors');
    expect(() => ops.gather(x, tensor([-1], i32))).toThrow('gather: id -1 at index 0 out of range [0, 1)');
    expect(() => ops.transpose(tensor([1, 2]))).toThrow('transpose: axis -2 out of range for shape [2]');
  });
});
