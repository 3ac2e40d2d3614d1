/**
 * N×N mazes in the official character ids (§2): charset "# SGo" → 1..5, i.e. wall 1, open 2,
 * start 3, goal 4, path 5; PAD 0, vocab 6, seq_len N². The label is the input with the cells of a
 * shortest start→goal path (start and goal excluded) marked as path.
 *
 * Generation: a random depth-first (recursive-backtracker) maze on the even-coordinate cells, a
 * fraction of the remaining walls between two cells knocked out to create loops (so "shortest" is a
 * real choice), a random start, and a goal drawn among the cells at least `minPath` moves away — the
 * "hard" filter (the official Maze-Hard set keeps shortest paths > 110 on 30×30).
 */
import { foldIn } from '../random/index.js';
import { dihedralIndexMap } from './dihedral.js';
import { type Key, draws } from './draws.js';

export const WALL = 1;
export const OPEN = 2;
export const START = 3;
export const GOAL = 4;
export const PATH = 5;
export const MAZE_CHARSET = '# SGo';
export const MAZE_VOCAB = 6;

export interface MazeItem {
  readonly size: number;
  /** Tokens, N² row-major. */
  readonly input: Uint8Array;
  /** The input with a shortest path marked (PATH). */
  readonly label: Uint8Array;
  /** Moves on the shortest path from start to goal. */
  readonly pathLength: number;
}

export interface MazeOptions {
  readonly size?: number;
  /** Minimum shortest-path length in moves (default: 111 scaled by area, i.e. > 110 on 30×30). */
  readonly minPath?: number;
  /** Probability of knocking out each remaining wall between two cells (default 0.05). */
  readonly loopProbability?: number;
  /** Rejected mazes allowed per requested maze (default 100). */
  readonly maxAttempts?: number;
}

export const defaultMinPath = (n: number): number => Math.floor((110 * n * n) / 900) + 1;

const carveDfs = (n: number, d: ReturnType<typeof draws>): Uint8Array => {
  const g = new Uint8Array(n * n).fill(WALL);
  const visited = new Uint8Array(n * n);
  const stack = [0];
  g[0] = OPEN;
  visited[0] = 1;
  const steps: readonly (readonly [number, number])[] = [
    [-2, 0],
    [2, 0],
    [0, -2],
    [0, 2],
  ];
  while (stack.length > 0) {
    const k = stack[stack.length - 1]!;
    const r = Math.floor(k / n),
      c = k % n;
    const next = steps
      .map(([dr, dc]) => [r + dr, c + dc] as const)
      .filter(([rr, cc]) => rr >= 0 && cc >= 0 && rr < n && cc < n && visited[rr * n + cc] === 0);
    if (next.length === 0) {
      stack.pop();
      continue;
    }
    const [rr, cc] = next[d.int(0, next.length)]!;
    g[((r + rr) / 2) * n + (c + cc) / 2] = OPEN;
    g[rr * n + cc] = OPEN;
    visited[rr * n + cc] = 1;
    stack.push(rr * n + cc);
  }
  return g;
};

const knockLoops = (g: Uint8Array, n: number, p: number, d: ReturnType<typeof draws>): void => {
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      const between = (r % 2 === 1 && c % 2 === 0 && r + 1 < n) || (r % 2 === 0 && c % 2 === 1 && c + 1 < n);
      if (between && g[r * n + c] === WALL && d.bernoulli(p)) g[r * n + c] = OPEN;
    }
  }
};

/** BFS distances (moves) from `src` over non-wall cells; −1 = unreachable. */
export const bfsDistances = (g: ArrayLike<number>, n: number, src: number): Int32Array => {
  const dist = new Int32Array(n * n).fill(-1);
  const queue = new Int32Array(n * n);
  let head = 0,
    tail = 0;
  dist[src] = 0;
  queue[tail++] = src;
  while (head < tail) {
    const k = queue[head++]!;
    const r = Math.floor(k / n),
      c = k % n;
    const nb = [r > 0 ? k - n : -1, r + 1 < n ? k + n : -1, c > 0 ? k - 1 : -1, c + 1 < n ? k + 1 : -1];
    for (const m of nb) {
      if (m >= 0 && dist[m] === -1 && g[m] !== WALL && g[m] !== 0) {
        dist[m] = dist[k]! + 1;
        queue[tail++] = m;
      }
    }
  }
  return dist;
};

/** A shortest path from the cell at distance 0 to `goal`, walking back along decreasing distance. */
const pathBack = (dist: Int32Array, n: number, goal: number): number[] => {
  const path = [goal];
  let k = goal;
  while (dist[k] !== 0) {
    const r = Math.floor(k / n),
      c = k % n;
    const nb = [r > 0 ? k - n : -1, r + 1 < n ? k + n : -1, c > 0 ? k - 1 : -1, c + 1 < n ? k + 1 : -1];
    k = nb.find((m) => m >= 0 && dist[m] === dist[k]! - 1)!;
    path.push(k);
  }
  return path.reverse();
};

/** The label of a maze input: a shortest start→goal path marked; null if the goal is unreachable. */
export const solveMaze = (input: Uint8Array, n: number): { label: Uint8Array; pathLength: number } | null => {
  const s = input.indexOf(START),
    goal = input.indexOf(GOAL);
  if (s < 0 || goal < 0) return null;
  const dist = bfsDistances(input, n, s);
  if (dist[goal]! < 0) return null;
  const label = input.slice();
  for (const k of pathBack(dist, n, goal)) if (label[k] === OPEN) label[k] = PATH;
  return { label, pathLength: dist[goal]! };
};

/** One maze from a key, or null when no goal is far enough from the drawn start. */
const tryMaze = (k: Key, n: number, minPath: number, loopP: number): MazeItem | null => {
  const d = draws(k);
  const g = carveDfs(n, d);
  knockLoops(g, n, loopP, d);
  const open: number[] = [];
  g.forEach((v, i) => v === OPEN && open.push(i));
  const s = open[d.int(0, open.length)]!;
  const dist = bfsDistances(g, n, s);
  const far = open.filter((i) => dist[i]! >= minPath && i !== s);
  if (far.length === 0) return null;
  const goal = far[d.int(0, far.length)]!;
  g[s] = START;
  g[goal] = GOAL;
  const solved = solveMaze(g, n)!;
  return { size: n, input: g, label: solved.label, pathLength: solved.pathLength };
};

/** A hard maze from a key: candidates `foldIn(key, attempt)` until one passes the path filter. */
export const generateMaze = (k: Key, opts: MazeOptions = {}): MazeItem => {
  const n = opts.size ?? 30;
  if (!Number.isInteger(n) || n < 2 || n > 255) throw new Error(`maze: size ${n} must be an integer in 2..255`);
  const minPath = opts.minPath ?? defaultMinPath(n);
  const maxAttempts = opts.maxAttempts ?? 100;
  for (let a = 0; a < maxAttempts; a++) {
    const m = tryMaze(foldIn(k, a), n, minPath, opts.loopProbability ?? 0.05);
    if (m !== null) return m;
  }
  throw new Error(`maze: no ${n}×${n} maze with a shortest path ≥ ${minPath} moves after ${maxAttempts} attempts`);
};

/** `count` mazes; maze i comes from `foldIn(key, i)`. */
export const generateMazes = (k: Key, count: number, opts: MazeOptions = {}): MazeItem[] =>
  Array.from({ length: count }, (_, i) => generateMaze(foldIn(k, i), opts));

/** Dihedral transform `tid` of a maze (input and label alike, §2); shortest paths map to shortest paths. */
export const mazeDihedral = (m: MazeItem, tid: number): MazeItem => {
  const map = dihedralIndexMap(m.size, tid);
  const apply = (a: Uint8Array): Uint8Array => Uint8Array.from(map, (src) => a[src]!);
  return { size: m.size, input: apply(m.input), label: apply(m.label), pathLength: m.pathLength };
};

/**
 * Whether `label` marks a shortest start→goal path of `input`: label = input except on a set of
 * open cells marked PATH, and those cells with start and goal form a connected path of exactly the
 * BFS distance.
 */
export const isShortestPathLabel = (input: Uint8Array, label: Uint8Array, n: number): boolean => {
  if (input.length !== n * n || label.length !== n * n) return false;
  const s = input.indexOf(START),
    goal = input.indexOf(GOAL);
  if (s < 0 || goal < 0) return false;
  const marked: number[] = [];
  for (let k = 0; k < n * n; k++) {
    if (label[k] === input[k]) continue;
    if (!(input[k] === OPEN && label[k] === PATH)) return false;
    marked.push(k);
  }
  const best = bfsDistances(input, n, s)[goal]!;
  if (best < 0 || marked.length !== best - 1) return false;
  // Walk only on start, goal and marked cells: the goal must be reachable in exactly `best` moves.
  const onPath = new Uint8Array(n * n);
  for (const k of [s, goal, ...marked]) onPath[k] = OPEN;
  return bfsDistances(onPath, n, s)[goal] === best;
};

/** Parses one maze string of the official charset into tokens; returns the bad index or the tokens. */
export const mazeTokens = (s: string): Uint8Array | number => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const id = MAZE_CHARSET.indexOf(s[i]!);
    if (id < 0) return i;
    out[i] = id + 1;
  }
  return out;
};
