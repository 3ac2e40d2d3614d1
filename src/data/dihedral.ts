/**
 * The 8 dihedral transforms of a rectangle, numbered as the official `common.dihedral_transform`
 * (§3.3), and their inverse table. Used by ARC augmentation and the evaluator (§3.4, §8) and by the
 * maze augmentation (§2).
 *
 * | tid | numpy op            | out shape | out[i][j] =         |
 * |  0  | identity            | H×W       | in[i][j]            |
 * |  1  | rot90 k=1 (CCW)     | W×H       | in[j][W-1-i]        |
 * |  2  | rot90 k=2           | H×W       | in[H-1-i][W-1-j]    |
 * |  3  | rot90 k=3 (CW)      | W×H       | in[H-1-j][i]        |
 * |  4  | fliplr              | H×W       | in[i][W-1-j]        |
 * |  5  | flipud              | H×W       | in[H-1-i][j]        |
 * |  6  | transpose           | W×H       | in[j][i]            |
 * |  7  | fliplr(rot90 k=1)   | W×H       | in[H-1-j][W-1-i]    |
 */
import type { Grid } from './grid.js';

export type DihedralId = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7;

export const DIHEDRAL_IDS: readonly DihedralId[] = [0, 1, 2, 3, 4, 5, 6, 7];

/** The inverse of tid t is DIHEDRAL_INVERSE[t] (§3.3). */
export const DIHEDRAL_INVERSE: readonly DihedralId[] = [0, 3, 2, 1, 4, 5, 6, 7];

/** Whether tid swaps the axes (output is W×H). */
export const swapsAxes = (tid: number): boolean => tid === 1 || tid === 3 || tid === 6 || tid === 7;

/** The source index in an H×W input of output cell (i, j), per the table above. */
const sourceIndex = (tid: number, h: number, w: number, i: number, j: number): number => {
  switch (tid) {
    case 1:
      return j * w + (w - 1 - i);
    case 2:
      return (h - 1 - i) * w + (w - 1 - j);
    case 3:
      return (h - 1 - j) * w + i;
    case 4:
      return i * w + (w - 1 - j);
    case 5:
      return (h - 1 - i) * w + j;
    case 6:
      return j * w + i;
    case 7:
      return (h - 1 - j) * w + (w - 1 - i);
    default:
      return i * w + j;
  }
};

/** Applies transform `tid`; a tid outside 0..7 is the identity, as in the official code. */
export const dihedral = (g: Grid, tid: number): Grid => {
  const [oh, ow] = swapsAxes(tid) ? [g.w, g.h] : [g.h, g.w];
  const out = new Uint8Array(oh * ow);
  for (let i = 0; i < oh; i++) {
    for (let j = 0; j < ow; j++) out[i * ow + j] = g.data[sourceIndex(tid, g.h, g.w, i, j)] ?? 0;
  }
  return { h: oh, w: ow, data: out };
};

export const inverseDihedral = (g: Grid, tid: number): Grid => dihedral(g, DIHEDRAL_INVERSE[tid] ?? 0);

/** The transform as an index map on a flat square N×N array: out[k] = in[map[k]] (fast path for mazes). */
export const dihedralIndexMap = (n: number, tid: number): Int32Array => {
  const m = new Int32Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m[i * n + j] = sourceIndex(tid, n, n, i, j);
  return m;
};
