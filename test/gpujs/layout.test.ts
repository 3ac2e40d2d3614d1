/** The pure index layouts behind the gpu.js kernels: collapsing broadcast axes loses nothing. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collapse, flatten, outputOf } from '../../src/accel/gpujs/layout.js';
import { broadcast, broadcastableTo, shapeArb, size } from './helpers.js';

/** Flat index of output element `i` in an operand of shape `s` under NumPy broadcasting. */
const bcastIndex = (i: number, outS: readonly number[], s: readonly number[]): number => {
  let rem = i;
  let off = 0;
  let stride = 1;
  for (let d = outS.length - 1; d >= 0; d--) {
    const idx = rem % outS[d]!;
    rem = Math.floor(rem / outS[d]!);
    const j = d - (outS.length - s.length);
    if (j >= 0 && s[j] !== 1) {
      off += idx * stride;
    }
    if (j >= 0) stride *= s[j]!;
  }
  return off;
};

describe('collapse', () => {
  it('merges axes with the same broadcast pattern and drops size-1 axes', () => {
    expect(collapse([2, 3, 4], [[2, 3, 4], [4]])).toEqual({
      dims: [6, 4],
      strides: [
        [4, 1],
        [0, 1],
      ],
    });
    expect(
      collapse(
        [2, 1, 3],
        [
          [2, 1, 3],
          [2, 1, 3],
        ],
      ),
    ).toEqual({ dims: [6], strides: [[1], [1]] });
    expect(collapse([], [[], []])).toEqual({ dims: [1], strides: [[0], [0]] });
    expect(
      collapse(
        [3, 4],
        [
          [3, 1],
          [1, 4],
        ],
      ),
    ).toEqual({
      dims: [3, 4],
      strides: [
        [1, 0],
        [0, 1],
      ],
    });
  });

  it('addresses every operand element as NumPy broadcasting does', () => {
    fc.assert(
      fc.property(
        shapeArb(0, 6).chain((out) => fc.tuple(broadcastableTo(out), broadcastableTo(out), broadcastableTo(out))),
        (shapes) => {
          const outS = broadcast(...shapes);
          const { dims, strides } = collapse(outS, shapes);
          expect(size(dims)).toBe(size(outS));
          for (let i = 0; i < size(outS); i++) {
            // Unravel i over the collapsed dims.
            let rem = i;
            const idx = new Array<number>(dims.length);
            for (let d = dims.length - 1; d >= 0; d--) {
              idx[d] = rem % dims[d]!;
              rem = Math.floor(rem / dims[d]!);
            }
            shapes.forEach((s, j) => {
              const got = idx.reduce((acc, v, d) => acc + v * strides[j]![d]!, 0);
              expect(got).toBe(bcastIndex(i, outS, s));
            });
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('maps the last axis to x, the one before to y, the rest to z', () => {
    expect(outputOf([7])).toEqual([7]);
    expect(outputOf([3, 7])).toEqual([7, 3]);
    expect(outputOf([2, 5, 3, 7])).toEqual([7, 3, 10]);
  });
});

describe('flatten', () => {
  it('copies rows and layers into one fresh array and checks the count', () => {
    const row = Float32Array.from([1, 2]);
    const out = flatten(
      [
        [row, Float32Array.from([3, 4])],
        [Float32Array.from([5, 6]), Float32Array.from([7, 8])],
      ],
      8,
    );
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const one = flatten(row, 2);
    expect(one).not.toBe(row);
    expect(() => flatten(row, 3)).toThrow(/expected 3/);
    expect(() => flatten('x', 1)).toThrow(/unexpected/);
  });
});
