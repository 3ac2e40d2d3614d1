/**
 * Reverse-mode autodiff without a tape.
 *
 * While `valueAndGrad` runs `f`, the parameters are fresh leaf tensors and every op whose inputs
 * carry a node records one on its output (see `bind` in ops/primitives.ts). The graph therefore
 * lives in the values themselves: nothing global is written, nested or concurrent calls cannot see
 * each other, and the gradients are returned, never stored on tensors.
 */
import { type Node, Tensor, fromStorage, storage } from '../tensor/tensor.js';
import { shapeStr } from '../core/shape.js';
import { treeMap } from '../tensor/tree.js';

/** The same values with no autodiff history: gradients do not flow through the result. */
export const detach = (t: Tensor): Tensor =>
  t.node === null ? t : new Tensor(t.shape, t.dtype, t.data, t.backend, null);

/** stopGradient on a tensor or on every tensor of a tree. */
export const stopGradient = <T>(tree: T): T => treeMap(tree, detach);

// Stryker disable next-line StringLiteral: equivalent (a leaf has no inputs, so its op name is never shown)
const leafNode = (): Node => ({ op: 'leaf', inputs: [], vjp: () => [] });

const attach = (t: Tensor): Tensor => new Tensor(t.shape, t.dtype, t.data, t.backend, leafNode());

/** Reverse topological order of the nodes reachable from `root` (root first). */
const reverseTopo = (root: Node): Node[] => {
  const order: Node[] = [];
  const seen = new Set<Node>();
  // Iterative post-order DFS: recursion depth would follow the (long) recursion chain of TRM.
  const stack: [Node, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [node, i] = top;
    if (i < node.inputs.length) {
      top[1] = i + 1;
      const child = node.inputs[i]!.node;
      if (child !== null && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(node);
    }
  }
  return order.reverse();
};

const accumulate = (a: Tensor | undefined, b: Tensor): Tensor =>
  a === undefined
    ? b
    : fromStorage(a.shape, a.backend.binary('add', storage(a), a.shape, storage(b), b.shape, a.shape), a.backend);

/**
 * Cotangents of the leaves reachable from the root, seeded with `seed` (same shape as the root).
 *
 * Memory: like PyTorch's backward, this releases the graph as it goes. `root` is a one-element box
 * that backprop empties, the topological order is the only other path to the nodes, and a node's
 * slot in it and its cotangent are dropped once its VJP has run. A processed node is referenced
 * only by nodes processed before it, so its saved tensors can be collected while the rest of the
 * backward pass runs. The caller must not hold the root tensor (see `trace`).
 */
const backprop = (root: [Node | null], seed: Tensor): Map<Node, Tensor> => {
  const grads = new Map<Node, Tensor>();
  const top = root[0];
  root[0] = null;
  if (top === null) return grads;
  grads.set(top, seed);
  const order: (Node | null)[] = reverseTopo(top);
  for (let i = 0; i < order.length; i++) {
    const node = order[i]!;
    order[i] = null;
    const g = grads.get(node);
    if (g === undefined || node.inputs.length === 0) continue;
    grads.delete(node);
    const gs = node.vjp(g);
    node.inputs.forEach((input, j) => {
      const gi = gs[j];
      if (input.node === null || gi === null || gi === undefined) return;
      if (gi.size !== input.size) {
        throw new Error(
          `${node.op}: VJP returned a cotangent of shape ${shapeStr(gi.shape)} for an input of shape ${shapeStr(input.shape)}`,
        );
      }
      grads.set(input.node, accumulate(grads.get(input.node), gi));
    });
  }
  return grads;
};

/**
 * Runs `f` on the leaves and keeps only what backprop needs: the root node in a box it will
 * empty, the value and aux detached, and the seed. The root tensor and aux die with this frame, so
 * nothing outside backprop holds the graph.
 */
const trace = <P, A extends unknown[], Aux>(
  f: (params: P, ...args: A) => readonly [Tensor, Aux],
  leaves: P,
  args: A,
  dy: (value: Tensor) => Tensor,
): { readonly root: [Node | null]; readonly value: Tensor; readonly aux: Aux; readonly seed: Tensor } => {
  const [value, aux] = f(leaves, ...args);
  const seed = dy(value);
  return { root: [value.node], value: detach(value), aux: stopGradient(aux), seed };
};

const zerosLike = (t: Tensor): Tensor => {
  const x = storage(t);
  return fromStorage(t.shape, new (x.constructor as new (n: number) => typeof x)(x.length), t.backend);
};

/** What `valueAndGradWithAux` returns: f's value, its gradient with respect to `params`, and f's aux. */
export interface ValueAndGrad<P, Aux> {
  /** f's one-element result, detached from the graph. */
  readonly value: Tensor;
  /** d value / d params, with exactly the structure of `params`. */
  readonly grad: P;
  /** f's second result, detached. */
  readonly aux: Aux;
}

const run = <P, A extends unknown[], Aux>(
  f: (params: P, ...args: A) => readonly [Tensor, Aux],
  params: P,
  args: A,
): ValueAndGrad<P, Aux> => {
  const leaves = treeMap(params, attach);
  const traced = trace(f, leaves, args, (value) => {
    if (!(value instanceof Tensor) || value.size !== 1) {
      throw new Error(
        `valueAndGrad: f must return a tensor with one value, got ${value instanceof Tensor ? shapeStr(value.shape) : typeof value}`,
      );
    }
    const seedData = storage(value).slice();
    seedData[0] = 1;
    return fromStorage(value.shape, seedData, value.backend);
  });
  const grads = backprop(traced.root, traced.seed);
  const grad = treeMap(leaves, (leaf) => {
    const g = grads.get(leaf.node!);
    return g === undefined
      ? zerosLike(leaf)
      : g.shape.length === leaf.shape.length
        ? g
        : fromStorage(leaf.shape, storage(g), leaf.backend);
  });
  return { value: traced.value, grad, aux: traced.aux };
};

/**
 * `valueAndGrad(f)(params, ...args)` → `{ value, grad }` where `grad` has exactly the structure of
 * `params`. `f` must return a one-element tensor. Only `params` are differentiated; `args` are
 * constants.
 */
export const valueAndGrad =
  <P, A extends unknown[]>(f: (params: P, ...args: A) => Tensor) =>
  (
    params: P,
    ...args: A
  ): {
    /** f's one-element result, detached from the graph. */
    readonly value: Tensor;
    /** d value / d params, with exactly the structure of `params`. */
    readonly grad: P;
  } => {
    const r = run((p: P, ...a: A) => [f(p, ...a), undefined] as const, params, args);
    return { value: r.value, grad: r.grad };
  };

/** Like `valueAndGrad`, for an `f` that returns `[loss, aux]`; aux comes back detached. */
export const valueAndGradWithAux =
  <P, A extends unknown[], Aux>(f: (params: P, ...args: A) => readonly [Tensor, Aux]) =>
  (params: P, ...args: A): ValueAndGrad<P, Aux> =>
    run(f, params, args);

/** The gradient alone. */
export const grad =
  <P, A extends unknown[]>(f: (params: P, ...args: A) => Tensor) =>
  (params: P, ...args: A): P =>
    valueAndGrad(f)(params, ...args).grad;

/**
 * Vector-Jacobian product of `f` at `params` with cotangent `dy` (same shape as f's output).
 * Used by the gradient laws; `valueAndGrad` is the special case dy = 1.
 */
export const vjp = <P>(
  f: (params: P) => Tensor,
  params: P,
  dy: Tensor,
): { readonly value: Tensor; readonly grad: P } => {
  const leaves = treeMap(params, attach);
  const traced = trace(
    (p: P) => [f(p), undefined] as const,
    leaves,
    // Stryker disable next-line ArrayDeclaration: equivalent (the traced function takes no arguments)
    [],
    (value) => {
      if (value.size !== dy.size || value.dtype !== dy.dtype) {
        throw new Error(
          `vjp: cotangent ${dy.dtype} ${shapeStr(dy.shape)} does not match output ${value.dtype} ${shapeStr(value.shape)}`,
        );
      }
      return fromStorage(value.shape, storage(dy), value.backend);
    },
  );
  const grads = backprop(traced.root, traced.seed);
  const gradTree = treeMap(leaves, (leaf) => grads.get(leaf.node!) ?? zerosLike(leaf));
  return { value: traced.value, grad: gradTree };
};
