/**
 * Training hyperparameters, with the official `cfg_pretrain.yaml` names where one exists.
 */
import * as t from 'io-ts';

export const TrainHyper = t.type({
  /** Global batch size (official `global_batch_size`). */
  global_batch_size: t.number,
  lr: t.number,
  lr_min_ratio: t.number,
  lr_warmup_steps: t.number,
  /** Total optimizer steps (the official code derives it from epochs; here it is explicit). */
  total_steps: t.number,
  beta1: t.number,
  beta2: t.number,
  weight_decay: t.number,
  puzzle_emb_lr: t.number,
  puzzle_emb_weight_decay: t.number,
  ema: t.boolean,
  ema_rate: t.number,
  seed: t.number,
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
