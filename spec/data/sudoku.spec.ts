/**
 * Sudoku laws (§1): every generated puzzle has exactly one solution and its label is that solution;
 * every augmentation maps a valid (puzzle, solution) pair to a valid pair, for all three box shapes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { key } from '../../src/random/index.js';
import { augmentSudoku } from '../../src/data/sudoku-augment.js';
import { BOXES, generateSudoku, hasUniqueSolution, isConsistentPair } from '../../src/data/sudoku.js';

const sides = [4, 6, 9] as const;

describe.each(sides)('%i×%i sudoku', (n) => {
  const box = BOXES[n];
  const runs = n === 9 ? 15 : 60;

  it('generated puzzles have exactly one solution, and it is the label', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const item = generateSudoku(key(seed), { box });
        return isConsistentPair(box, item.puzzle, item.solution) && hasUniqueSolution(box, item.puzzle, item.solution);
      }),
      { numRuns: runs },
    );
  });

  it('augmentations map valid pairs to valid pairs and keep uniqueness', () => {
    const item = generateSudoku(key(n), { box });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (seed) => {
        const a = augmentSudoku(key(seed), item.puzzle, item.solution, box);
        return isConsistentPair(box, a.puzzle, a.solution) && hasUniqueSolution(box, a.puzzle, a.solution);
      }),
      { numRuns: 100 },
    );
  });

  it('generated puzzles are minimal: removing any given breaks uniqueness', () => {
    const item = generateSudoku(key(100 + n), { box });
    item.puzzle.forEach((t, k) => {
      if (t === 1) return;
      const fewer = item.puzzle.slice();
      fewer[k] = 1;
      expect(hasUniqueSolution(box, fewer, item.solution)).toBe(false);
    });
  });
});
