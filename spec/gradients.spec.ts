/**
 * The gradient law, for every primitive, every fused op and every composite:
 *
 *   ⟨dy, J·t⟩ = ⟨Jᵀ·dy, t⟩
 *
 * with Jᵀ·dy from `vjp` (src/autodiff/grad.ts) and J·t by central differences (the five-point
 * stencil, error O(h⁴)), in float64, relative error ≤ 1e-6 against the size of the terms summed.
 * Inputs, tangents t and cotangents dy are random; shapes include broadcasting and size-1 axes.
 * On failure the message names the op, its shapes, both sides, and the first input element whose
 * own derivative is off.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vjp } from '../src/autodiff/grad.js';
import { cast } from '../src/ops/index.js';
import { fusedNames } from '../src/ops/fused.js';
import { primitiveNames } from '../src/ops/primitives.js';
import { type Tensor, tensor } from '../src/tensor/tensor.js';
import { prng, randomTensor } from './arbitraries.js';
import { indexStr } from './assert.js';
import { type OpCase, type OpInstance, compositeNames, differentiable, nonDifferentiable } from './catalogue.js';

const RTOL = 1e-6;
const H = 1e-3;
const RUNS = 300;

/** x + s·t, elementwise, in x's dtype. */
const shifted = (x: Tensor, t: Tensor, s: number): Tensor =>
  tensor(
    Float64Array.from(x.data, (v, i) => v + s * t.data[i]!),
    x.shape,
    { dtype: x.dtype },
  );

/** J·t at `inputs` by the five-point central difference, as float64 values of the output. */
const jvpNumeric = (
  f: OpInstance['f'],
  inputs: readonly Tensor[],
  tangents: readonly Tensor[],
  h: number,
): Float64Array => {
  const at = (s: number): ArrayLike<number> => f(inputs.map((x, k) => shifted(x, tangents[k]!, s * h))).data;
  const [p1, m1, p2, m2] = [at(1), at(-1), at(2), at(-2)];
  return Float64Array.from(p1, (_, i) => (8 * (p1[i]! - m1[i]!) - (p2[i]! - m2[i]!)) / (12 * h));
};

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): { value: number; scale: number } => {
  let value = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    value += a[i]! * b[i]!;
    scale += Math.abs(a[i]! * b[i]!);
  }
  return { value, scale };
};

/** The first input element whose numeric ⟨dy, J·e⟩ disagrees with (Jᵀ·dy)[e]: the message's index. */
const firstOffender = (inst: OpInstance, dy: Tensor, grads: readonly Tensor[], h: number): string => {
  for (let k = 0; k < inst.inputs.length; k++) {
    const x = inst.inputs[k]!;
    for (let j = 0; j < x.size; j++) {
      const tangents = inst.inputs.map((y, q) => {
        const e = new Float64Array(y.size);
        if (q === k) e[j] = 1;
        return tensor(e, y.shape, { dtype: y.dtype });
      });
      const numeric = dot(dy.data, jvpNumeric(inst.f, inst.inputs, tangents, h)).value;
      const analytic = grads[k]!.data[j]!;
      if (!(Math.abs(numeric - analytic) <= RTOL * Math.max(Math.abs(numeric), Math.abs(analytic), 1e-3))) {
        return `input ${k} at ${indexStr(j, x.shape)}: vjp gives ${analytic}, central differences ${numeric}`;
      }
    }
  }
  return 'no single element is off (the error is spread over many)';
};

const checkGradientLaw = (c: OpCase, inst: OpInstance, seed: number): void => {
  const rand = prng(seed);
  const h = inst.fd?.h ?? H;
  const grid = inst.fd?.grid;
  const y = inst.f(inst.inputs);
  const dy = randomTensor(rand, y.shape, y.dtype, grid);
  const tangents = inst.inputs.map((x) => randomTensor(rand, x.shape, x.dtype, grid));

  const { value, grad } = vjp((xs: readonly Tensor[]) => inst.f(xs), inst.inputs, dy);
  const where = `${c.name} ${inst.context}`;
  grad.forEach((g, k) => {
    const x = inst.inputs[k]!;
    if (g.dtype !== x.dtype || g.shape.length !== x.shape.length || g.shape.some((d, i) => d !== x.shape[i])) {
      throw new Error(`${where}: gradient ${k} is ${g.dtype} [${g.shape}], input is ${x.dtype} [${x.shape}]`);
    }
  });
  if (value.shape.join() !== y.shape.join())
    throw new Error(`${where}: vjp value shape [${value.shape}] ≠ [${y.shape}]`);

  const lhs = dot(dy.data, jvpNumeric(inst.f, inst.inputs, tangents, h));
  const rhs = inst.inputs.reduce(
    (acc, _, k) => {
      const d = dot(grad[k]!.data, tangents[k]!.data);
      return { value: acc.value + d.value, scale: acc.scale + d.scale };
    },
    { value: 0, scale: 0 },
  );
  // Relative to the size of the terms summed, plus the rounding floor of the two sides: the
  // stencil's cancellation (~ε·|f|/h per output) and the VJP's (~ε per unit of |dy|·|t|).
  const scale = Math.max(lhs.scale, rhs.scale);
  const tMax = Math.max(0, ...tangents.flatMap((t) => Array.from(t.data, Math.abs)));
  const floor =
    (10 * Number.EPSILON * dot(dy.data, Array.from(y.data, Math.abs)).scale) / h +
    1e-13 * tMax * dot(dy.data, new Float64Array(dy.size).fill(1)).scale +
    1e-300;
  const diff = Math.abs(lhs.value - rhs.value);
  if (!(diff <= RTOL * scale + floor)) {
    const err = diff / scale;
    throw new Error(
      `${where}: ⟨dy, J·t⟩ = ${lhs.value} but ⟨Jᵀ·dy, t⟩ = ${rhs.value} (relative error ${err} > ${RTOL}); ` +
        firstOffender(inst, dy, grad, h),
    );
  }
};

describe('gradient law ⟨dy, J·t⟩ = ⟨Jᵀ·dy, t⟩ (float64, central differences)', () => {
  it('covers every primitive, every fused op and every named composite', () => {
    const covered = new Set([...differentiable, ...nonDifferentiable].flatMap((c) => c.covers));
    expect(primitiveNames.filter((p) => !covered.has(p))).toEqual([]);
    expect(fusedNames.filter((p) => !covered.has(p))).toEqual([]);
    // The closed set is closed: no fused op is listed among the primitives.
    expect(fusedNames.filter((p) => primitiveNames.includes(p))).toEqual([]);
    const names = new Set(differentiable.map((c) => c.name));
    expect(compositeNames.filter((n) => !names.has(n))).toEqual([]);
  });

  it.each(differentiable.map((c) => [c.name, c] as const))('%s', (_, c) => {
    fc.assert(
      fc.property(c.arb, fc.integer(), (inst, seed) => checkGradientLaw(c, inst, seed)),
      { numRuns: RUNS },
    );
  });
});

describe('non-differentiable ops give zero gradients', () => {
  it.each(nonDifferentiable.map((c) => [c.name, c] as const))('%s', (_, c) => {
    fc.assert(
      fc.property(c.arb, fc.integer(), (inst, seed) => {
        const y = inst.f(inst.inputs);
        // A random cotangent of the output's dtype (small integers for int32 outputs).
        const r = randomTensor(prng(seed), y.shape, 'float64');
        const dy =
          y.dtype === 'int32'
            ? tensor(
                Int32Array.from(r.data, (v) => Math.round(3 * v)),
                y.shape,
              )
            : cast(r, y.dtype);
        const { grad } = vjp((xs: readonly Tensor[]) => inst.f(xs), inst.inputs, dy);
        grad.forEach((g, k) => {
          const i = Array.from(g.data).findIndex((v) => !Object.is(v, 0));
          if (i >= 0) {
            throw new Error(
              `${c.name} ${inst.context}: gradient ${k} is ${g.data[i]} at ${indexStr(i, g.shape)}, expected 0`,
            );
          }
        });
      }),
      { numRuns: 30 },
    );
  });
});
