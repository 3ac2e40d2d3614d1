/** npy and dataset writers round-trip what they read (§0). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Dataset, type PuzzleSet, metadataFor, readDataset, writeDataset } from '../../src/data/dataset.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';

const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 3 });
const count = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

describe('npy', () => {
  it('decode ∘ encode = identity (uint8, int32, int64)', () => {
    fc.assert(
      fc.property(shapeArb, fc.constantFrom('u1', 'i4', 'i8'), fc.integer(), (shape, kind, seed) => {
        const n = count(shape);
        const data =
          kind === 'u1'
            ? Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 255)
            : kind === 'i4'
              ? Int32Array.from({ length: n }, (_, i) => (seed * 31 + i) | 0)
              : BigInt64Array.from({ length: n }, (_, i) => BigInt(seed) * 1000n + BigInt(i));
        const r = decodeNpy('x.npy', encodeNpy(shape, data));
        return (
          E.isRight(r) &&
          r.right.shape.join() === shape.join() &&
          r.right.data.constructor === data.constructor &&
          r.right.data.every((v, i) => v === data[i])
        );
      }),
    );
  });

  it('headers are padded to a multiple of 64 bytes and end with a newline', () => {
    const b = encodeNpy([3, 2], new Int32Array(6));
    const headerLen = b[8]! + 256 * b[9]!;
    expect((10 + headerLen) % 64).toBe(0);
    expect(b[10 + headerLen - 1]).toBe(10);
  });
});

const setArb = fc
  .record({
    seqLen: fc.integer({ min: 1, max: 6 }),
    groups: fc.array(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }), {
      minLength: 1,
      maxLength: 4,
    }),
    seed: fc.nat(),
  })
  .map(({ seqLen, groups, seed }) => {
    const puzzleSizes = groups.flat();
    const n = puzzleSizes.reduce((a, b) => a + b, 0);
    const set: PuzzleSet = {
      name: 'all',
      inputs: Uint8Array.from({ length: n * seqLen }, (_, i) => (seed + i) % 7),
      labels: Uint8Array.from({ length: n * seqLen }, (_, i) => (seed * 3 + i) % 7),
      puzzleIdentifiers: Int32Array.from(puzzleSizes, (_, i) => i % 5),
      puzzleIndices: Int32Array.from({ length: puzzleSizes.length + 1 }, (_, i) =>
        puzzleSizes.slice(0, i).reduce((a, b) => a + b, 0),
      ),
      groupIndices: Int32Array.from({ length: groups.length + 1 }, (_, i) =>
        groups.slice(0, i).reduce((a, g) => a + g.length, 0),
      ),
    };
    return { set, seqLen };
  });

describe('dataset directory', () => {
  it('read ∘ write = identity', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trm-ds-'));
    try {
      await fc.assert(
        fc.asyncProperty(setArb, async ({ set, seqLen }) => {
          const split = {
            metadata: metadataFor([set], { vocabSize: 7, seqLen, numPuzzleIdentifiers: 5 }),
            sets: [set],
          };
          const ds: Dataset = {
            splits: { train: split, test: split },
            identifiers: ['<blank>', 'a', 'b', 'c', 'd'],
            testPuzzles: [
              ['22168020', { x: 1 }],
              ['a', { y: 2 }],
            ],
          };
          const out = join(dir, 'ds');
          expect(E.isRight(await writeDataset(out, ds, { overwrite: true }))).toBe(true);
          const back = readDataset(out);
          expect(back).toEqual(E.right(ds));
        }),
        { numRuns: 20 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
