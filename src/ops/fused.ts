/**
 * Fused ops: single-kernel forms of composites, outside the closed set of primitives.
 *
 * Each fused op sits next to the composite it equals (up to float rounding): the composite is the
 * definition, built from primitives only; the fused op computes the same function with one backend
 * kernel each way and gives its VJP explicitly through `defineFused` (primitives.ts), as JAX's
 * `custom_vjp` does. The VJP of a fused op is itself a fused op (its kernel computes the whole
 * cotangent in one pass), whose own VJP is composed from primitives, so second derivatives work.
 * They exist for speed alone: the model calls the fused forms (swiglu.ts, rmsNorm in
 * composites.ts), and spec/fused.spec.ts holds each fused op to its composite, values and VJPs.
 */
import { vjp } from '../autodiff/grad.js';
import { sameShape, shapeStr } from '../core/shape.js';
import { type Tensor, storage } from '../tensor/tensor.js';
import { desc, make, requireFloat } from './internal.js';
import { add, concat, defineFused, div, mul, rsqrt, sigmoid, silu, slice, sub, sum } from './primitives.js';

// ---------------------------------------------------------------------------------------------
// SwiGLU's gate: silu(a)·u over the halves [a | u] of the last axis; [..., 2I] → [..., I].
// Fused into one pass over [a | u] (it and its VJP are the largest tensors of an MLP-t step;
// composed from slice, silu and mul they would cost six passes forward, more back).

/** Rows and half-width of SwiGLU's [a | u] input (last axis even). */
const swigluDims = (op: string, h: Tensor): { rows: number; inter: number } => {
  requireFloat(op, h);
  const last = h.shape.at(-1) ?? Number.NaN;
  if (!(last % 2 === 0))
    throw new Error(`${op}: the last axis must have even length [gate | up], got ${shapeStr(h.shape)}`);
  const inter = last / 2;
  // Stryker disable next-line ConditionalExpression: equivalent (an empty last axis has size 0, and 0/0 = NaN rows run no loop)
  return { rows: inter === 0 ? 0 : h.size / last, inter };
};

/** The definition of SwiGLU's gate: `mul(silu(a), u)` with a, u the halves of h's last axis. */
export const swigluGateComposite = (h: Tensor): Tensor => {
  const { inter } = swigluDims('swigluGateComposite', h);
  const lead = h.shape.slice(0, -1);
  // Stryker disable next-line ArrowFunction: equivalent (slice reads a missing start as 0)
  const zeros = lead.map(() => 0);
  // Stryker disable next-line ArrayDeclaration: equivalent (slice reads missing starts as 0)
  return mul(silu(slice(h, [...zeros, 0], [...lead, inter])), slice(h, [...zeros, inter]));
};

const swigluGateOp = defineFused<[Tensor], null>({
  name: 'swigluGate',
  forward: ([h]) => {
    const { rows, inter } = swigluDims('swigluGate', h);
    return make(h, [...h.shape.slice(0, -1), inter], h.backend.swiglu(storage(h), rows, inter));
  },
  vjp: (g, [h]) => [swigluGateGrad(g, h)],
});

const swigluGateGradOp = defineFused<[Tensor, Tensor], null>({
  name: 'swigluGateGrad',
  forward: ([g, h]) => {
    const { rows, inter } = swigluDims('swigluGateGrad', h);
    const want = [...h.shape.slice(0, -1), inter];
    if (!sameShape(g.shape, want) || g.dtype !== h.dtype) {
      throw new Error(
        `swigluGateGrad: cotangent ${desc(g)} does not match ${desc(h)} (expected ${h.dtype} ${shapeStr(want)})`,
      );
    }
    return make(h, h.shape, h.backend.swigluGrad(storage(g), storage(h), rows, inter));
  },
  // Second order, composed (never on a training path): with s = σ(a), d = silu′(a) = s(1 + a(1 − s))
  // and d′ = s(1 − s)(2 + a(1 − 2s)), the output [g·u·d | g·a·s] has, for a cotangent [ca | cu],
  // ∂g = ca·u·d + cu·a·s, ∂a = ca·g·u·d′ + cu·g·d, ∂u = ca·g·d.
  vjp: (c, [g, h]) => {
    const inter = g.shape[g.rank - 1]!;
    const lead = h.shape.slice(0, -1);
    // Stryker disable next-line ArrowFunction: equivalent (slice reads a missing start as 0)
    const zeros = lead.map(() => 0);
    const half = (t: Tensor, at: number): Tensor => slice(t, [...zeros, at], [...lead, at + inter]);
    const [a, u, ca, cu] = [half(h, 0), half(h, inter), half(c, 0), half(c, inter)];
    const s = sigmoid(a);
    const oneMinusS = sub(1, s);
    const d = mul(s, add(1, mul(a, oneMinusS)));
    const dd = mul(mul(s, oneMinusS), add(2, mul(a, sub(1, mul(s, 2)))));
    const gg = add(mul(ca, mul(u, d)), mul(cu, mul(a, s)));
    const ga = add(mul(ca, mul(g, mul(u, dd))), mul(cu, mul(g, d)));
    const gu = mul(ca, mul(g, d));
    return [gg, concat([ga, gu], -1)];
  },
});

/**
 * SwiGLU's gate: silu(a)·u for h = [a | u] split in halves along the last axis; [..., 2I] → [..., I].
 * One kernel each way; equal to `swigluGateComposite(h)` up to float rounding.
 */
export const swigluGate = (h: Tensor): Tensor => swigluGateOp.apply([h], null);

/** The VJP of swigluGate: the [..., 2I] cotangent of h for the [..., I] cotangent g. */
export const swigluGateGrad = (g: Tensor, h: Tensor): Tensor => swigluGateGradOp.apply([g, h], null);

// ---------------------------------------------------------------------------------------------
// RMS norm over the last axis, and its VJP (rmsNorm in composites.ts moves other axes there).
// y = x·r with r = (Σx²/n + eps)^(−1/2); ∂/∂x = r·g − (r³/n)·(Σ g·x)·x.

/** Rows and length of the last axis of a float tensor of rank ≥ 1. */
const lastAxisRows = (op: string, x: Tensor): { rows: number; n: number } => {
  requireFloat(op, x);
  if (x.rank === 0) throw new Error(`${op}: needs rank ≥ 1, got ${shapeStr(x.shape)}`);
  const n = x.shape[x.rank - 1]!;
  // Stryker disable next-line ConditionalExpression: equivalent (an empty last axis has size 0, and 0/0 = NaN rows run no loop)
  return { rows: n === 0 ? 0 : x.size / n, n };
};

/** The definition of rmsNormLast: x · rsqrt(Σx²/n + eps) over the last axis, from primitives. */
export const rmsNormLastComposite = (x: Tensor, eps: number): Tensor => {
  const { n } = lastAxisRows('rmsNormLastComposite', x);
  return mul(x, rsqrt(add(div(sum(mul(x, x), -1, true), n), eps)));
};

const rmsNormLastOp = defineFused<[Tensor], number>({
  name: 'rmsNormLast',
  forward: ([x], eps) => {
    const { rows, n } = lastAxisRows('rmsNormLast', x);
    return make(x, x.shape, x.backend.rmsNorm(storage(x), rows, n, eps));
  },
  vjp: (g, [x], _y, eps) => [rmsNormLastGrad(g, x, eps)],
});

const rmsNormLastGradOp = defineFused<[Tensor, Tensor], number>({
  name: 'rmsNormLastGrad',
  forward: ([g, x], eps) => {
    const { rows, n } = lastAxisRows('rmsNormLastGrad', x);
    if (!sameShape(g.shape, x.shape) || g.dtype !== x.dtype) {
      throw new Error(`rmsNormLastGrad: cotangent ${desc(g)} does not match ${desc(x)}`);
    }
    return make(x, x.shape, x.backend.rmsNormGrad(storage(g), storage(x), rows, n, eps));
  },
  // Second order (for the laws; never on a training path): the VJP of the same formula composed
  // from primitives, taken by the autodiff itself.
  vjp: (c, [g, x], _y, eps) => {
    const formula = ([gg, xx]: readonly [Tensor, Tensor]): Tensor => {
      const n = xx.shape[xx.rank - 1]!;
      const r = rsqrt(add(div(sum(mul(xx, xx), -1, true), n), eps));
      const coef = div(mul(mul(r, mul(r, r)), sum(mul(gg, xx), -1, true)), n);
      return sub(mul(r, gg), mul(coef, xx));
    };
    return vjp(formula, [g, x], c).grad;
  },
});

/**
 * x · (mean(x², last axis) + eps)^(−1/2): RMS norm without a gain over the last axis, one kernel each
 * way; equal to `rmsNormLastComposite(x, eps)` up to float rounding.
 */
export const rmsNormLast = (x: Tensor, eps: number): Tensor => rmsNormLastOp.apply([x], eps);

/** The VJP of rmsNormLast at x for the cotangent g. */
export const rmsNormLastGrad = (g: Tensor, x: Tensor, eps: number): Tensor => rmsNormLastGradOp.apply([g, x], eps);

/** The fused ops' names (outside `primitiveNames`), for the laws that must cover every op. */
export const fusedNames: readonly string[] = [swigluGateOp, swigluGateGradOp, rmsNormLastOp, rmsNormLastGradOp].map(
  (f) => f.name,
);
