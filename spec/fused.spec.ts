/**
 * The fused law: every fused op (src/ops/fused.ts) equals the composite it stands for,
 *
 *   fused(x) ≈ composite(x)   and   vjp(fused, x, dy) ≈ vjp(composite, x, dy),
 *
 * in float64 within a few units of float64 rounding and in float32 within a few units of float32
 * rounding, over random shapes (leading axes of rank 0–3, last axes 0 … 8) and values in [−8, 8]
 * (fast-check's double also draws 0, −0 and tiny values). Each element's tolerance is K units of
 * the dtype's rounding, relative to |expected| plus the size of the terms its row sums (cancellation
 * happens there, not in the op): for the values the row's largest output, for the VJPs a bound of
 * the terms the row's cotangent carries (per op, below); plus the smallest normal number, where
 * gradual underflow makes rounding absolute.
 *
 * The check is a function of the pair, not of the fused ops themselves, so the last block runs the
 * same check on deliberately wrong fused ops (forward or VJP off by a factor 1.001, defined through
 * the same `defineFused`) and requires it to fail.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detach, vjp } from '../src/autodiff/grad.js';
import type { DType } from '../src/core/dtype.js';
import { shapeStr } from '../src/core/shape.js';
import {
  cast,
  defineFused,
  fusedNames,
  mul,
  rmsNormLast,
  rmsNormLastComposite,
  rmsNormLastGrad,
  swigluGate,
  swigluGateComposite,
  swigluGateGrad,
} from '../src/ops/index.js';
import { type Tensor, format, tensor } from '../src/tensor/tensor.js';
import { prng, randomTensor, roundToFloat32, shapeArb } from './arbitraries.js';
import { indexStr } from './assert.js';

/** A fused op, the composite it must equal, random float64 inputs, and the scale of its VJP's terms. */
interface FusedPair {
  readonly name: string;
  readonly fused: (xs: readonly Tensor[]) => Tensor;
  readonly composite: (xs: readonly Tensor[]) => Tensor;
  readonly arb: fc.Arbitrary<readonly Tensor[]>;
  /**
   * For input k, per element: a bound of the magnitude of the terms whose sum is that element of
   * the VJP for cotangent dy (float64, computed from the inputs).
   */
  readonly gradScale: (xs: readonly Tensor[], dy: Tensor) => readonly Float64Array[];
}

/** Units of rounding per element (unit roundoff: 2⁻⁵³ for float64, 2⁻²⁴ for float32). */
const K = 16;
const unitRoundoff = (dtype: DType): number => (dtype === 'float64' ? 2 ** -53 : 2 ** -24);
/** The smallest normal number: below it (gradual underflow) rounding errors are absolute. */
const minNormal = (dtype: DType): number => (dtype === 'float64' ? 2 ** -1022 : 2 ** -126);

const lastDim = (t: Tensor): number => (t.rank === 0 ? 1 : t.shape[t.rank - 1]!);

/**
 * Per element of `x`, f of the row of `x` (last axis) and the matching row of `dy`, which has the
 * same number of rows (its last axis may differ).
 */
const perRow = (
  x: Tensor,
  dy: Tensor,
  f: (xRow: readonly number[], dyRow: readonly number[]) => number,
): Float64Array => {
  const n = lastDim(x);
  const m = lastDim(dy);
  const out = new Float64Array(x.size);
  const rows = n === 0 ? 0 : x.size / n;
  const row = (t: Tensor, r: number, len: number): number[] =>
    Array.from({ length: len }, (_, j) => t.data[r * len + j]!);
  for (let r = 0; r < rows; r++) out.fill(f(row(x, r, n), row(dy, r, m)), r * n, (r + 1) * n);
  return out;
};

const maxAbs = (xs: readonly number[]): number => Math.max(0, ...xs.map(Math.abs));

/** Per element, the largest |value| of its row. */
const rowMax = (t: Tensor): Float64Array => perRow(t, t, (row) => maxAbs(row));

/** Throws unless `actual` has `expected`'s shape and dtype and each element is within K units. */
const expectAgree = (where: string, what: string, actual: Tensor, expected: Tensor, scale: ArrayLike<number>): void => {
  if (actual.dtype !== expected.dtype || shapeStr(actual.shape) !== shapeStr(expected.shape)) {
    throw new Error(
      `${where}: ${what}: fused gives ${actual.dtype} ${shapeStr(actual.shape)}, composite ${expected.dtype} ${shapeStr(expected.shape)}`,
    );
  }
  const u = unitRoundoff(expected.dtype);
  const floor = minNormal(expected.dtype);
  for (let i = 0; i < expected.size; i++) {
    const [a, e] = [actual.data[i]!, expected.data[i]!];
    const tol = K * u * (Math.abs(e) + scale[i]!) + floor;
    if (!(Object.is(a, e) || Math.abs(a - e) <= tol)) {
      throw new Error(
        `${where}: ${what} differ at ${indexStr(i, expected.shape)}: fused ${a}, composite ${e} ` +
          `(|Δ| ${Math.abs(a - e)} = ${(Math.abs(a - e) / (u * (Math.abs(e) + scale[i]!))).toFixed(1)} units > ${K})`,
      );
    }
  }
};

/** The law for one pair at one draw: values and VJPs of fused and composite agree in `dtype`. */
const checkAgreement = (pair: FusedPair, inputs64: readonly Tensor[], dtype: DType, seed: number): void => {
  // Both precisions start from the same (float32-representable) values.
  const x64 = dtype === 'float32' ? inputs64.map(roundToFloat32) : inputs64;
  const xs = x64.map((x) => cast(x, dtype));
  const where = `${pair.name} ${dtype} ${xs.map((x) => shapeStr(x.shape)).join(' · ')}`;

  try {
    const yc = pair.composite(xs);
    expectAgree(where, 'values', pair.fused(xs), yc, rowMax(yc));

    const dy = cast(randomTensor(prng(seed), yc.shape, 'float64'), dtype);
    const fused = vjp(pair.fused, xs, dy);
    const composite = vjp(pair.composite, xs, dy);
    expectAgree(where, 'vjp values', fused.value, composite.value, rowMax(composite.value));
    const scales = pair.gradScale(x64, cast(dy, 'float64'));
    composite.grad.forEach((gc, k) => expectAgree(where, `cotangents of input ${k}`, fused.grad[k]!, gc, scales[k]!));
  } catch (e) {
    // fast-check prints the shrunk counterexample with this message: add the inputs' values.
    throw new Error(
      `${e instanceof Error ? e.message : String(e)}; inputs: ${xs.map((x) => format(x, 64)).join(', ')}`,
    );
  }
};

const valueArb = fc.double({ min: -8, max: 8, noNaN: true });

const tensorOf = (shape: readonly number[]): fc.Arbitrary<Tensor> => {
  const n = shape.reduce((a, b) => a * b, 1);
  return fc.array(valueArb, { minLength: n, maxLength: n }).map((vs) => tensor(Float64Array.from(vs), shape));
};

const leadArb = shapeArb({ maxRank: 3 });

/** Pairs whose fused op is given (the real ones, or the wrong ones of the last block). */
const swigluPair = (name: string, fused: (h: Tensor) => Tensor): FusedPair => ({
  name,
  fused: ([h]) => fused(h!),
  composite: ([h]) => swigluGateComposite(h!),
  arb: fc
    .tuple(leadArb, fc.integer({ min: 0, max: 4 }))
    .chain(([lead, inter]) => tensorOf([...lead, 2 * inter]))
    .map((h) => [h]),
  // ∂a = g·u·silu′(a), ∂u = g·silu(a); silu′(a) = s(1 + a(1 − s)) cancels against |a|.
  gradScale: ([h], dy) => [perRow(h!, dy, (hRow, gRow) => maxAbs(gRow) * (1 + maxAbs(hRow)) ** 2)],
});

const EPS = 1e-6;

const rmsPair = (name: string, fused: (x: Tensor, eps: number) => Tensor): FusedPair => ({
  name,
  fused: ([x]) => fused(x!, EPS),
  composite: ([x]) => rmsNormLastComposite(x!, EPS),
  arb: fc
    .tuple(leadArb, fc.integer({ min: 0, max: 8 }))
    .chain(([lead, n]) => tensorOf([...lead, n]))
    .map((x) => [x]),
  // r·g − (r³/n)(Σ g·x)·x with r = (Σx²/n + eps)^(−1/2): both terms are at most n·r·max|g| per row.
  gradScale: ([x], dy) => [
    perRow(x!, dy, (xRow, gRow) => {
      const n = xRow.length;
      const r = 1 / Math.sqrt(xRow.reduce((s, v) => s + v * v, 0) / n + EPS);
      return n * r * maxAbs(gRow);
    }),
  ],
});

const pairs: readonly FusedPair[] = [swigluPair('swigluGate', swigluGate), rmsPair('rmsNormLast', rmsNormLast)];

const runLaw = (pair: FusedPair, dtype: DType, numRuns: number, includeErrorInReport = false): void =>
  fc.assert(
    fc.property(pair.arb, fc.integer(), (xs, seed) => checkAgreement(pair, xs, dtype, seed)),
    { numRuns, includeErrorInReport },
  );

describe('fused ops equal their composites, values and VJPs', () => {
  it('every fused op with a forward of its own has a pair here (the Grad ops are the pairs’ VJPs)', () => {
    const checked = new Set([...pairs.map((p) => p.name), ...pairs.map((p) => `${p.name}Grad`)]);
    expect(fusedNames.filter((n) => !checked.has(n))).toEqual([]);
  });

  for (const pair of pairs) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${pair.name} (${dtype})`, () => runLaw(pair, dtype, 300));
    }
  }
});

// ---------------------------------------------------------------------------------------------
// The check catches wrong fused ops: the same law, run on fused ops that are off by 1.001 in the
// forward or only in the custom VJP, must fail (at float64 and at float32).

const OFF = 1.001;

const wrongSwigluForward = defineFused<[Tensor], null>({
  name: 'swigluGate (forward ×1.001)',
  forward: ([h]) => mul(swigluGate(detach(h)), OFF),
  vjp: (g, [h]) => [swigluGateGrad(g, h)],
});

const wrongSwigluVjp = defineFused<[Tensor], null>({
  name: 'swigluGate (VJP ×1.001)',
  forward: ([h]) => swigluGate(detach(h)),
  vjp: (g, [h]) => [mul(swigluGateGrad(g, h), OFF)],
});

const wrongRmsForward = defineFused<[Tensor], number>({
  name: 'rmsNormLast (forward ×1.001)',
  forward: ([x], eps) => mul(rmsNormLast(detach(x), eps), OFF),
  vjp: (g, [x], _y, eps) => [rmsNormLastGrad(g, x, eps)],
});

const wrongRmsVjp = defineFused<[Tensor], number>({
  name: 'rmsNormLast (VJP ×1.001)',
  forward: ([x], eps) => rmsNormLast(detach(x), eps),
  vjp: (g, [x], _y, eps) => [mul(rmsNormLastGrad(g, x, eps), OFF)],
});

const wrongPairs: readonly [FusedPair, RegExp][] = [
  [swigluPair(wrongSwigluForward.name, (h) => wrongSwigluForward.apply([h], null)), /: values differ/],
  [swigluPair(wrongSwigluVjp.name, (h) => wrongSwigluVjp.apply([h], null)), /: cotangents of input 0 differ/],
  [rmsPair(wrongRmsForward.name, (x, eps) => wrongRmsForward.apply([x], eps)), /: values differ/],
  [rmsPair(wrongRmsVjp.name, (x, eps) => wrongRmsVjp.apply([x], eps)), /: cotangents of input 0 differ/],
];

describe('the fused law catches a wrong fused op', () => {
  for (const [pair, message] of wrongPairs) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${pair.name} (${dtype})`, () => {
        // The report must carry the law's own message: the check failed, not something else.
        expect(() => runLaw(pair, dtype, 100, true)).toThrow(message);
      });
    }
  }

  it('and names the op, dtype, shapes, the first element off and the inputs', () => {
    const h = tensor(Float64Array.from([0.5, -1, 2, 3]), [1, 4]);
    const pair = swigluPair(wrongSwigluVjp.name, (x) => wrongSwigluVjp.apply([x], null));
    expect(() => checkAgreement(pair, [h], 'float64', 1)).toThrow(
      /^swigluGate \(VJP ×1\.001\) float64 \[1,4\]: cotangents of input 0 differ at \[0,0\] \(flat 0\).*; inputs: .*0\.5/,
    );
  });
});
