/**
 * Training hyperparameters, with the official `cfg_pretrain.yaml` names where one exists. Counts are
 * whole and positive, rates lie in their intervals: `total_steps: -3.5` does not decode.
 */
import * as t from 'io-ts';
import { Integer, NonNegativeInt, NonNegativeNumber, PositiveInt, UnitInterval } from '../io/codecs.js';

export const TrainHyper = t.type({
  /** Global batch size (official `global_batch_size`). */
  global_batch_size: PositiveInt,
  lr: NonNegativeNumber,
  lr_min_ratio: UnitInterval,
  lr_warmup_steps: NonNegativeInt,
  /** Total optimizer steps (the official code derives it from epochs; here it is explicit). */
  total_steps: PositiveInt,
  beta1: UnitInterval,
  beta2: UnitInterval,
  weight_decay: NonNegativeNumber,
  puzzle_emb_lr: NonNegativeNumber,
  puzzle_emb_weight_decay: NonNegativeNumber,
  ema: t.boolean,
  ema_rate: UnitInterval,
  seed: Integer,
  loss_type: t.union([t.literal('stablemax_cross_entropy'), t.literal('softmax_cross_entropy')]),
});
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
