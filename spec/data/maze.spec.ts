/**
 * Maze laws (§2): every generated label marks a shortest start→goal path; the 8 dihedral
 * augmentations keep that.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { key } from '../../src/random/index.js';
import { DIHEDRAL_IDS } from '../../src/data/dihedral.js';
import { generateMaze, isShortestPathLabel, mazeDihedral } from '../../src/data/maze.js';

const mazeArb = fc
  .record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    size: fc.integer({ min: 5, max: 30 }),
    loops: fc.double({ min: 0, max: 0.5, noNaN: true }),
  })
  .map(({ seed, size, loops }) =>
    generateMaze(key(seed), { size, minPath: Math.floor(size / 2), loopProbability: loops }),
  );

describe('mazes', () => {
  it('the label is a shortest path from start to goal', () => {
    fc.assert(
      fc.property(mazeArb, (m) => isShortestPathLabel(m.input, m.label, m.size)),
      { numRuns: 100 },
    );
  });

  it('dihedral augmentations keep the label a shortest path', () => {
    fc.assert(
      fc.property(mazeArb, fc.constantFrom(...DIHEDRAL_IDS), (m, t) => {
        const a = mazeDihedral(m, t);
        return isShortestPathLabel(a.input, a.label, a.size);
      }),
      { numRuns: 100 },
    );
  });

  it('the default 30×30 maze is hard (shortest path > 110 moves)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => generateMaze(key(seed)).pathLength > 110),
      { numRuns: 10 },
    );
  });
});
