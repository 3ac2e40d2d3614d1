/**
 * The overlay every accelerated backend is built with: the hand-over to a fallback backend, the
 * guard that refuses calls after close(), and the statistics, written once.
 *
 * A fast backend supplies only the kernels it accelerates. Each of them decides per call: it
 * computes the result (and counts it with `ledger.computed(op)`), or hands the call over with
 * `ledger.delegate(op, reason, run)`, which counts `op:reason` and runs the fallback's kernel.
 * Every kernel it does not supply is handed over whole, with the reason `reasonOf` gives.
 */
import type { Backend } from '../backend/backend.js';

/** The kernels of the Backend interface (everything but `name` and `close`). */
export type Kernels = Omit<Backend, 'name' | 'close'>;
export type KernelName = keyof Kernels;

export const KERNEL_NAMES: readonly KernelName[] = [
  'unary',
  'binary',
  'where',
  'reduce',
  'argmax',
  'matmul',
  'permute',
  'slice',
  'pad',
  'concat',
  'gather',
  'scatterAdd',
  'cast',
  'swiglu',
  'swigluGrad',
  'rmsNorm',
  'rmsNormGrad',
];

/** Counts of one backend's calls: what it computed itself, and what it handed over, by reason. */
export interface Ledger {
  /** Checks that the backend can still take `op` (throws otherwise). */
  readonly guard: (op: string) => void;
  /** Counts a call the fast backend computed. */
  readonly computed: (op: string) => void;
  /** Counts a hand-over (`op:reason`) and returns what `run` (the fallback's kernel) gives. */
  readonly delegate: <T>(op: string, reason: string, run: () => T) => T;
  /** Snapshots of the counts: op → calls computed, and 'op:reason' → calls handed over. */
  readonly computedCounts: () => Record<string, number>;
  readonly delegatedCounts: () => Record<string, number>;
}

export const ledger = (guard: (op: string) => void): Ledger => {
  const computed: Record<string, number> = {};
  const delegated: Record<string, number> = {};
  const bump = (rec: Record<string, number>, key: string): void => {
    rec[key] = (rec[key] ?? 0) + 1;
  };
  return {
    guard,
    computed: (op) => bump(computed, op),
    delegate: (op, reason, run) => {
      guard(op);
      bump(delegated, `${op}:${reason}`);
      return run();
    },
    computedCounts: () => ({ ...computed }),
    delegatedCounts: () => ({ ...delegated }),
  };
};

/**
 * The full Backend: `own` kernels as the fast backend wrote them, every other kernel handed to
 * `fallback` through the ledger with the reason `reasonOf(op, args)`, plus `extra` (stats(), …).
 */
export const overlay = <X extends object>(spec: {
  readonly name: string;
  readonly fallback: Backend;
  readonly ledger: Ledger;
  readonly own: Partial<Kernels>;
  readonly reasonOf: (op: KernelName, args: readonly unknown[]) => string;
  readonly close: () => void;
  readonly extra: X;
}): Backend & X => {
  const kernels = {} as Record<KernelName, unknown>;
  for (const op of KERNEL_NAMES) {
    const own = spec.own[op];
    kernels[op] =
      own ??
      ((...args: unknown[]) =>
        spec.ledger.delegate(op, spec.reasonOf(op, args), () =>
          (spec.fallback[op] as (...a: unknown[]) => unknown)(...args),
        ));
  }
  return Object.freeze({ ...spec.extra, ...(kernels as Kernels), name: spec.name, close: spec.close }) as Backend & X;
};
