/**
 * The learning-rate schedule (§6.3, `cosine_schedule_with_warmup_lr_lambda` in `pretrain.py`):
 * linear warmup from 0, then a half cosine from base down to base·minRatio at totalSteps.
 * With the official default minRatio = 1 the rate is constant after warmup.
 */

export interface CosineScheduleOptions {
  /** The optimizer's base learning rate (`lr` or `puzzle_emb_lr`). */
  readonly baseLr: number;
  /** `lr_warmup_steps`; rounded as Python's round() does (halves to even), as the official code does. */
  readonly warmupSteps: number;
  /** `total_steps`. */
  readonly totalSteps: number;
  /** `lr_min_ratio`; default 1 (the official default: constant after warmup). */
  readonly minRatio?: number;
  /** Default 0.5: a half cosine over the post-warmup steps. */
  readonly numCycles?: number;
}

/** Python 3's round(): nearest integer, halves to even. */
export const pyRound = (x: number): number => {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
};

/**
 * The learning rate at `step` (1-based in the official loop: the first optimizer step uses
 * base/W). For step < W: base·step/max(1, W). Otherwise, with p = (step − W)/max(1, total − W):
 * base·(r + max(0, (1 − r)·0.5·(1 + cos(π·numCycles·2·p)))).
 */
export const cosineScheduleWithWarmup = (opts: CosineScheduleOptions): ((step: number) => number) => {
  const base = opts.baseLr;
  const W = pyRound(opts.warmupSteps);
  const total = opts.totalSteps;
  const r = opts.minRatio ?? 1;
  const cycles = opts.numCycles ?? 0.5;
  return (step: number): number => {
    if (step < W) return (base * step) / Math.max(1, W);
    const p = (step - W) / Math.max(1, total - W);
    return base * (r + Math.max(0, (1 - r) * 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * p))));
  };
};
