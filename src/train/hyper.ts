/**
 * Training hyperparameters, with the official `cfg_pretrain.yaml` names where one exists. Counts are
 * whole and positive, rates lie in their intervals: `total_steps: -3.5` does not decode.
 */
import * as t from 'io-ts';
import { Integer, NonNegativeInt, NonNegativeNumber, PositiveInt, UnitInterval } from '../io/codecs.js';

/** Codec of the training hyperparameters: decoding checks that counts are whole and rates in range. */
export const TrainHyper = t.type({
  /** Global batch size (official `global_batch_size`). */
  global_batch_size: PositiveInt,
  /** Base learning rate of AdamATan2 on the parameters. */
  lr: NonNegativeNumber,
  /** Final rate of the cosine decay as a fraction of the base; 1 keeps it constant after warmup. */
  lr_min_ratio: UnitInterval,
  /** Optimizer steps of linear warmup from 0. */
  lr_warmup_steps: NonNegativeInt,
  /** Total optimizer steps (the official code derives it from epochs; here it is explicit). */
  total_steps: PositiveInt,
  /** AdamATan2's first-moment decay. */
  beta1: UnitInterval,
  /** AdamATan2's second-moment decay. */
  beta2: UnitInterval,
  /** AdamATan2's decoupled weight decay, scaled by the learning rate. */
  weight_decay: NonNegativeNumber,
  /** Base learning rate of SignSGD on the sparse puzzle embedding. */
  puzzle_emb_lr: NonNegativeNumber,
  /** SignSGD's weight decay on the puzzle-embedding rows a batch uses. */
  puzzle_emb_weight_decay: NonNegativeNumber,
  /** Keep an exponential moving average of the parameters, evaluated in place of the live ones. */
  ema: t.boolean,
  /** EMA decay mu: shadow ← (1 − mu)·param + mu·shadow after every step. */
  ema_rate: UnitInterval,
  /** Seed of the run's root PRNG key. */
  seed: Integer,
  /** The token loss: stablemax (the official default) or softmax cross-entropy. */
  loss_type: t.union([t.literal('stablemax_cross_entropy'), t.literal('softmax_cross_entropy')]),
});
/** The decoded training hyperparameters. */
export type TrainHyper = t.TypeOf<typeof TrainHyper>;

/** The official defaults (cfg_pretrain.yaml), for reading and cross-checking. */
export const OFFICIAL_TRAIN_DEFAULTS: TrainHyper = {
  global_batch_size: 768,
  lr: 1e-4,
  lr_min_ratio: 1.0,
  lr_warmup_steps: 2000,
  total_steps: 100_000,
  beta1: 0.9,
  beta2: 0.95,
  weight_decay: 0.1,
  puzzle_emb_lr: 1e-2,
  puzzle_emb_weight_decay: 0.1,
  ema: false,
  ema_rate: 0.999,
  seed: 0,
  loss_type: 'stablemax_cross_entropy',
};
