/**
 * Parameter trees of tensors: the one instance of the tree functions of
 * [core/tree.ts](../core/tree.ts), used by autodiff, the optimizers, EMA and checkpoints. Non-tensor
 * leaves (numbers, strings, null) pass through unchanged.
 */
import { treeOps } from '../core/tree.js';
import { Tensor } from './tensor.js';

import type { Tree as CoreTree } from '../core/tree.js';

/** A tree whose leaves are tensors. */
export type Tree = CoreTree<Tensor>;

const tensorTree = treeOps((v: unknown): v is Tensor => v instanceof Tensor, 'tensor');

/** Applies `f` to every tensor leaf, keeping the structure (and its TypeScript type). */
export const treeMap = tensorTree.map;
/** Combines two trees of the same structure leaf by leaf. */
export const treeZip = tensorTree.zip;
/** Walks a tree with others that may hold null in its places (moments of unused parameters, …). */
export const treeZipWith = tensorTree.zipWith;
/** The tensor leaves in a fixed order (depth first, keys in insertion order), with their paths. */
export const treeLeaves = tensorTree.flatten;
/** The structure of a tree with its tensor leaves replaced, in order. */
export const treeUnflatten = tensorTree.unflatten;
