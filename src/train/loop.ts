/**
 * The official training loop (`pretrain.py` §6), one optimizer step at a time, as a pure function:
 *
 *   trainStep(setup, state, batch) → { state', metrics }
 *
 * Semantics kept from the official code:
 * - the ACT carry persists across batches: each step runs ONE supervision step for every row;
 *   halted rows take the new batch's row, the others keep working on theirs;
 * - one optimizer step per supervision step; the loss is scaled by 1/global batch;
 * - AdamATan2 on all parameters, SignSGD on the rows of the sparse puzzle embedding the carry used;
 * - warmup then cosine with lr_min_ratio; EMA after every step when enabled;
 * - past total_steps a step changes nothing but the step count and the EMA (which still moves
 *   toward the unchanged weights), as the official `train_batch` returns early;
 * - metrics: values ending in `loss` divided by the global batch, the others by max(count, 1).
 * Randomness (halting exploration) comes from foldIn(key, step): a run is a function of its seed.
 */
import { valueAndGradWithAux } from '../autodiff/grad.js';
import { treeLeaves } from '../tensor/tree.js';
import { mul } from '../ops/index.js';
import { type Key, foldIn } from '../random/index.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  type Batch,
  type Carry,
  type StepResult,
  type Trainable,
  initialCarry,
  puzzleRows,
  startStep,
  stepForward,
} from '../trm/act.js';
import type { TrmConfig } from '../trm/config.js';
import type { TrmParams, TrmState } from '../trm/params.js';
import type { RecursionContext } from '../trm/recursion.js';
import { emaInit, emaUpdate } from './ema.js';
import type { TrainHyper } from './hyper.js';
import { type AdamState, type Optimizer, adamAtan2, signSgdSparse } from './optim.js';
import { cosineScheduleWithWarmup } from './schedule.js';

/** What stays fixed during a run: config, recursion context, hyperparameters, optimizer, schedules. */
export interface TrainSetup {
  /** The model config. */
  readonly cfg: TrmConfig;
  /** The recursion context of `stepContext` (sizes, RoPE tables). */
  readonly ctx: RecursionContext;
  /** The training hyperparameters. */
  readonly hyper: TrainHyper;
  /** AdamATan2 with the hyperparameters' betas and weight decay. */
  readonly optimizer: Optimizer;
  /** The parameters' learning rate at an optimizer step (1-based): warmup, then cosine. */
  readonly lr: (step: number) => number;
  /** The puzzle embedding's learning rate at an optimizer step, on the same schedule. */
  readonly puzzleEmbLr: (step: number) => number;
}

/** Everything training changes; `trainStep` returns a new state and never mutates this one. */
export interface TrainState {
  /** Optimizer steps taken so far (the official `step`, 1-based inside trainStep). */
  readonly step: number;
  /** The live parameters and buffers. */
  readonly model: TrmState;
  /** AdamATan2's state for the parameters. */
  readonly opt: AdamState<TrmParams>;
  /** The EMA of the parameters when `hyper.ema` is set; null otherwise. */
  readonly ema: TrmParams | null;
  /** null before the first batch (the official carry is created from the first batch). */
  readonly carry: Carry | null;
  /** The run's root key; step s uses foldIn(key, s). */
  readonly key: Key;
}

/** One optimizer step's metrics: losses divided by the global batch, the rest by max(count, 1). */
export interface TrainMetrics {
  /** The optimizer step (1-based). */
  readonly step: number;
  /** The parameters' learning rate at this step. */
  readonly lr: number;
  /** Total loss divided by the global batch size. */
  readonly loss: number;
  /** Token loss divided by the global batch size. */
  readonly lm_loss: number;
  /** Halting (q_halt) loss divided by the global batch size. */
  readonly q_halt_loss: number;
  /** Q-continue loss divided by the global batch size; absent without a continue target. */
  readonly q_continue_loss?: number;
  /** 1 when some row with a target halted at this step, else 0. */
  readonly count: number;
  /** Mean token accuracy of the rows that halted at this step. */
  readonly accuracy: number;
  /** Fraction of the halted rows predicted exactly. */
  readonly exact_accuracy: number;
  /** Fraction of the halted rows where (q_halt ≥ 0) agrees with exact correctness. */
  readonly q_halt_accuracy: number;
  /** Mean supervision steps of the halted rows. */
  readonly steps: number;
}

/** Builds the setup: AdamATan2 and the warmup-cosine schedules of `lr` and `puzzle_emb_lr`. */
export const makeSetup = (cfg: TrmConfig, ctx: RecursionContext, hyper: TrainHyper): TrainSetup => {
  const sched = (base: number) =>
    cosineScheduleWithWarmup({
      baseLr: base,
      warmupSteps: hyper.lr_warmup_steps,
      totalSteps: hyper.total_steps,
      minRatio: hyper.lr_min_ratio,
    });
  return {
    cfg,
    ctx,
    hyper,
    optimizer: adamAtan2({ beta1: hyper.beta1, beta2: hyper.beta2, weightDecay: hyper.weight_decay }),
    lr: sched(hyper.lr),
    puzzleEmbLr: sched(hyper.puzzle_emb_lr),
  };
};

/**
 * The state before the first step: fresh optimizer state, the EMA (if enabled) equal to the
 * parameters, no carry. `k` is the run's root key.
 */
export const initTrainState = (setup: TrainSetup, model: TrmState, k: Key): TrainState => ({
  step: 0,
  model,
  opt: setup.optimizer.init(model.params),
  ema: setup.hyper.ema ? emaInit(model.params) : null,
  carry: null,
  key: k,
});

/** Training stopped because a loss or gradient was not finite. */
export class NonFiniteError extends Error {
  constructor(
    /** The optimizer step (1-based) that produced the value. */
    readonly step: number,
    /** What was not finite: `loss` or `gradient of <parameter path>`. */
    readonly tensor: string,
  ) {
    super(`non-finite value at step ${step} in ${tensor}; training stopped (the last checkpoint is untouched)`);
    this.name = 'NonFiniteError';
  }
}

const firstNonFinite = (tree: unknown): string | null => {
  for (const [path, t] of treeLeaves(tree)) {
    for (let i = 0; i < t.size; i++) if (!Number.isFinite(t.data[i]!)) return path;
  }
  return null;
};

/** What one optimizer step computed, for inspection and cross-checking. */
export interface TrainStepDetail {
  /** The supervision step (carry, logits, losses, exploration draws, probes). */
  readonly result: StepResult;
  /** The gradients of the loss scaled by 1/global_batch_size. */
  readonly grad: Trainable;
  /** The learning rate AdamATan2 used at this step. */
  readonly lr: number;
  /** The learning rate the sparse SignSGD on the puzzle-embedding table used at this step. */
  readonly puzzleEmbLr: number;
}

/** Options of `trainStep`. */
export interface TrainStepOptions {
  /** Exploration draws to use instead of drawing them from the run's key (see `StepOptions`). */
  readonly minHaltSteps?: Tensor;
}

/** What `trainStep` returns. */
export interface TrainStepOutcome {
  /** The state after the step. */
  readonly state: TrainState;
  /** null past total_steps, where the official loop does nothing. */
  readonly metrics: TrainMetrics | null;
  /** What the step computed, for inspection; null past total_steps. */
  readonly detail: TrainStepDetail | null;
}

export interface Update {
  readonly model: TrmState;
  readonly opt: AdamState<TrmParams>;
  readonly ema: TrmParams | null;
  readonly lr: number;
  readonly puzzleEmbLr: number;
}

/**
 * The optimizer part of step `step` (1-based), given the scaled gradients: AdamATan2 on the
 * parameters at the scheduled rate, SignSGD on the puzzle-embedding rows `ids` (duplicates summed),
 * then the EMA of the updated parameters.
 */
export const applyUpdate = (setup: TrainSetup, s: TrainState, step: number, grad: Trainable, ids: Tensor): Update => {
  const { cfg, hyper } = setup;
  const lr = setup.lr(step);
  const puzzleEmbLr = setup.puzzleEmbLr(step);
  const { params, state: opt } = setup.optimizer.update(s.model.params, grad.params, s.opt, lr);
  const puzzleEmb =
    cfg.puzzleEmbNdim > 0
      ? signSgdSparse(s.model.buffers.puzzleEmb, ids, grad.puzzleRows, puzzleEmbLr, hyper.puzzle_emb_weight_decay)
      : s.model.buffers.puzzleEmb;
  const model: TrmState = { params, buffers: { ...s.model.buffers, puzzleEmb } };
  // Stryker disable next-line ConditionalExpression: equivalent (emaUpdate maps a null shadow to null)
  const ema = s.ema === null ? null : emaUpdate(s.ema, params, hyper.ema_rate);
  return { model, opt, ema, lr, puzzleEmbLr };
};

/** One optimizer step = one supervision step for every row of the carry. */
export const trainStep = (
  setup: TrainSetup,
  s: TrainState,
  batch: Batch,
  opts: TrainStepOptions = {},
): TrainStepOutcome => {
  const { cfg, ctx, hyper } = setup;
  const step = s.step + 1;
  if (step > hyper.total_steps) {
    // Official `train_batch`: `if step > total_steps: return`; the EMA is still updated after it.
    // Stryker disable next-line ConditionalExpression: equivalent (emaUpdate maps a null shadow to null)
    const ema = s.ema === null ? null : emaUpdate(s.ema, s.model.params, hyper.ema_rate);
    return { state: { ...s, step, ema }, metrics: null, detail: null };
  }
  const carry = s.carry ?? initialCarry(cfg, batch, s.model.buffers.yInit.dtype);
  const started = startStep(cfg, s.model.buffers, carry, batch);
  const w: Trainable = { params: s.model.params, puzzleRows: puzzleRows(cfg, s.model.buffers, started.data) };
  const scale = 1 / hyper.global_batch_size;
  const { value, grad, aux } = valueAndGradWithAux((p: Trainable): readonly [Tensor, StepResult] => {
    const r = stepForward(cfg, ctx, p, started, {
      mode: 'train',
      lossType: hyper.loss_type,
      key: foldIn(s.key, step),
      // Stryker disable next-line ConditionalExpression: equivalent (an absent and an undefined minHaltSteps read the same)
      ...(opts.minHaltSteps === undefined ? {} : { minHaltSteps: opts.minHaltSteps }),
    });
    return [mul(r.loss.total, scale), r] as const;
  })(w);

  if (!Number.isFinite(value.data[0]!)) throw new NonFiniteError(step, 'loss');
  const bad = firstNonFinite({ params: grad.params, puzzle_emb: grad.puzzleRows });
  if (bad !== null) throw new NonFiniteError(step, `gradient of ${bad}`);

  const { model, opt, ema, lr, puzzleEmbLr } = applyUpdate(setup, s, step, grad, started.data.puzzleIdentifiers);

  const m = aux.metrics;
  const per = Math.max(m.count, 1);
  const B = hyper.global_batch_size;
  const metrics: TrainMetrics = {
    step,
    lr,
    loss: aux.loss.total.data[0]! / B,
    lm_loss: aux.loss.lmLoss.data[0]! / B,
    q_halt_loss: aux.loss.qHaltLoss.data[0]! / B,
    ...(aux.loss.qContinueLoss === null ? {} : { q_continue_loss: aux.loss.qContinueLoss.data[0]! / B }),
    count: m.count / per,
    accuracy: m.accuracy / per,
    exact_accuracy: m.exact_accuracy / per,
    q_halt_accuracy: m.q_halt_accuracy / per,
    steps: m.steps / per,
  };
  return {
    state: { step, model, opt, ema, carry: aux.carry, key: s.key },
    metrics,
    detail: { result: aux, grad, lr, puzzleEmbLr },
  };
};

/** The weights to evaluate and save: the EMA when enabled (with the live buffers), else the live ones. */
export const evalModel = (s: TrainState): TrmState =>
  s.ema === null ? s.model : { params: s.ema, buffers: s.model.buffers };
