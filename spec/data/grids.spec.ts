/**
 * Laws of the ARC grid transforms (§3.3, §3.4, §3.6, §8): for every dihedral transform and colour
 * permutation, inverse ∘ augment = identity on grids of every size 1..30, and the 30×30 encoding
 * round-trips through the evaluator's crop.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyAug, augName, inverseAugOfName, originalName } from '../../src/data/arc-augment.js';
import { cropGrid, encodeGrid } from '../../src/data/arc-encode.js';
import { DIHEDRAL_IDS, DIHEDRAL_INVERSE, dihedral, inverseDihedral } from '../../src/data/dihedral.js';
import { type Grid, gridEquals } from '../../src/data/grid.js';

const gridArb = (maxSide = 30, maxValue = 9): fc.Arbitrary<Grid> =>
  fc
    .record({ h: fc.integer({ min: 1, max: maxSide }), w: fc.integer({ min: 1, max: maxSide }) })
    .chain(({ h, w }) =>
      fc.uint8Array({ minLength: h * w, maxLength: h * w, max: maxValue }).map((data) => ({ h, w, data })),
    );

const mappingArb = fc
  .shuffledSubarray([1, 2, 3, 4, 5, 6, 7, 8, 9], { minLength: 9, maxLength: 9 })
  .map((p) => Uint8Array.from([0, ...p]));

describe('dihedral transforms (§3.3)', () => {
  it('inverse ∘ transform = identity for all 8 tids on grids 1..30', () => {
    fc.assert(
      fc.property(gridArb(), fc.constantFrom(...DIHEDRAL_IDS), (g, t) =>
        gridEquals(inverseDihedral(dihedral(g, t), t), g),
      ),
      { numRuns: 300 },
    );
  });

  it('the inverse table is an involution and maps shapes back', () => {
    DIHEDRAL_IDS.forEach((t) => expect(DIHEDRAL_INVERSE[DIHEDRAL_INVERSE[t]!]).toBe(t));
  });

  it('matches the formulas of the table on a 2×3 grid', () => {
    const g: Grid = { h: 2, w: 3, data: Uint8Array.from([0, 1, 2, 3, 4, 5]) };
    // numpy: rot90(k=1) of [[0,1,2],[3,4,5]] = [[2,5],[1,4],[0,3]]
    expect(Array.from(dihedral(g, 1).data)).toEqual([2, 5, 1, 4, 0, 3]);
    expect(Array.from(dihedral(g, 3).data)).toEqual([3, 0, 4, 1, 5, 2]);
    expect(Array.from(dihedral(g, 6).data)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from(dihedral(g, 7).data)).toEqual([5, 2, 4, 1, 3, 0]);
    expect(Array.from(dihedral(g, 9).data)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('ARC augmentation inverse (§3.4, §8)', () => {
  it('the inverse parsed from the augmentation name undoes recolour + dihedral', () => {
    fc.assert(
      fc.property(gridArb(), fc.constantFrom(...DIHEDRAL_IDS), mappingArb, (g, tid, mapping) => {
        const name = augName('abcd1234', { tid, mapping });
        return (
          originalName(name) === 'abcd1234' && gridEquals(inverseAugOfName(name)(applyAug({ tid, mapping }, g)), g)
        );
      }),
      { numRuns: 300 },
    );
  });

  it('colour 0 stays 0', () => {
    fc.assert(
      fc.property(gridArb(8), mappingArb, (g, mapping) =>
        applyAug({ tid: 0, mapping }, g).data.every((v, i) => (v === 0) === (g.data[i] === 0)),
      ),
    );
  });
});

describe('sequence encoding (§3.6)', () => {
  it('crop ∘ encode = identity at offset (0, 0)', () => {
    fc.assert(
      fc.property(gridArb(), (g) => gridEquals(cropGrid(encodeGrid(g)), g)),
      { numRuns: 300 },
    );
  });

  it('places EOS below and right of the grid but leaves the corner PAD', () => {
    fc.assert(
      fc.property(gridArb(29), fc.nat(), fc.nat(), (g, a, b) => {
        const r = a % (31 - g.h - 1 + 1),
          c = b % (31 - g.w - 1 + 1);
        if (r + g.h >= 30 || c + g.w >= 30) return true;
        const s = encodeGrid(g, r, c);
        const at = (i: number, j: number): number => s[i * 30 + j]!;
        const eosCount = s.reduce((n, v) => n + (v === 1 ? 1 : 0), 0);
        return (
          at(r + g.h, c + g.w) === 0 &&
          at(r + g.h, c) === 1 &&
          at(r, c + g.w) === 1 &&
          eosCount === g.h + g.w &&
          at(r, c) === g.data[0]! + 2
        );
      }),
    );
  });
});
