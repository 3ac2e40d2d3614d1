/**
 * The catalogue of op instances the laws run over: every primitive, every fused op (src/ops/fused.ts)
 * with the composite it equals, and every composite, each with a
 * generator of random inputs (shapes with broadcasting and size-1 axes, values away from kinks, and
 * the static arguments: axes, permutations, boxes, ids, labels).
 *
 * An instance is a function of its float inputs only; ids, labels and masks are constants closed
 * over (and listed in `consts` so the purity law can watch them too). The same `f` runs on float64
 * inputs (gradient law) and on float32 inputs (precision law).
 */
import fc from 'fast-check';
import * as ops from '../src/ops/index.js';
import type { DType } from '../src/core/dtype.js';
import { shapeStr } from '../src/core/shape.js';
import { type Tensor, format, tensor } from '../src/tensor/tensor.js';
import {
  type Domain,
  axisArb,
  broadcastPairArb,
  broadcastTripleArb,
  broadcastableTo,
  intTensorArb,
  minGapAlong,
  permArb,
  shapeArb,
  tensorArb,
} from './arbitraries.js';

export interface OpInstance {
  /** The float inputs (float64), the ones that are differentiated. */
  readonly inputs: readonly Tensor[];
  /** Tensors the op reads but that are never differentiated (ids, labels, masks). */
  readonly consts: readonly Tensor[];
  /** The op applied to (inputs of either float dtype), with static arguments closed over. */
  readonly f: (xs: readonly Tensor[]) => Tensor;
  /** Shapes and static arguments, for failure messages. */
  readonly context: string;
  /** Central-difference step and tangent grid, where the defaults do not fit (cast). */
  readonly fd?: { readonly h: number; readonly grid: number };
  /** Output dtype for float32 inputs (default float32). */
  readonly outDtype32?: DType;
}

export interface OpCase {
  /** The op as a user calls it, with the form where it has several (matmulT ᵀ@). */
  readonly name: string;
  /** The primitives and fused ops this case exercises directly (for the coverage checks). */
  readonly covers: readonly string[];
  readonly arb: fc.Arbitrary<OpInstance>;
}

const shapes = (...ts: readonly Tensor[]): string => ts.map((t) => shapeStr(t.shape)).join(' · ');

const instance = (
  inputs: readonly Tensor[],
  f: (xs: readonly Tensor[]) => Tensor,
  extra = '',
  more: Partial<OpInstance> = {},
): OpInstance => {
  const context = `${shapes(...inputs, ...(more.consts ?? []))}${extra ? ` ${extra}` : ''}`;
  // fast-check prints a counterexample with this: the shapes, static arguments and values.
  const inst: OpInstance = { inputs, consts: [], f, context, ...more };
  return Object.assign(inst, {
    [fc.toStringMethod]: () =>
      `${context}: ${[...inputs, ...(more.consts ?? [])].map((t) => format(t, 64)).join(', ')}`,
  });
};

const minAbs = (t: Tensor): number => Math.min(Infinity, ...Array.from(t.data, Math.abs));

/** Kinks (max ties, maximum/minimum ties) stay this far apart; the stencil moves values ≤ 2e-3. */
const GAP = 0.01;

// ---------------------------------------------------------------------------------------------
// Element-wise

const unary = (name: string, op: (x: Tensor) => Tensor, domain: Domain): OpCase => ({
  name,
  covers: [name],
  arb: shapeArb({ maxRank: 4 })
    .chain((s) => tensorArb(s, domain))
    .map((x) => instance([x], ([a]) => op(a!))),
});

const binary = (name: string, op: (a: Tensor, b: Tensor) => Tensor, da: Domain, db: Domain, gap = false): OpCase => ({
  name,
  covers: [name],
  arb: broadcastPairArb()
    .chain(([sa, sb]) => fc.tuple(tensorArb(sa, da), tensorArb(sb, db)))
    .filter(([a, b]) => !gap || minAbs(ops.sub(a, b)) >= GAP)
    .map(([a, b]) => instance([a, b], ([x, y]) => op(x!, y!))),
});

const elementwise: OpCase[] = [
  unary('neg', ops.neg, 'real'),
  unary('exp', ops.exp, 'real'),
  unary('log', ops.log, 'positive'),
  unary('sqrt', ops.sqrt, 'positive'),
  unary('rsqrt', ops.rsqrt, 'positive'),
  unary('sigmoid', ops.sigmoid, 'real'),
  unary('silu', ops.silu, 'real'),
  unary('abs', ops.abs, 'nonzero'),
  unary('sin', ops.sin, 'real'),
  unary('cos', ops.cos, 'real'),
  binary('add', ops.add, 'real', 'real'),
  binary('sub', ops.sub, 'real', 'real'),
  binary('mul', ops.mul, 'real', 'real'),
  binary('div', ops.div, 'real', 'nonzero'),
  binary('maximum', ops.maximum, 'real', 'real', true),
  binary('minimum', ops.minimum, 'real', 'real', true),
  binary('atan2', ops.atan2, 'nonzero', 'nonzero'),
  {
    name: 'where',
    covers: ['where'],
    arb: broadcastTripleArb()
      .chain(([sc, sa, sb]) => fc.tuple(intTensorArb(sc, 0, 1), tensorArb(sa), tensorArb(sb)))
      .map(([c, a, b]) => instance([a, b], ([x, y]) => ops.where(c, x!, y!), '', { consts: [c] })),
  },
  {
    // Values and tangents on a 1/16 grid: x ± h·t is exact in float32, so the differences are exact.
    name: 'cast',
    covers: ['cast'],
    arb: shapeArb({ maxRank: 3 })
      .chain((s) => intTensorArb(s, -32, 32))
      .map((q) =>
        instance(
          [
            tensor(
              Float64Array.from(q.data, (v) => v / 16),
              q.shape,
            ),
          ],
          ([x]) => ops.cast(x!, x!.dtype === 'float64' ? 'float32' : 'float64'),
          'float64 ↔ float32',
          { fd: { h: 1, grid: 16 }, outDtype32: 'float64' },
        ),
      ),
  },
];

// ---------------------------------------------------------------------------------------------
// Reductions and the composites over one axis

const alongAxis = (
  name: string,
  covers: readonly string[],
  op: (x: Tensor, axis: number, keepdims: boolean) => Tensor,
  domain: Domain,
  distinct = false,
): OpCase => ({
  name,
  covers,
  arb: shapeArb({ minRank: 1, maxRank: 3 })
    .chain((s) => fc.tuple(tensorArb(s, domain), axisArb(s.length), fc.boolean()))
    .filter(([x, axis]) => !distinct || minGapAlong(x, axis) >= GAP)
    .map(([x, axis, keep]) => instance([x], ([a]) => op(a!, axis, keep), `axis ${axis}${keep ? ' keepdims' : ''}`)),
});

const reductions: OpCase[] = [
  alongAxis('sum', ['sum'], ops.sum, 'real'),
  alongAxis('max', ['max'], ops.max, 'real', true),
  alongAxis('mean', [], ops.mean, 'real'),
  alongAxis('softmax', [], (x, axis) => ops.softmax(x, axis), 'real'),
  alongAxis('logSoftmax', [], (x, axis) => ops.logSoftmax(x, axis), 'real'),
  alongAxis('rmsNorm', [], (x, axis) => ops.rmsNorm(x, 1e-6, axis), 'nonzero'),
  alongAxis('logStablemax', [], (x, axis) => ops.logStablemax(x, axis), 'nonzero'),
  {
    name: 'sumAll',
    covers: [],
    arb: shapeArb({ maxRank: 4 })
      .chain((s) => tensorArb(s))
      .map((x) => instance([x], ([a]) => ops.sumAll(a!))),
  },
  {
    name: 'meanAll',
    covers: [],
    arb: shapeArb({ maxRank: 4 })
      .chain((s) => tensorArb(s))
      .map((x) => instance([x], ([a]) => ops.meanAll(a!))),
  },
  unary('square', ops.square, 'real'),
  unary('stablemaxS', ops.stablemaxS, 'nonzero'),
];

// ---------------------------------------------------------------------------------------------
// Losses

const labelled = (name: string, loss: (logits: Tensor, labels: Tensor) => Tensor, outDtype32: DType): OpCase => ({
  name,
  covers: [],
  arb: fc
    .tuple(shapeArb({ maxRank: 2 }), fc.integer({ min: 1, max: 5 }))
    .chain(([lead, classes]) => fc.tuple(tensorArb([...lead, classes], 'nonzero'), intTensorArb(lead, -1, classes - 1)))
    .map(([logits, raw]) => {
      // −1 stands for an ignored position (label −100).
      const labels = tensor(
        Int32Array.from(raw.data, (v) => (v < 0 ? -100 : v)),
        raw.shape,
      );
      return instance([logits], ([x]) => loss(x!, labels), `labels ${shapeStr(labels.shape)}`, {
        consts: [labels],
        outDtype32,
      });
    }),
});

const losses: OpCase[] = [
  labelled('stablemaxCrossEntropy', ops.stablemaxCrossEntropy, 'float64'),
  labelled('softmaxCrossEntropy', ops.softmaxCrossEntropy, 'float32'),
  {
    name: 'binaryCrossEntropyWithLogits',
    covers: [],
    arb: broadcastPairArb()
      .chain(([sx, sy]) => fc.tuple(tensorArb(sx, 'nonzero'), tensorArb(sy, 'unit')))
      .map(([x, y]) => instance([x, y], ([a, b]) => ops.binaryCrossEntropyWithLogits(a!, b!))),
  },
];

// ---------------------------------------------------------------------------------------------
// Matmul: the four transpose forms, batched, with broadcast batch axes; edges not multiples of 4

const matmulCase = (transA: boolean, transB: boolean, plain = false): OpCase => ({
  name: plain ? 'matmul' : `matmulT(${transA ? 'ᵀ' : ''}@${transB ? 'ᵀ' : ''})`,
  covers: ['matmul'],
  arb: fc
    .record({
      batch: broadcastPairArb({ maxRank: 2, maxDim: 3 }),
      m: fc.integer({ min: 1, max: 9 }),
      k: fc.integer({ min: 1, max: 9 }),
      n: fc.integer({ min: 1, max: 9 }),
    })
    .chain(({ batch: [ba, bb], m, k, n }) =>
      fc.tuple(tensorArb([...ba, ...(transA ? [k, m] : [m, k])]), tensorArb([...bb, ...(transB ? [n, k] : [k, n])])),
    )
    .map(([a, b]) => instance([a, b], ([x, y]) => (plain ? ops.matmul(x!, y!) : ops.matmulT(x!, y!, transA, transB)))),
});

const linalg: OpCase[] = [
  matmulCase(false, false, true),
  matmulCase(false, false),
  matmulCase(false, true),
  matmulCase(true, false),
  matmulCase(true, true),
];

// ---------------------------------------------------------------------------------------------
// Movement

const movement: OpCase[] = [
  {
    // A permutation of the dims with leading 1s added, and sometimes one −1 to infer.
    name: 'reshape',
    covers: ['reshape'],
    arb: shapeArb({ maxRank: 4 })
      .chain((s) => fc.tuple(tensorArb(s), permArb(s.length), fc.integer({ min: 0, max: 2 }), fc.option(fc.nat(7))))
      .map(([x, perm, ones, infer]) => {
        const target = [...new Array<number>(ones).fill(1), ...perm.map((p) => x.shape[p]!)];
        if (infer !== null && target.length > 0) target[infer % target.length] = -1;
        return instance([x], ([a]) => ops.reshape(a!, target), `→ ${shapeStr(target)}`);
      }),
  },
  {
    name: 'permute',
    covers: ['permute'],
    arb: shapeArb({ maxRank: 4 })
      .chain((s) => fc.tuple(tensorArb(s), permArb(s.length)))
      .map(([x, perm]) => instance([x], ([a]) => ops.permute(a!, perm), `perm [${perm.join(',')}]`)),
  },
  {
    name: 'transpose',
    covers: ['permute'],
    arb: shapeArb({ minRank: 2, maxRank: 4 })
      .chain((s) => fc.tuple(tensorArb(s), axisArb(s.length), axisArb(s.length)))
      .map(([x, i, j]) => instance([x], ([a]) => ops.transpose(a!, i, j), `axes ${i}, ${j}`)),
  },
  {
    name: 'broadcastTo',
    covers: ['broadcastTo'],
    arb: shapeArb({ maxRank: 4 })
      .chain((out) =>
        fc.tuple(
          broadcastableTo(out).chain((s) => tensorArb(s)),
          fc.constant(out),
        ),
      )
      .map(([x, out]) => instance([x], ([a]) => ops.broadcastTo(a!, out), `→ ${shapeStr(out)}`)),
  },
  {
    // Boxes [start, end) per axis, each bound sometimes written as a negative index.
    name: 'slice',
    covers: ['slice'],
    arb: shapeArb({ minRank: 1, maxRank: 3, maxDim: 5 })
      .chain((s) =>
        fc.tuple(
          tensorArb(s),
          fc.tuple(
            ...s.map((d) =>
              fc
                .tuple(fc.integer({ min: 0, max: d }), fc.integer({ min: 0, max: d }), fc.boolean(), fc.boolean())
                .map(([p, q, negS, negE]) => {
                  const [lo, hi] = p <= q ? [p, q] : [q, p];
                  return [negS && lo > 0 ? lo - d : lo, negE && hi < d ? hi - d : hi] as const;
                }),
            ),
          ),
        ),
      )
      .map(([x, box]) => {
        const starts = box.map(([lo]) => lo);
        const ends = box.map(([, hi]) => hi);
        return instance([x], ([a]) => ops.slice(a!, starts, ends), `[${box.map(([l, h]) => `${l}:${h}`).join(', ')}]`);
      }),
  },
  {
    name: 'pad',
    covers: ['pad'],
    arb: shapeArb({ maxRank: 3 })
      .chain((s) =>
        fc.tuple(
          tensorArb(s),
          fc.tuple(...s.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })))),
          fc.double({ min: -2, max: 2, noNaN: true }),
        ),
      )
      .map(([x, widths, value]) =>
        instance([x], ([a]) => ops.pad(a!, widths, value), `widths ${JSON.stringify(widths)} value ${value}`),
      ),
  },
  {
    name: 'concat',
    covers: ['concat'],
    arb: shapeArb({ minRank: 1, maxRank: 3 })
      .chain((s) =>
        fc.tuple(
          fc.constant(s),
          axisArb(s.length),
          fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        ),
      )
      .chain(([s, axis, lens]) => {
        const ax = axis < 0 ? axis + s.length : axis;
        return fc.tuple(
          fc.tuple(...lens.map((l) => tensorArb(s.map((d, i) => (i === ax ? l : d))))),
          fc.constant(axis),
        );
      })
      .map(([parts, axis]) => instance(parts, (xs) => ops.concat(xs, axis), `axis ${axis}`)),
  },
];

// ---------------------------------------------------------------------------------------------
// Indexing: ids repeat often, so the scatter-add accumulates

const indexed = (name: 'gather' | 'scatterAdd'): OpCase => ({
  name,
  covers: [name],
  arb: fc
    .record({ rows: fc.integer({ min: 1, max: 5 }), tail: shapeArb({ maxRank: 2 }), idShape: shapeArb({ maxRank: 2 }) })
    .chain(({ rows, tail, idShape }) =>
      fc.tuple(
        fc.constant(rows),
        intTensorArb(idShape, 0, rows - 1),
        tensorArb(name === 'gather' ? [rows, ...tail] : [...idShape, ...tail]),
      ),
    )
    .map(([rows, ids, x]) =>
      instance(
        [x],
        ([a]) => (name === 'gather' ? ops.gather(a!, ids) : ops.scatterAdd(a!, ids, rows)),
        `ids [${Array.from(ids.data).join(',')}] rows ${rows}`,
        { consts: [ids] },
      ),
    ),
});

const indexing: OpCase[] = [indexed('gather'), indexed('scatterAdd')];

// ---------------------------------------------------------------------------------------------
// Fused ops (src/ops/fused.ts, outside the closed set of primitives), each beside the composite it
// equals: SwiGLU's gate [..., 2I] → [..., I] and its VJP (whose own VJP is composed)

/** A shape whose last axis is even (I = 0 … 3 halves). */
const gluShapeArb = shapeArb({ maxRank: 2 }).chain((lead) =>
  fc.integer({ min: 0, max: 3 }).map((i) => [...lead, 2 * i]),
);

const fused: OpCase[] = [
  {
    name: 'swigluGate',
    covers: ['swigluGate'],
    arb: gluShapeArb.chain((s) => tensorArb(s, 'nonzero')).map((h) => instance([h], ([x]) => ops.swigluGate(x!))),
  },
  {
    name: 'swigluGateComposite',
    covers: [],
    arb: gluShapeArb
      .chain((s) => tensorArb(s, 'nonzero'))
      .map((h) => instance([h], ([x]) => ops.swigluGateComposite(x!))),
  },
  {
    name: 'swigluGateGrad',
    covers: ['swigluGateGrad'],
    arb: gluShapeArb
      // Away from 0: at g = u = a = 0 every derivative vanishes and the stencil's O(h⁴) term is all there is.
      .chain((s) => fc.tuple(tensorArb([...s.slice(0, -1), s[s.length - 1]! / 2], 'nonzero'), tensorArb(s, 'nonzero')))
      .map(([g, h]) => instance([g, h], ([dy, x]) => ops.swigluGateGrad(dy!, x!))),
  },
];

/** RMS norm over the last axis (rank ≥ 1) with eps 1e-6 as in the model, and its VJP. */
const lastAxisShapeArb = shapeArb({ minRank: 1, maxRank: 3 });
fused.push(
  {
    name: 'rmsNormLast',
    covers: ['rmsNormLast'],
    arb: lastAxisShapeArb
      .chain((s) => tensorArb(s, 'nonzero'))
      .map((x) => instance([x], ([a]) => ops.rmsNormLast(a!, 1e-6))),
  },
  {
    name: 'rmsNormLastComposite',
    covers: [],
    arb: lastAxisShapeArb
      .chain((s) => tensorArb(s, 'nonzero'))
      .map((x) => instance([x], ([a]) => ops.rmsNormLastComposite(a!, 1e-6))),
  },
  {
    name: 'rmsNormLastGrad',
    covers: ['rmsNormLastGrad'],
    arb: lastAxisShapeArb
      .chain((s) => fc.tuple(tensorArb(s, 'nonzero'), tensorArb(s, 'nonzero')))
      // eps 0.1 here: for a row of one value and eps ≪ x², r·g − (r³/n)(g·x)·x cancels to ~eps/|x|³
      // and float64 cancellation noise (≈ 1e-6 relative) is all the law would measure.
      .map(([g, x]) => instance([g, x], ([dy, a]) => ops.rmsNormLastGrad(dy!, a!, 0.1), 'eps 0.1')),
  },
);

/** Every differentiable op: primitive, fused or composite. */
export const differentiable: readonly OpCase[] = [
  ...elementwise,
  ...reductions,
  ...losses,
  ...linalg,
  ...movement,
  ...indexing,
  ...fused,
];

// ---------------------------------------------------------------------------------------------
// Ops without a gradient: their inputs get zeros. Small integer values make ties (eq, argmax) common.

const smallInts = (s: readonly number[]): fc.Arbitrary<Tensor> =>
  intTensorArb(s, -2, 2).map((q) => tensor(Float64Array.from(q.data), q.shape));

const comparison = (name: string, op: (a: Tensor, b: Tensor) => Tensor): OpCase => ({
  name,
  covers: [name],
  arb: broadcastPairArb()
    .chain(([sa, sb]) => fc.tuple(smallInts(sa), smallInts(sb)))
    .map(([a, b]) => instance([a, b], ([x, y]) => op(x!, y!))),
});

export const nonDifferentiable: readonly OpCase[] = [
  comparison('eq', ops.eq),
  comparison('ne', ops.ne),
  comparison('lt', ops.lt),
  comparison('le', ops.le),
  comparison('gt', ops.gt),
  comparison('ge', ops.ge),
  {
    name: 'sign',
    covers: ['sign'],
    arb: shapeArb({ maxRank: 3 })
      .chain(smallInts)
      .map((x) => instance([x], ([a]) => ops.sign(a!))),
  },
  {
    name: 'argmax',
    covers: ['argmax'],
    arb: shapeArb({ minRank: 1, maxRank: 3 })
      .chain((s) => fc.tuple(smallInts(s), axisArb(s.length), fc.boolean()))
      .map(([x, axis, keep]) =>
        instance([x], ([a]) => ops.argmax(a!, axis, keep), `axis ${axis}`, { outDtype32: 'int32' }),
      ),
  },
  {
    name: 'cast→int32',
    covers: ['cast'],
    arb: shapeArb({ maxRank: 3 })
      .chain((s) => tensorArb(s))
      .map((x) => instance([x], ([a]) => ops.cast(a!, 'int32'), '', { outDtype32: 'int32' })),
  },
];

/** The composites the brief names; each must appear in `differentiable`. */
export const compositeNames: readonly string[] = [
  'mean',
  'softmax',
  'logSoftmax',
  'rmsNorm',
  'logStablemax',
  'stablemaxCrossEntropy',
  'softmaxCrossEntropy',
  'binaryCrossEntropyWithLogits',
  'swigluGateComposite',
  'rmsNormLastComposite',
];
