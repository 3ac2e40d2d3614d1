/**
 * Laws of the autodiff itself (src/autodiff/grad.ts): gradients come back with exactly the
 * structure of the parameters; unused parameters get zeros; fan-out accumulates; calls never see
 * each other; deep chains do not overflow the stack; `stopGradient` blocks exactly the gradient
 * through it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { grad, stopGradient, valueAndGrad, valueAndGradWithAux, vjp } from '../src/autodiff/grad.js';
import { treeLeaves } from '../src/tensor/tree.js';
import * as ops from '../src/ops/index.js';
import { shapeStr } from '../src/core/shape.js';
import { Tensor, full, item, scalar, tensor, toArray } from '../src/tensor/tensor.js';
import { bytesOf, prng, randomTensor, shapeArb, tensorArb } from './arbitraries.js';
import { expectAllClose } from './assert.js';

// ---------------------------------------------------------------------------------------------
// Random parameter trees: nested records and arrays of tensors, with non-tensor leaves mixed in

type Tree = Tensor | number | string | null | readonly Tree[] | { readonly [k: string]: Tree };

const leafArb: fc.Arbitrary<Tree> = fc.oneof(
  { arbitrary: shapeArb({ maxRank: 2, maxDim: 3 }).chain((s) => tensorArb(s)), weight: 4 },
  {
    arbitrary: shapeArb({ maxRank: 2, maxDim: 3 }).chain((s) => tensorArb(s).map((t) => ops.cast(t, 'float32'))),
    weight: 2,
  },
  { arbitrary: fc.oneof(fc.integer(), fc.constant('name'), fc.constant(null)), weight: 1 },
);

const { tree: treeArb } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.array(tie('tree'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom('w', 'b', 'embed', 'layers', 'q', 'x_1'), tie('tree'), { maxKeys: 3 }),
  ),
}));

/** Throws at the first place where `g` does not have `p`'s structure (tensors: same shape and dtype). */
const expectSameStructure = (p: unknown, g: unknown, path = '(root)'): void => {
  if (p instanceof Tensor) {
    if (!(g instanceof Tensor)) throw new Error(`${path}: gradient is not a tensor`);
    if (shapeStr(g.shape) !== shapeStr(p.shape) || g.dtype !== p.dtype) {
      throw new Error(
        `${path}: gradient ${g.dtype} ${shapeStr(g.shape)} for a parameter ${p.dtype} ${shapeStr(p.shape)}`,
      );
    }
  } else if (Array.isArray(p)) {
    if (!Array.isArray(g) || g.length !== p.length) throw new Error(`${path}: gradient is not an array of ${p.length}`);
    p.forEach((v, i) => expectSameStructure(v, g[i], `${path}.${i}`));
  } else if (typeof p === 'object' && p !== null) {
    if (typeof g !== 'object' || g === null || Array.isArray(g) || g instanceof Tensor) {
      throw new Error(`${path}: gradient is not a record`);
    }
    expect(Object.keys(g)).toEqual(Object.keys(p));
    for (const [k, v] of Object.entries(p)) expectSameStructure(v, (g as Record<string, unknown>)[k], `${path}.${k}`);
  } else if (!Object.is(p, g)) {
    throw new Error(`${path}: non-tensor leaf ${String(p)} came back as ${String(g)}`);
  }
};

/** Σ over the used leaves i of (i + 1)·Σ leaf: the gradient of leaf i is (i + 1) if used, else 0. */
const weightedSum =
  (used: readonly boolean[]) =>
  (params: Tree): Tensor => {
    let acc = scalar(0, { dtype: 'float64' });
    treeLeaves(params).forEach(([, t], i) => {
      if (used[i % used.length]) acc = ops.add(acc, ops.cast(ops.sumAll(ops.mul(t, i + 1)), 'float64'));
    });
    return acc;
  };

describe('gradient trees', () => {
  it('have exactly the structure of params; unused params get zeros', () => {
    fc.assert(
      fc.property(treeArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (params, used) => {
        const { grad: g } = valueAndGrad(weightedSum(used))(params);
        expectSameStructure(params, g);
        const leaves = treeLeaves(g);
        leaves.forEach(([path, t], i) => {
          const want = used[i % used.length] ? i + 1 : 0;
          expectAllClose('valueAndGrad', `leaf ${path}`, t, full(t.shape, want, { dtype: t.dtype }));
        });
      }),
      { numRuns: 150 },
    );
  });

  it('an unused param of any dtype gets zeros of its own shape and dtype', () => {
    const params = {
      used: tensor([1, 2]),
      unused: tensor([[1, 2, 3]], { dtype: 'float64' }),
      ids: tensor([3], { dtype: 'int32' }),
    };
    const { grad: g } = valueAndGrad((p: typeof params) => ops.sumAll(p.used))(params);
    expect(toArray(g.used)).toEqual([1, 1]);
    expect(g.unused.dtype).toBe('float64');
    expect(g.unused.shape).toEqual([1, 3]);
    expect(toArray(g.unused)).toEqual([0, 0, 0]);
    expect(g.ids.dtype).toBe('int32');
    expect(toArray(g.ids)).toEqual([0]);
  });

  it('gradients carry no autodiff history and do not alias the params', () => {
    const p = { w: tensor([1, 2, 3]) };
    const { value, grad: g } = valueAndGrad((q: typeof p) => ops.sumAll(q.w))(p);
    expect(value.node).toBeNull();
    expect(g.w.node).toBeNull();
    expect(p.w.node).toBeNull();
  });
});

describe('fan-out', () => {
  it('accumulates: a param used n times with weights c_k gets Σ c_k', () => {
    fc.assert(
      fc.property(
        shapeArb({ maxRank: 3 }).chain((s) => tensorArb(s)),
        fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 1, maxLength: 6 }),
        (x, cs) => {
          const f = (p: Tensor): Tensor =>
            cs.reduce((acc, c) => ops.add(acc, ops.sumAll(ops.mul(p, c))), scalar(0, { dtype: 'float64' }));
          const g = grad(f)(x);
          const total = cs.reduce((a, b) => a + b, 0);
          expectAllClose(
            'fan-out',
            `${shapeStr(x.shape)} weights ${cs}`,
            g,
            full(x.shape, total, { dtype: 'float64' }),
          );
        },
      ),
    );
  });

  it('x·x has gradient 2x; x·x·x has 3x²', () => {
    fc.assert(
      fc.property(
        shapeArb({ maxRank: 3 }).chain((s) => tensorArb(s)),
        (x) => {
          const g2 = grad((p: Tensor) => ops.sumAll(ops.mul(p, p)))(x);
          expectAllClose('x·x', shapeStr(x.shape), g2, ops.mul(x, 2), { rtol: 1e-15, atol: 0 });
          const g3 = grad((p: Tensor) => ops.sumAll(ops.mul(ops.mul(p, p), p)))(x);
          expectAllClose('x·x·x', shapeStr(x.shape), g3, ops.mul(ops.mul(x, x), 3), { rtol: 1e-14, atol: 1e-300 });
        },
      ),
    );
  });

  it('a diamond (two paths that meet again) adds both paths', () => {
    const x = tensor([0.5, -1.5], { dtype: 'float64' });
    // y = exp(x) + sin(x), then z = y·y: dz/dx = 2y·(exp(x) + cos(x)).
    const g = grad((p: Tensor) => {
      const y = ops.add(ops.exp(p), ops.sin(p));
      return ops.sumAll(ops.mul(y, y));
    })(x);
    const want = toArray(x).map((v) => 2 * (Math.exp(v) + Math.sin(v)) * (Math.exp(v) + Math.cos(v)));
    toArray(g).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
  });
});

describe('independent and nested calls do not interfere', () => {
  const loss = (p: { w: Tensor; b: Tensor }, x: Tensor): Tensor =>
    ops.sumAll(ops.mul(ops.add(ops.matmul(x, p.w), p.b), ops.add(ops.matmul(x, p.w), p.b)));

  it('the same call gives the same result before and after other calls', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (s1, s2) => {
        const mk = (s: number) => {
          const r = prng(s);
          return { w: randomTensor(r, [3, 2], 'float64'), b: randomTensor(r, [2], 'float64') };
        };
        const x = randomTensor(prng(7), [4, 3], 'float64');
        const [p1, p2] = [mk(s1), mk(s2)];
        const a = valueAndGrad(loss)(p1, x);
        valueAndGrad(loss)(p2, x);
        const c = valueAndGrad(loss)(p1, x);
        expect(bytesOf(c.value)).toEqual(bytesOf(a.value));
        expect(bytesOf(c.grad.w)).toEqual(bytesOf(a.grad.w));
        expect(bytesOf(c.grad.b)).toEqual(bytesOf(a.grad.b));
      }),
      { numRuns: 30 },
    );
  });

  it('a valueAndGrad inside f is invisible to the outer one (its results are constants)', () => {
    fc.assert(
      fc.property(
        shapeArb({ maxRank: 2 }).chain((s) => tensorArb(s)),
        (w) => {
          let inner: Tensor | undefined;
          const outer = valueAndGrad((p: Tensor) => {
            // d/dq Σ q·p² = p² (constant for the outer call), and the outer loss is Σ p·p² read through it.
            inner = grad((q: Tensor) => ops.sumAll(ops.mul(q, ops.mul(p, p))))(p);
            // A second, unrelated inner call on the outer's traced value: d/dq Σ q² = 2q.
            const inner2 = grad((q: Tensor) => ops.sumAll(ops.mul(q, q)))(p);
            expectAllClose('inner valueAndGrad', shapeStr(w.shape), inner2, ops.mul(w, 2));
            return ops.add(ops.sumAll(ops.mul(p, inner)), ops.sumAll(ops.mul(p, p)));
          })(w);
          expectAllClose('inner valueAndGrad', shapeStr(w.shape), inner!, ops.mul(w, w));
          expect(inner!.node).toBeNull();
          // d/dp [Σ p·c + Σ p²] with c = p² held constant: c + 2p.
          expectAllClose('outer valueAndGrad', shapeStr(w.shape), outer.grad, ops.add(ops.mul(w, w), ops.mul(w, 2)), {
            rtol: 1e-15,
            atol: 0,
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('args after params are constants', () => {
    const p = tensor([2, 3], { dtype: 'float64' });
    const c = tensor([5, 7], { dtype: 'float64' });
    const g = grad((q: Tensor, k: Tensor) => ops.sumAll(ops.mul(q, k)))(p, c);
    expect(toArray(g)).toEqual([5, 7]);
  });
});

describe('deep chains', () => {
  it('5 000 sequential adds do not overflow the stack', () => {
    const x = tensor([1, 2], { dtype: 'float64' });
    const f = (p: Tensor): Tensor => {
      let y = p;
      for (let i = 0; i < 5000; i++) y = ops.add(y, p);
      return ops.sumAll(y);
    };
    const { value, grad: g } = valueAndGrad(f)(x);
    expect(item(value)).toBe(3 * 5001);
    expect(toArray(g)).toEqual([5001, 5001]);
  });

  it('a 20 000-op chain through several primitives', () => {
    const x = tensor([0.5], { dtype: 'float64' });
    const g = grad((p: Tensor) => {
      let y = p;
      for (let i = 0; i < 5000; i++) y = ops.reshape(ops.neg(ops.mul(ops.reshape(y, [1, 1]), 1)), [1]);
      return ops.sumAll(y);
    })(x);
    expect(toArray(g)).toEqual([1]); // (−1)^5000
  });
});

describe('stopGradient blocks exactly the gradient through it', () => {
  it('x·sg(x) has gradient sg(x) = x, not 2x', () => {
    fc.assert(
      fc.property(
        shapeArb({ maxRank: 3 }).chain((s) => tensorArb(s)),
        (x) => {
          const g = grad((p: Tensor) => ops.sumAll(ops.mul(p, stopGradient(p))))(x);
          expectAllClose('x·sg(x)', shapeStr(x.shape), g, x);
        },
      ),
    );
  });

  it('g(x) + sg(h(x)) has the gradient of g alone, and x·sg(x) + x has x + 1', () => {
    fc.assert(
      fc.property(
        shapeArb({ maxRank: 3 }).chain((s) => tensorArb(s)),
        (x) => {
          const g1 = grad((p: Tensor) => ops.sumAll(ops.add(ops.sin(p), stopGradient(ops.exp(p)))))(x);
          expectAllClose('sin(x) + sg(exp(x))', shapeStr(x.shape), g1, ops.cos(x));
          const g2 = grad((p: Tensor) => ops.sumAll(ops.add(ops.mul(p, stopGradient(p)), p)))(x);
          expectAllClose('x·sg(x) + x', shapeStr(x.shape), g2, ops.add(x, 1));
        },
      ),
    );
  });

  it('in a vjp: Jᵀ·dy of x·sg(x) is dy·x', () => {
    fc.assert(
      fc.property(
        shapeArb({ maxRank: 3 }).chain((s) => tensorArb(s)),
        fc.integer(),
        (x, seed) => {
          const dy = randomTensor(prng(seed), x.shape, 'float64');
          const { grad: g } = vjp((p: Tensor) => ops.mul(p, stopGradient(p)), x, dy);
          expectAllClose('vjp x·sg(x)', shapeStr(x.shape), g, ops.mul(dy, x));
        },
      ),
    );
  });

  it('on trees: same structure and values, no history; non-tensor leaves pass through', () => {
    fc.assert(
      fc.property(treeArb, (params) => {
        const r = valueAndGradWithAux((p: Tree) => {
          const sg = stopGradient(p);
          expectSameStructure(p, sg);
          const before = treeLeaves(p);
          treeLeaves(sg).forEach(([path, t], i) => {
            expect(t.node, path).toBeNull();
            expect(bytesOf(t)).toEqual(bytesOf(before[i]![1]));
          });
          // Only the stopped copy is used: every gradient is zero.
          return [weightedSum([true])(sg), sg] as const;
        })(params);
        treeLeaves(r.grad).forEach(([path, t]) =>
          expect(
            Array.from(t.data).every((v) => v === 0),
            path,
          ).toBe(true),
        );
        treeLeaves(r.aux).forEach(([path, t]) => expect(t.node, path).toBeNull());
      }),
      { numRuns: 50 },
    );
  });

  it('returns an untraced tensor unchanged', () => {
    const x = tensor([1, 2]);
    expect(stopGradient(x)).toBe(x);
  });
});

describe('API edges', () => {
  it('valueAndGrad needs a one-element result', () => {
    expect(() => valueAndGrad((p: Tensor) => ops.mul(p, 2))(tensor([1, 2]))).toThrow(
      'valueAndGrad: f must return a tensor with one value, got [2]',
    );
  });

  it('a [1,1] result is a valid loss', () => {
    const g = grad((p: Tensor) => ops.reshape(ops.sumAll(ops.mul(p, 3)), [1, 1]))(tensor([1, 2]));
    expect(toArray(g)).toEqual([3, 3]);
  });

  it('f = identity on a one-element param gives gradient 1 with the param shape', () => {
    const g = grad((p: Tensor) => p)(tensor([[4]]));
    expect(g.shape).toEqual([1, 1]);
    expect(toArray(g)).toEqual([1]);
  });

  it('valueAndGradWithAux returns the aux detached', () => {
    const r = valueAndGradWithAux((p: Tensor) => [ops.sumAll(p), { doubled: ops.mul(p, 2) }] as const)(tensor([1, 2]));
    expect(r.aux.doubled.node).toBeNull();
    expect(toArray(r.aux.doubled)).toEqual([2, 4]);
    expect(toArray(r.grad)).toEqual([1, 1]);
  });

  it('vjp rejects a cotangent of the wrong dtype, naming both', () => {
    expect(() => vjp((p: Tensor) => ops.exp(p), tensor([1]), tensor([1], { dtype: 'float64' }))).toThrow(
      'vjp: cotangent float64 [1] does not match output float32 [1]',
    );
  });

  it('an op whose VJP returns a cotangent of the wrong size is a programmer error naming the op and both shapes', () => {
    const faulty = (p: Tensor): Tensor => {
      const out = ops.sumAll(p);
      return new Tensor(out.shape, out.dtype, out.data, out.backend, {
        op: 'faultyOp',
        inputs: [p],
        vjp: () => [full([5], 1)],
      });
    };
    expect(() => grad(faulty)(tensor([1, 2, 3]))).toThrow(
      'faultyOp: VJP returned a cotangent of shape [5] for an input of shape [3]',
    );
  });

  it('vjp rejects a cotangent of the wrong size', () => {
    expect(() => vjp((p: Tensor) => ops.mul(p, 2), tensor([1, 2]), tensor([1, 2, 3]))).toThrow(
      'vjp: cotangent float32 [3] does not match output float32 [2]',
    );
  });
});
