/**
 * ARC augmentation pieces (§3.4) and their inverse (§8): colour permutations that keep colour 0,
 * the official augmentation names `{orig}|||t{tid}|||{10 mapping digits}`, and the hashes used to
 * deduplicate augmented puzzles and to vote.
 */
import { createHash } from 'node:crypto';
import { dihedral, inverseDihedral } from './dihedral.js';
import { type Grid, mapValues } from './grid.js';

export const AUG_SEPARATOR = '|||';

/** sha256 hex of the bytes [H, W] followed by the row-major uint8 cells (`grid_hash`, §3.4). */
export const gridHash = (g: Grid): string => {
  const h = createHash('sha256');
  h.update(Uint8Array.of(g.h & 0xff, g.w & 0xff));
  h.update(g.data);
  return h.digest('hex');
};

/** Hash of a puzzle over all its destinations' (input, output) pairs, order-free: sorted, joined, sha256. */
export const puzzleHash = (pairs: Iterable<{ readonly input: Grid; readonly output: Grid }>): string => {
  const parts: string[] = [];
  for (const p of pairs) parts.push(`${gridHash(p.input)}|${gridHash(p.output)}`);
  parts.sort();
  return createHash('sha256').update(parts.join('|')).digest('hex');
};

/** An augmentation: recolour with `mapping` (mapping[0] = 0), then dihedral `tid`. */
export interface ArcAug {
  readonly tid: number;
  /** 10 entries, a permutation of 0..9 with mapping[0] = 0. */
  readonly mapping: Uint8Array;
}

export const augName = (orig: string, a: ArcAug): string =>
  `${orig}${AUG_SEPARATOR}t${a.tid}${AUG_SEPARATOR}${Array.from(a.mapping).join('')}`;

/** Forward map of a grid: first recolour, then the dihedral transform (§3.4 step 4). */
export const applyAug = (a: ArcAug, g: Grid): Grid => dihedral(mapValues(g, a.mapping), a.tid);

/** The original puzzle name (text before the first separator). */
export const originalName = (name: string): string => name.split(AUG_SEPARATOR)[0] ?? name;

/**
 * The inverse transform encoded in a name (`inverse_aug`, §8): identity without a separator;
 * otherwise undo the dihedral first, then the colours (inv_perm = argsort(perm)).
 */
export const inverseAugOfName = (name: string): ((g: Grid) => Grid) => {
  if (!name.includes(AUG_SEPARATOR)) return (g) => g;
  const fields = name.split(AUG_SEPARATOR);
  const tid = Number.parseInt((fields[fields.length - 2] ?? 't0').slice(1), 10);
  const perm = Array.from(fields[fields.length - 1] ?? '', (ch) => Number(ch));
  const inv = new Uint8Array(perm.length);
  perm.forEach((v, i) => (inv[v] = i));
  return (g) => mapValues(inverseDihedral(g, tid), inv);
};
