/**
 * An exact Sudoku solver for any box shape br×bc (grid side n = br·bc ≤ 9), on raw digits
 * (0 = blank, 1..n). Candidates are bitmasks per row, column and box; the search always branches on
 * the blank cell with the fewest candidates (naked singles therefore cost no branching), and stops
 * once `limit` solutions are found. Counting up to 2 is what proves a puzzle has exactly one solution.
 */
/** The shape of a Sudoku box: rows × columns; the grid side is rows · cols. */
export type Box = readonly [rows: number, cols: number];

/** Precomputed unit indices per cell for a box shape. */
export interface Geometry {
  readonly box: Box;
  readonly n: number;
  readonly cells: number;
  readonly rowOf: Int32Array;
  readonly colOf: Int32Array;
  readonly boxOf: Int32Array;
}

const geometryCache = new Map<string, Geometry>();

export const geometry = (box: Box): Geometry => {
  const id = `${box[0]}x${box[1]}`;
  const hit = geometryCache.get(id);
  if (hit !== undefined) return hit;
  const [br, bc] = box;
  const n = br * bc;
  if (!Number.isInteger(br) || !Number.isInteger(bc) || br < 1 || bc < 1 || n > 9) {
    throw new Error(`sudoku: unsupported box ${br}×${bc} (need integers with br·bc ≤ 9)`);
  }
  const cells = n * n;
  const rowOf = new Int32Array(cells);
  const colOf = new Int32Array(cells);
  const boxOf = new Int32Array(cells);
  for (let k = 0; k < cells; k++) {
    const r = Math.floor(k / n);
    const c = k % n;
    rowOf[k] = r;
    colOf[k] = c;
    boxOf[k] = Math.floor(r / br) * (n / bc) + Math.floor(c / bc);
  }
  const g = { box, n, cells, rowOf, colOf, boxOf };
  geometryCache.set(id, g);
  return g;
};

const POPCOUNT = Uint8Array.from({ length: 512 }, (_, m) => {
  let c = 0;
  for (let x = m; x !== 0; x &= x - 1) c++;
  return c;
});

export interface SolveOptions {
  /** Stop after this many solutions (2 proves uniqueness). */
  readonly limit?: number;
  /** Try candidates in this order of preference: a permutation of 1..n (random grids). */
  readonly digitOrder?: ArrayLike<number>;
  /** Forbid one value in one cell (used to ask "is there a solution other than S?"). */
  readonly forbid?: { readonly cell: number; readonly digit: number };
}

export interface SolveResult {
  /** Number of solutions found, capped at `limit`. */
  readonly count: number;
  /** The first solution found (raw digits), if any. */
  readonly solution: Uint8Array | null;
  /** Branch points visited (cells with ≥ 2 candidates): the solver-effort rating. */
  readonly guesses: number;
}

/** Counts the solutions of a raw board, up to `limit` (default 2). Invalid givens give count 0. */
export const solve = (g: Geometry, board: ArrayLike<number>, opts: SolveOptions = {}): SolveResult => {
  const { n, cells, rowOf, colOf, boxOf } = g;
  const limit = opts.limit ?? 2;
  const full = (1 << n) - 1;
  const rows = new Int32Array(n);
  const cols = new Int32Array(n);
  const boxes = new Int32Array(n);
  const cur = new Uint8Array(cells);
  const empties: number[] = [];
  for (let k = 0; k < cells; k++) {
    const d = board[k] ?? 0;
    if (d === 0) {
      empties.push(k);
      continue;
    }
    const bit = 1 << (d - 1);
    const r = rowOf[k] ?? 0,
      c = colOf[k] ?? 0,
      b = boxOf[k] ?? 0;
    if (d > n || (rows[r]! & bit) !== 0 || (cols[c]! & bit) !== 0 || (boxes[b]! & bit) !== 0) {
      return { count: 0, solution: null, guesses: 0 };
    }
    rows[r]! |= bit;
    cols[c]! |= bit;
    boxes[b]! |= bit;
    cur[k] = d;
  }
  const forbidCell = opts.forbid?.cell ?? -1;
  const forbidBit = opts.forbid === undefined ? 0 : 1 << (opts.forbid.digit - 1);
  const order = opts.digitOrder === undefined ? null : Array.from(opts.digitOrder, (d) => d - 1);
  const m = empties.length;
  const slots = Int32Array.from(empties);
  let count = 0;
  let guesses = 0;
  let solution: Uint8Array | null = null;

  const candidates = (k: number): number => {
    const free = full & ~(rows[rowOf[k]!]! | cols[colOf[k]!]! | boxes[boxOf[k]!]!);
    return k === forbidCell ? free & ~forbidBit : free;
  };

  // slots[0..depth) are filled; pick the best remaining slot, swap it to position `depth`.
  const search = (depth: number): void => {
    if (depth === m) {
      count++;
      if (solution === null) solution = cur.slice();
      return;
    }
    let best = depth;
    let bestMask = 0;
    let bestCount = 99;
    for (let s = depth; s < m; s++) {
      const mask = candidates(slots[s]!);
      const c = POPCOUNT[mask]!;
      if (c < bestCount) {
        best = s;
        bestMask = mask;
        bestCount = c;
        if (c <= 1) break;
      }
    }
    if (bestCount === 0) return;
    if (bestCount > 1) guesses++;
    const k = slots[best]!;
    slots[best] = slots[depth]!;
    slots[depth] = k;
    const r = rowOf[k]!,
      c = colOf[k]!,
      b = boxOf[k]!;
    const tryDigit = (i: number): void => {
      const bit = 1 << i;
      rows[r]! |= bit;
      cols[c]! |= bit;
      boxes[b]! |= bit;
      cur[k] = i + 1;
      search(depth + 1);
      rows[r]! &= ~bit;
      cols[c]! &= ~bit;
      boxes[b]! &= ~bit;
      cur[k] = 0;
    };
    if (order === null) {
      for (let mask = bestMask; mask !== 0 && count < limit; mask &= mask - 1) tryDigit(31 - Math.clz32(mask & -mask));
    } else {
      for (let t = 0; t < order.length && count < limit; t++) if ((bestMask >> order[t]!) & 1) tryDigit(order[t]!);
    }
    slots[depth] = slots[best]!;
    slots[best] = k;
  };
  search(0);
  return { count, solution, guesses };
};

/** Whether a raw grid is a complete, valid solution: every row, column and box holds 1..n once. */
export const isValidSolution = (g: Geometry, grid: ArrayLike<number>): boolean => {
  if (grid.length !== g.cells) return false;
  const seen = new Int32Array(3 * g.n);
  for (let k = 0; k < g.cells; k++) {
    const d = grid[k] ?? 0;
    if (d < 1 || d > g.n) return false;
    const bit = 1 << (d - 1);
    const units = [g.rowOf[k]!, g.n + g.colOf[k]!, 2 * g.n + g.boxOf[k]!];
    for (const u of units) {
      if ((seen[u]! & bit) !== 0) return false;
      seen[u]! |= bit;
    }
  }
  return true;
};
