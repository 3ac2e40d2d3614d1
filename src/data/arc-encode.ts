/**
 * The official ARC sequence encoding (§3.6) and the evaluator's crop (§8).
 * A grid goes on a 30×30 canvas (row-major, 900 tokens): PAD 0, EOS 1, colour c → c+2, placed at
 * (padR, padC); an EOS row under the grid and an EOS column right of it, but the corner cell
 * (padR+h, padC+w) stays PAD.
 */
import type { Grid } from './grid.js';

export const ARC_SIDE = 30;
export const ARC_SEQ_LEN = ARC_SIDE * ARC_SIDE;
export const ARC_VOCAB = 12;
export const ARC_PAD = 0;
export const ARC_EOS = 1;

/** Writes the encoding of `g` at offset (padR, padC) into `out[offset .. offset+900)`, which must be zero. */
export const encodeGridInto = (g: Grid, padR: number, padC: number, out: Uint8Array, offset = 0): void => {
  if (padR + g.h > ARC_SIDE || padC + g.w > ARC_SIDE)
    throw new Error(`arc: ${g.h}×${g.w} grid at (${padR}, ${padC}) leaves the 30×30 canvas`);
  for (let r = 0; r < g.h; r++) {
    for (let c = 0; c < g.w; c++) out[offset + (padR + r) * ARC_SIDE + padC + c] = g.data[r * g.w + c]! + 2;
  }
  if (padR + g.h < ARC_SIDE) for (let c = 0; c < g.w; c++) out[offset + (padR + g.h) * ARC_SIDE + padC + c] = ARC_EOS;
  if (padC + g.w < ARC_SIDE) for (let r = 0; r < g.h; r++) out[offset + (padR + r) * ARC_SIDE + padC + g.w] = ARC_EOS;
};

export const encodeGrid = (g: Grid, padR = 0, padC = 0): Uint8Array => {
  const out = new Uint8Array(ARC_SEQ_LEN);
  encodeGridInto(g, padR, padC, out);
  return out;
};

/**
 * `_crop` (§8): the largest top-left-anchored rectangle of colour tokens (2..11), minus 2.
 * Reads `seq[offset .. offset+900)`, so a batch row can be cropped in place.
 */
export const cropGrid = (seq: ArrayLike<number>, offset = 0): Grid => {
  let numC = ARC_SIDE;
  let bestArea = 0;
  let bestR = 0,
    bestC = 0;
  for (let r = 1; r <= ARC_SIDE; r++) {
    for (let c = 1; c <= numC; c++) {
      const v = seq[offset + (r - 1) * ARC_SIDE + (c - 1)] ?? 0;
      if (v < 2 || v > 11) {
        numC = c - 1;
        break;
      }
    }
    if (r * numC > bestArea) {
      bestArea = r * numC;
      bestR = r;
      bestC = numC;
    }
  }
  const data = new Uint8Array(bestR * bestC);
  for (let r = 0; r < bestR; r++)
    for (let c = 0; c < bestC; c++) data[r * bestC + c] = (seq[offset + r * ARC_SIDE + c] ?? 2) - 2;
  return { h: bestR, w: bestC, data };
};
