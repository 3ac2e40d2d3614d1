/**
 * A small integer grid (H×W, row-major, C order): ARC colour grids, Sudoku boards and mazes.
 * Values are small non-negative integers, so a Uint8Array holds them, as the official uint8 arrays do.
 */
export interface Grid {
  readonly h: number;
  readonly w: number;
  /** Row-major: cell (r, c) is data[r*w + c]. */
  readonly data: Uint8Array;
}

export const grid = (h: number, w: number, data: ArrayLike<number>): Grid => {
  if (data.length !== h * w) throw new Error(`grid: ${h}×${w} needs ${h * w} values, got ${data.length}`);
  return { h, w, data: Uint8Array.from(data) };
};

export const fromRows = (rows: readonly (readonly number[])[]): Grid => {
  const h = rows.length;
  const w = rows[0]?.length ?? 0;
  return grid(h, w, rows.flat());
};

export const toRows = (g: Grid): number[][] =>
  Array.from({ length: g.h }, (_, r) => Array.from(g.data.subarray(r * g.w, (r + 1) * g.w)));

export const gridEquals = (a: Grid, b: Grid): boolean =>
  a.h === b.h && a.w === b.w && a.data.every((v, i) => v === b.data[i]);

/** `mapping[grid]` as NumPy fancy indexing does it: each value v becomes mapping[v]. */
export const mapValues = (g: Grid, mapping: ArrayLike<number>): Grid => {
  const out = new Uint8Array(g.data.length);
  for (let i = 0; i < out.length; i++) out[i] = mapping[g.data[i] ?? 0] ?? 0;
  return { h: g.h, w: g.w, data: out };
};
