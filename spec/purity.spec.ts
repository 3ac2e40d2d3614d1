/**
 * Purity: no op writes its inputs, and the same inputs give the same outputs.
 *
 * For every primitive, fused op and composite in the catalogue, the raw bytes of every input (and of every
 * constant such as ids, labels and masks) are snapshotted, then the op, its VJP and a whole
 * `valueAndGrad` run; afterwards every byte must be as it was, the output must not have been
 * written by the backward pass, and running again must reproduce outputs and gradients bit for bit.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { valueAndGrad, vjp } from '../src/autodiff/grad.js';
import { cast, sumAll } from '../src/ops/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { bytesOf, prng, randomTensor } from './arbitraries.js';
import { expectSameBytes } from './assert.js';
import { type OpCase, differentiable, nonDifferentiable } from './catalogue.js';

const cases: readonly OpCase[] = [...differentiable, ...nonDifferentiable];

describe('purity: inputs are bitwise unchanged, outputs are reproducible', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    fc.assert(
      fc.property(c.arb, fc.integer(), (inst, seed) => {
        const watched = [...inst.inputs, ...inst.consts];
        const before = watched.map(bytesOf);
        const f = (xs: readonly Tensor[]): Tensor => inst.f(xs);

        const y1 = f(inst.inputs);
        const yBytes = bytesOf(y1);
        const dy = randomTensor(prng(seed), y1.shape, y1.dtype === 'int32' ? 'float64' : y1.dtype);
        const seedDy = y1.dtype === 'int32' ? cast(dy, 'int32') : dy;
        const dyBytes = bytesOf(seedDy);
        const g1 = vjp(f, inst.inputs, seedDy).grad;
        const loss = (xs: readonly Tensor[]): Tensor => sumAll(cast(f(xs), 'float64'));
        const r1 = valueAndGrad(loss)(inst.inputs);

        watched.forEach((t, k) =>
          expectSameBytes(
            c.name,
            inst.context,
            k < inst.inputs.length ? `input ${k}` : `constant ${k - inst.inputs.length}`,
            t,
            before[k]!,
            bytesOf(t),
          ),
        );
        expectSameBytes(c.name, inst.context, 'output (after its VJP ran)', y1, yBytes, bytesOf(y1));
        expectSameBytes(c.name, inst.context, 'cotangent', seedDy, dyBytes, bytesOf(seedDy));

        // The same inputs give the same outputs, bit for bit.
        const y2 = f(inst.inputs);
        expectSameBytes(c.name, inst.context, 'output on a second run', y1, yBytes, bytesOf(y2));
        const g2 = vjp(f, inst.inputs, seedDy).grad;
        g1.forEach((g, k) =>
          expectSameBytes(c.name, inst.context, `vjp ${k} on a second run`, g, bytesOf(g), bytesOf(g2[k]!)),
        );
        const r2 = valueAndGrad(loss)(inst.inputs);
        expectSameBytes(
          c.name,
          inst.context,
          'valueAndGrad value on a second run',
          r1.value,
          bytesOf(r1.value),
          bytesOf(r2.value),
        );
        r1.grad.forEach((g, k) =>
          expectSameBytes(
            c.name,
            inst.context,
            `valueAndGrad grad ${k} on a second run`,
            g,
            bytesOf(g),
            bytesOf(r2.grad[k]!),
          ),
        );
      }),
      { numRuns: 40 },
    );
  });
});
