/**
 * Optimizers as pure (init, update) pairs over parameter trees (§6.4 and §7 of the official notes).
 *
 * A parameter tree is any nesting of records and arrays whose leaves are float tensors; `null`
 * (and other non-tensor) leaves pass through untouched. `update` never writes a tensor: it returns
 * new parameters and a new state, and the inputs stay valid.
 *
 * ## Arithmetic
 * Parameters are fp32 in the official run and the optimizers compute in fp32 "opmath". Every
 * element is computed in JS doubles and rounded to the parameter's dtype (Math.fround for float32,
 * nothing for float64) **after each arithmetic operation the official kernel performs in fp32**:
 *
 * - AdamATan2 is one fused CUDA kernel (`adam_math` in `csrc/adam_atan2.cu`). It loads θ, g, m, v
 *   into fp32 registers, so every operation rounds to fp32; its `lerp` is two FMAs
 *   (`fma(t, v1, fma(−t, v0, v0))`, one rounding each) and `param -= step_size * atan2(...)` is
 *   contracted to one FMA by nvcc. The scalar constants (1 − lr·λ, 1 − β1, 1 − β2, lr/(1 − β1^t),
 *   √(1 − β2^t)) are computed in double on the host and cast to fp32. We transcribe exactly that
 *   order. A product of two fp32 numbers is exact in double, so an FMA is emulated as one double
 *   operation and one fround (exact up to a double-rounding tie, which is vanishingly rare). The
 *   one op we cannot match bit for bit is CUDA's `atan2f` (≈ 2 ulp); we use the correctly rounded
 *   double atan2, then round. So results agree with the GPU within a few fp32 ulps, and they are
 *   deterministic and bit-reproducible here, which is what checkpoint resume needs.
 * - AdamW follows `torch.optim.AdamW` (single-tensor path): one rounding per tensor op
 *   (mul_, lerp_, mul_, addcmul_, sqrt, div, add_, addcdiv_).
 * - SignSGD follows `_sparse_emb_signsgd_dist`: `p.mul_(1 − lr·wd).add_(sign(g), alpha=−lr)`.
 *
 * ## State
 * Both Adam variants share `AdamState<P>`: a global step count and the two moment trees, shaped
 * like the parameters (null where the parameters are null). PyTorch keeps one `step` per parameter;
 * here every parameter that gets a gradient shares one step. A tensor parameter whose gradient leaf
 * is `null`/`undefined` is skipped (no decay, moments unchanged), as PyTorch skips `p.grad is None`;
 * in TRM every parameter gets a gradient at every step, so the shared step equals PyTorch's.
 * `optimizerStateTensors`/`optimizerStateScalars` and `restoreOptimizerState` turn the state into
 * named tensors plus `{ step }` and back, bit for bit.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Tensor, fromStorage, storage } from '../tensor/tensor.js';
import { allocate } from '../core/dtype.js';
import { sameShape, shapeStr } from '../core/shape.js';
import { treeLeaves, treeUnflatten, treeZipWith } from '../tensor/tree.js';

// ---------------------------------------------------------------------------------------------
// Types

/** The moments of Adam-style optimizers, shaped like the parameter tree `P`. */
export interface AdamState<P> {
  /** Number of updates taken so far (the official `step`, incremented before each update). */
  readonly step: number;
  /** First moment, PyTorch `exp_avg`. */
  readonly expAvg: P;
  /** Second moment, PyTorch `exp_avg_sq`. */
  readonly expAvgSq: P;
}

/** What one optimizer update returns: new parameters and state (the inputs are not written). */
export interface OptimizerStep<P> {
  /** The parameters after the update. */
  readonly params: P;
  /** The optimizer state after the update. */
  readonly state: AdamState<P>;
}

/** A pure optimizer: `init` builds the state for a parameter tree, `update` takes one step at `lr`. */
export interface Optimizer {
  /** The optimizer's name, e.g. `adamAtan2`. */
  readonly name: string;
  /** The state before the first update: step 0 and zero moments shaped like `params`. */
  readonly init: <P>(params: P) => AdamState<P>;
  /** One update of `params` by `grads` (same tree structure) at learning rate `lr`. */
  readonly update: <P>(params: P, grads: P, state: AdamState<P>, lr: number) => OptimizerStep<P>;
}

export interface AdamAtan2Options {
  /** Default 0.9 (TRM's `beta1`). */
  readonly beta1?: number;
  /** Default 0.95 (TRM's `beta2`; the package default is 0.999). */
  readonly beta2?: number;
  /** Decoupled weight decay λ, scaled by lr. Default 0.1 (TRM's `weight_decay`). */
  readonly weightDecay?: number;
}

export interface AdamWOptions {
  /** Default 0.9. */
  readonly beta1?: number;
  /** Default 0.999 (PyTorch's default). */
  readonly beta2?: number;
  /** Default 1e-8. */
  readonly eps?: number;
  /** Decoupled weight decay λ, scaled by lr. Default 0.01 (PyTorch's default). */
  readonly weightDecay?: number;
}

// ---------------------------------------------------------------------------------------------
// Tree plumbing

/** Visits every tensor leaf of `params` with the tensors at the same place in `others` (null where absent). */
const walkLeaves = (
  op: string,
  params: unknown,
  others: readonly unknown[],
  f: (p: Tensor, os: (Tensor | null)[], path: string) => void,
): void => {
  treeZipWith(op, params, others, (p, os, path) => {
    f(p, os, path);
    return p;
  });
};

const checkLeaf = (op: string, what: string, p: Tensor, t: Tensor, path: string): void => {
  if (!sameShape(p.shape, t.shape)) {
    throw new Error(`${op}: ${what} at '${path}' has shape ${shapeStr(t.shape)}, the parameter ${shapeStr(p.shape)}`);
  }
};

const checkParam = (op: string, p: Tensor, path: string): void => {
  if (p.dtype === 'int32') throw new Error(`${op}: parameter '${path}' is int32; optimizers need float tensors`);
};

const checkLr = (op: string, lr: number): void => {
  if (!Number.isFinite(lr)) throw new Error(`${op}: learning rate ${lr} is not finite`);
};

const zerosLike = (t: Tensor): Tensor => fromStorage(t.shape, allocate(t.dtype, t.size), t.backend);

/** Rounds to the storage precision: fround for float32, identity for float64. */
const rounder = (p: Tensor): ((x: number) => number) => (p.dtype === 'float32' ? Math.fround : (x) => x);

const initAdam = <P>(op: string, params: P): AdamState<P> => {
  const zs: Tensor[] = [];
  walkLeaves(op, params, [], (p, _os, path) => {
    checkParam(op, p, path);
    zs.push(zerosLike(p));
  });
  return { step: 0, expAvg: treeUnflatten(params, zs), expAvgSq: treeUnflatten(params, zs) };
};

/** Per-element kernel: reads θ, g, m, v at i and writes θ', m', v' at i. */
type Kernel = (
  r: (x: number) => number,
  th: ArrayLike<number>,
  g: ArrayLike<number>,
  m: ArrayLike<number>,
  v: ArrayLike<number>,
  thOut: { [i: number]: number },
  mOut: { [i: number]: number },
  vOut: { [i: number]: number },
  n: number,
) => void;

const updateAdam = <P>(
  op: string,
  params: P,
  grads: P,
  state: AdamState<P>,
  lr: number,
  kernelAt: (step: number) => Kernel,
): OptimizerStep<P> => {
  checkLr(op, lr);
  const step = state.step + 1;
  const kernel = kernelAt(step);
  const ps: Tensor[] = [];
  const ms: Tensor[] = [];
  const vs: Tensor[] = [];
  walkLeaves(op, params, [grads, state.expAvg, state.expAvgSq], (p, os, path) => {
    // One entry per other tree; an absent leaf is null (never undefined).
    const [g, m, v] = os as [Tensor | null, Tensor | null, Tensor | null];
    checkParam(op, p, path);
    if (m === null || v === null) {
      throw new Error(`${op}: the optimizer state has no moments for parameter '${path}'`);
    }
    checkLeaf(op, 'exp_avg', p, m, path);
    checkLeaf(op, 'exp_avg_sq', p, v, path);
    if (g === null) {
      ps.push(p);
      ms.push(m);
      vs.push(v);
      return;
    }
    checkLeaf(op, 'gradient', p, g, path);
    const thOut = allocate(p.dtype, p.size);
    const mOut = allocate(p.dtype, p.size);
    const vOut = allocate(p.dtype, p.size);
    kernel(rounder(p), storage(p), storage(g), storage(m), storage(v), thOut, mOut, vOut, p.size);
    ps.push(fromStorage(p.shape, thOut, p.backend));
    ms.push(fromStorage(p.shape, mOut, p.backend));
    vs.push(fromStorage(p.shape, vOut, p.backend));
  });
  return {
    params: treeUnflatten(params, ps),
    state: { step, expAvg: treeUnflatten(params, ms), expAvgSq: treeUnflatten(params, vs) },
  };
};

// ---------------------------------------------------------------------------------------------
// AdamATan2

/**
 * AdamATan2 exactly as the official code runs it (imoneoi/adam_atan2 HEAD, §7). Per element, with
 * the step t incremented first:
 *   θ ← θ·(1 − lr·λ);  m ← m + (1−β1)(g − m);  v ← v + (1−β2)(g² − v);
 *   θ ← θ − (lr/(1−β1^t))·atan2(m, √v/√(1−β2^t)).
 * No epsilon. Weight decay hits every parameter (TRM uses no exclusion groups).
 */
export const adamAtan2 = (opts: AdamAtan2Options = {}): Optimizer => {
  const beta1 = opts.beta1 ?? 0.9;
  const beta2 = opts.beta2 ?? 0.95;
  const wd = opts.weightDecay ?? 0.1;
  const op = 'adamAtan2';
  const kernelAt =
    (lr: number) =>
    (t: number): Kernel =>
    (r, th, g, m, v, thOut, mOut, vOut, n) => {
      // Host-side constants, in double, then cast to opmath.
      const wdAlpha = r(1 - lr * wd);
      const mb1 = r(1 - beta1);
      const mb2 = r(1 - beta2);
      const stepSize = r(lr / (1 - Math.pow(beta1, t)));
      const bc2Sqrt = r(Math.sqrt(1 - Math.pow(beta2, t)));
      // Stryker disable next-line EqualityOperator: equivalent (a write past the end of a typed array is dropped)
      for (let i = 0; i < n; i++) {
        const gi = r(g[i]!);
        let p = r(th[i]! * wdAlpha);
        const m0 = m[i]!;
        const v0 = v[i]!;
        const m1 = r(mb1 * gi + r(m0 - mb1 * m0)); // lerp = fma(t, g, fma(−t, m, m))
        const v1 = r(mb2 * r(gi * gi) + r(v0 - mb2 * v0));
        const denom = r(r(Math.sqrt(v1)) / bc2Sqrt);
        const a = r(Math.atan2(m1, denom));
        p = r(p - stepSize * a); // fma
        thOut[i] = p;
        mOut[i] = m1;
        vOut[i] = v1;
      }
    };
  return {
    name: 'adamAtan2',
    init: (params) => initAdam(op, params),
    update: (params, grads, state, lr) => updateAdam(op, params, grads, state, lr, kernelAt(lr)),
  };
};

// ---------------------------------------------------------------------------------------------
// AdamW

/**
 * Standard decoupled AdamW (torch.optim.AdamW), for comparison:
 *   θ ← θ·(1 − lr·λ);  m ← m + (1−β1)(g − m);  v ← β2·v + (1−β2)·g²;
 *   θ ← θ − (lr/(1−β1^t))·m / (√v/√(1−β2^t) + ε).
 */
export const adamW = (opts: AdamWOptions = {}): Optimizer => {
  const beta1 = opts.beta1 ?? 0.9;
  const beta2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 0.01;
  const op = 'adamW';
  const kernelAt =
    (lr: number) =>
    (t: number): Kernel =>
    (r, th, g, m, v, thOut, mOut, vOut, n) => {
      const wdAlpha = r(1 - lr * wd);
      const mb1 = r(1 - beta1);
      const b2 = r(beta2);
      const mb2 = r(1 - beta2);
      const stepSize = r(lr / (1 - Math.pow(beta1, t)));
      const bc2Sqrt = r(Math.sqrt(1 - Math.pow(beta2, t)));
      const e = r(eps);
      // Stryker disable next-line EqualityOperator: equivalent (a write past the end of a typed array is dropped)
      for (let i = 0; i < n; i++) {
        const gi = r(g[i]!);
        const m0 = m[i]!;
        const p = r(th[i]! * wdAlpha); // param.mul_(1 − lr·λ)
        const m1 = r(m0 + mb1 * r(gi - m0)); // exp_avg.lerp_(grad, 1 − β1)
        const v1 = r(r(v[i]! * b2) + mb2 * gi * gi); // exp_avg_sq.mul_(β2).addcmul_(g, g, value=1 − β2)
        const denom = r(r(r(Math.sqrt(v1)) / bc2Sqrt) + e); // (sqrt / bc2_sqrt).add_(eps)
        thOut[i] = r(p - (stepSize * m1) / denom); // param.addcdiv_(m, denom, value=−step_size)
        mOut[i] = m1;
        vOut[i] = v1;
      }
    };
  return {
    name: 'adamW',
    init: (params) => initAdam(op, params),
    update: (params, grads, state, lr) => updateAdam(op, params, grads, state, lr, kernelAt(lr)),
  };
};

// ---------------------------------------------------------------------------------------------
// Sparse SignSGD for the puzzle embedding table

/**
 * One step of the official sparse SignSGD (`CastedSparseEmbeddingSignSGD_Distributed`) on the
 * puzzle-embedding table `table` [numIds, ndim], for a batch with ids `ids` [B] (int32) and the
 * per-row gradients `grads` [B, ndim] (the official `local_weights.grad`).
 *
 * The gradients of repeated ids are summed first (in id order, rounded to the table's dtype after
 * each addition like scatter_add_); then, for those rows only,
 *   w ← w·(1 − lr·wd) − lr·sign(g),  sign(0) = 0.
 * Rows absent from the batch are copied unchanged (no decay). Returns a new table.
 */
export const signSgdSparse = (table: Tensor, ids: Tensor, grads: Tensor, lr: number, weightDecay: number): Tensor => {
  const op = 'signSgdSparse';
  checkLr(op, lr);
  if (table.rank !== 2 || table.dtype === 'int32') {
    throw new Error(
      `${op}: the table must be a float [numIds, ndim] tensor, got ${table.dtype} ${shapeStr(table.shape)}`,
    );
  }
  const [numIds, D] = table.shape as [number, number];
  if (ids.dtype !== 'int32' || ids.rank !== 1) {
    throw new Error(`${op}: ids must be an int32 [B] tensor, got ${ids.dtype} ${shapeStr(ids.shape)}`);
  }
  const B = ids.shape[0]!;
  if (!sameShape(grads.shape, [B, D])) {
    throw new Error(`${op}: gradients ${shapeStr(grads.shape)} do not match ids [${B}] and table width ${D}`);
  }
  const r = rounder(table);
  const idv = storage(ids);
  const gv = storage(grads);
  // unique(ids) + scatter_add_: summed gradient per distinct id.
  const summed = new Map<number, Float64Array>();
  // Stryker disable next-line EqualityOperator: equivalent (row B reads an undefined id; its writes, at NaN offsets, are dropped)
  for (let b = 0; b < B; b++) {
    const id = idv[b]!;
    if (id < 0 || id >= numIds) throw new Error(`${op}: id ${id} at row ${b} is outside [0, ${numIds})`);
    let acc = summed.get(id);
    if (acc === undefined) {
      acc = new Float64Array(D);
      summed.set(id, acc);
    }
    // Stryker disable next-line EqualityOperator: equivalent (a write past the end of a typed array is dropped)
    for (let d = 0; d < D; d++) acc[d] = r(acc[d]! + r(gv[b * D + d]!));
  }
  const out = storage(table).slice();
  const decay = r(1 - lr * weightDecay);
  const alpha = r(lr);
  for (const [id, g] of summed) {
    for (let d = 0; d < D; d++) {
      const k = id * D + d;
      const w = r(out[k]! * decay);
      out[k] = r(w - alpha * Math.sign(g[d]!));
    }
  }
  return fromStorage(table.shape, out, table.backend);
};

// ---------------------------------------------------------------------------------------------
// Serialisation

/** Tensor-name prefixes of the two moment trees (PyTorch's state keys). */
export const EXP_AVG = 'exp_avg';
export const EXP_AVG_SQ = 'exp_avg_sq';

const keyOf = (prefix: string, slot: string, path: string): string => `${prefix}${slot}${path ? `.${path}` : ''}`;

/**
 * The state's tensors by name: `<prefix>exp_avg.<path>` and `<prefix>exp_avg_sq.<path>`, with the
 * parameter paths of treeLeaves (e.g. `exp_avg.blocks.0.mlp.gateUp`). The tensors are the state's
 * own (immutable) tensors, so writing them out loses nothing.
 */
export const optimizerStateTensors = <P>(state: AdamState<P>, prefix = ''): Map<string, Tensor> => {
  const out = new Map<string, Tensor>();
  for (const [path, t] of treeLeaves(state.expAvg)) out.set(keyOf(prefix, EXP_AVG, path), t);
  for (const [path, t] of treeLeaves(state.expAvgSq)) out.set(keyOf(prefix, EXP_AVG_SQ, path), t);
  return out;
};

/** The state's scalars (store them next to the tensors, e.g. in the checkpoint metadata). */
export const optimizerStateScalars = <P>(state: AdamState<P>): { readonly step: number } => ({ step: state.step });

/**
 * The inverse of `optimizerStateTensors` + `optimizerStateScalars`: rebuilds the state for the
 * parameter tree `params` from the named tensors. Every moment must be present with the
 * parameter's shape and dtype; names under `<prefix>exp_avg` that match no parameter are an error
 * too. Other names in `tensors` (model weights, ...) are ignored. The tensors are taken as they
 * are (values bit for bit).
 */
export const restoreOptimizerState = <P>(
  params: P,
  tensors: ReadonlyMap<string, Tensor>,
  scalars: { readonly step: number },
  prefix = '',
): E.Either<string, AdamState<P>> => {
  if (!Number.isInteger(scalars.step) || scalars.step < 0) {
    return E.left(`optimizer state: step ${scalars.step} is not a non-negative integer`);
  }
  const leaves = treeLeaves(params).map(([path, p]): [Tensor, string] => [p, path]);
  const expected = new Set<string>();
  const slots: [Tensor[], Tensor[]] = [[], []];
  for (const [p, path] of leaves) {
    for (const [s, slot] of [EXP_AVG, EXP_AVG_SQ].entries()) {
      const name = keyOf(prefix, slot, path);
      expected.add(name);
      const t = tensors.get(name);
      if (t === undefined)
        return E.left(`optimizer state: missing tensor '${name}' (expected ${p.dtype} ${shapeStr(p.shape)})`);
      if (!sameShape(t.shape, p.shape)) {
        return E.left(`optimizer state: '${name}' has shape ${shapeStr(t.shape)}, the parameter ${shapeStr(p.shape)}`);
      }
      if (t.dtype !== p.dtype) return E.left(`optimizer state: '${name}' is ${t.dtype}, the parameter ${p.dtype}`);
      slots[s as 0 | 1].push(fromStorage(t.shape, storage(t), p.backend));
    }
  }
  for (const name of tensors.keys()) {
    const ours = [EXP_AVG, EXP_AVG_SQ].some(
      (slot) => name === `${prefix}${slot}` || name.startsWith(`${prefix}${slot}.`),
    );
    if (ours && !expected.has(name)) return E.left(`optimizer state: tensor '${name}' matches no parameter`);
  }
  return E.right({
    step: scalars.step,
    expAvg: treeUnflatten(params, slots[0]),
    expAvgSq: treeUnflatten(params, slots[1]),
  });
};
