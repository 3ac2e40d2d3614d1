/**
 * Trees (equinox/JAX pytrees): nested arrays and records whose leaves are what `isLeaf` accepts.
 * Anything else (numbers, strings, null, undefined) is not a leaf and passes through every tree
 * function unchanged. One traversal serves them all: depth first, array items in order, record
 * keys in insertion order; a leaf's path is its keys joined by dots (`blocks.0.mlp.gateUp`).
 *
 * The tensor layer instantiates it for tensors ([tensor/tree.ts](../tensor/tree.ts)); autodiff,
 * the optimizers, EMA and checkpoints all use that one instance.
 */

export type Tree<L> =
  | L
  | readonly Tree<L>[]
  | { readonly [key: string]: Tree<L> }
  | number
  | string
  | boolean
  | null
  | undefined;

export interface TreeOps<L> {
  /** The leaves in traversal order, with their paths. */
  readonly flatten: (tree: unknown) => [string, L][];
  /** The structure of `like` with its leaves replaced, in traversal order, by `leaves`. */
  readonly unflatten: <T>(like: T, leaves: readonly L[]) => T;
  /** Applies `f` to every leaf, keeping the structure (and its TypeScript type). */
  readonly map: <T>(tree: T, f: (leaf: L, path: string) => L) => T;
  /** Combines two trees of the same structure leaf by leaf; any difference is an error naming the path. */
  readonly zip: <T>(a: T, b: T, f: (x: L, y: L, path: string) => L) => T;
  /**
   * Walks `main` and, at each of its leaves, hands `f` the values at the same place in `others`:
   * the leaf, or null where another tree holds null or undefined there (at the leaf or above it).
   * Any other difference of structure is an error naming `op` and the path.
   */
  readonly zipWith: <T>(
    op: string,
    main: T,
    others: readonly unknown[],
    f: (leaf: L, others: (L | null)[], path: string) => L,
  ) => T;
}

const absent = (v: unknown): v is null | undefined => v === null || v === undefined;

/** The tree functions for leaves that `isLeaf` accepts; `leafName` names a leaf in error messages. */
export const treeOps = <L>(isLeaf: (v: unknown) => v is L, leafName = 'leaf'): TreeOps<L> => {
  const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> =>
    typeof v === 'object' && v !== null && !isLeaf(v) && !Array.isArray(v);

  /** The one traversal. `strict`: every other tree must have the same structure (no null stand-ins). */
  const walk = (
    op: string,
    strict: boolean,
    main: unknown,
    others: readonly unknown[],
    f: (leaf: L, others: (L | null)[], path: string) => L,
    path: string,
  ): unknown => {
    const sub = (k: string | number): string => (path ? `${path}.${k}` : String(k));
    const differs = (i: number): Error => new Error(`${op}: tree ${i + 2} differs from the first at '${path}'`);
    const check = (ok: (o: unknown) => boolean): void =>
      others.forEach((o, i) => {
        if (absent(o) ? strict : !ok(o)) throw differs(i);
      });
    if (isLeaf(main)) {
      others.forEach((o, i) => {
        if (absent(o) ? strict : !isLeaf(o)) {
          throw new Error(
            `${op}: tree ${i + 2} holds a non-${leafName} where the first has a ${leafName} at '${path}'`,
          );
        }
      });
      return f(
        main,
        others.map((o) => (isLeaf(o) ? o : null)),
        path,
      );
    }
    if (Array.isArray(main)) {
      check((o) => Array.isArray(o) && o.length === main.length);
      return main.map((v, j) =>
        walk(
          op,
          strict,
          v,
          others.map((o) => (absent(o) ? o : (o as unknown[])[j])),
          f,
          sub(j),
        ),
      );
    }
    if (isRecord(main)) {
      check(isRecord);
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(main)) {
        const os = others.map((o) => (absent(o) ? o : (o as Record<string, unknown>)[k]));
        if (strict && os.some(absent) && !absent(v)) throw new Error(`${op}: key '${sub(k)}' missing in another tree`);
        out[k] = walk(op, strict, v, os, f, sub(k));
      }
      return out;
    }
    return main;
  };

  const map = <T>(tree: T, f: (leaf: L, path: string) => L): T =>
    walk('treeMap', true, tree, [], (l, _o, p) => f(l, p), '') as T;

  return {
    map,
    flatten: (tree) => {
      const out: [string, L][] = [];
      map(tree, (l, p) => {
        out.push([p, l]);
        return l;
      });
      return out;
    },
    unflatten: <T>(like: T, leaves: readonly L[]): T => {
      let i = 0;
      const out = map(like, () => {
        if (i >= leaves.length) throw new Error(`unflatten: ${leaves.length} leaves for a tree with more`);
        return leaves[i++]!;
      });
      if (i !== leaves.length) throw new Error(`unflatten: ${leaves.length} leaves for a tree with ${i}`);
      return out;
    },
    zip: <T>(a: T, b: T, f: (x: L, y: L, path: string) => L): T =>
      walk('treeZip', true, a, [b], (x, [y], p) => f(x, y!, p), '') as T,
    zipWith: <T>(
      op: string,
      main: T,
      others: readonly unknown[],
      f: (leaf: L, others: (L | null)[], path: string) => L,
    ): T => walk(op, false, main, others, f, '') as T,
  };
};
