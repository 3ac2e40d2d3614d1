/**
 * Parameter trees: nested records and arrays whose leaves are tensors (equinox/JAX pytrees).
 * Non-tensor leaves (numbers, strings, null) pass through every tree function unchanged.
 */
import { Tensor } from '../tensor/tensor.js';

export type Tree = Tensor | readonly Tree[] | { readonly [key: string]: Tree } | number | string | boolean | null | undefined;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !(v instanceof Tensor) && !Array.isArray(v);

/** Applies `f` to every tensor leaf, keeping the structure (and its TypeScript type). */
export const treeMap = <T>(tree: T, f: (t: Tensor, path: string) => Tensor, path = ''): T => {
  if (tree instanceof Tensor) return f(tree, path) as T;
  if (Array.isArray(tree)) return tree.map((v, i) => treeMap(v, f, path ? `${path}.${i}` : String(i))) as T;
  if (isRecord(tree)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(tree)) out[k] = treeMap(v, f, path ? `${path}.${k}` : k);
    return out as T;
  }
  return tree;
};

/** Combines two trees of the same structure leaf by leaf. */
export const treeZip = <T>(a: T, b: T, f: (x: Tensor, y: Tensor, path: string) => Tensor, path = ''): T => {
  if (a instanceof Tensor) {
    if (!(b instanceof Tensor)) throw new Error(`treeZip: structure differs at '${path}'`);
    return f(a, b, path) as T;
  }
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) throw new Error(`treeZip: structure differs at '${path}'`);
    return a.map((v, i) => treeZip(v, (b as unknown[])[i], f, path ? `${path}.${i}` : String(i))) as T;
  }
  if (isRecord(a)) {
    if (!isRecord(b)) throw new Error(`treeZip: structure differs at '${path}'`);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(a)) {
      if (!(k in b)) throw new Error(`treeZip: key '${path ? `${path}.` : ''}${k}' missing in the second tree`);
      out[k] = treeZip(v, b[k], f, path ? `${path}.${k}` : k);
    }
    return out as T;
  }
  return a;
};

/** The tensor leaves in a fixed order (depth first, keys in insertion order), with their paths. */
export const treeLeaves = (tree: unknown, path = ''): [string, Tensor][] => {
  if (tree instanceof Tensor) return [[path, tree]];
  if (Array.isArray(tree)) return tree.flatMap((v, i) => treeLeaves(v, path ? `${path}.${i}` : String(i)));
  if (isRecord(tree)) return Object.entries(tree).flatMap(([k, v]) => treeLeaves(v, path ? `${path}.${k}` : k));
  return [];
};
