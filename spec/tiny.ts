/**
 * Tiny random TRMs for the model-level laws: a config small enough to run a supervision step in
 * milliseconds, a random batch, a model whose Q head carries signal, and one supervision step.
 */
import type { Key } from '../src/random/key.js';
import { key, split } from '../src/random/key.js';
import { normal, randint } from '../src/random/sample.js';
import { type Tensor, storage, tensor } from '../src/tensor/tensor.js';
import {
  type Batch,
  type Carry,
  type StepOptions,
  type StepResult,
  type Trainable,
  puzzleRows,
  startStep,
  stepContext,
  stepForward,
} from '../src/trm/act.js';
import { type OfficialConfigInput, type TrmConfig, makeConfig } from '../src/trm/config.js';
import { type TrmState, initState } from '../src/trm/params.js';

/** Three rows of four tokens, D = 8, one block, T = n = 2, N_sup = 4, no exploration. */
export const tiny = (over: Partial<OfficialConfigInput> = {}): TrmConfig =>
  makeConfig({
    vocab_size: 5,
    seq_len: 4,
    batch_size: 3,
    num_puzzle_identifiers: 4,
    hidden_size: 8,
    num_heads: 2,
    expansion: 1,
    H_cycles: 2,
    L_cycles: 2,
    L_layers: 1,
    puzzle_emb_ndim: 8,
    puzzle_emb_len: 1,
    halt_max_steps: 4,
    halt_exploration_prob: 0,
    forward_dtype: 'float32',
    ...over,
  });

export const keys = (k: Key, n: number): Key[] => split(k, n) as Key[];

/** A random batch for `cfg`, every label a target. */
export const batchOf = (cfg: TrmConfig, seed: number): Batch => {
  const [a, b, c] = keys(key(seed), 3);
  return {
    inputs: randint(a!, [cfg.batchSize, cfg.seqLen], 0, cfg.vocabSize),
    labels: randint(b!, [cfg.batchSize, cfg.seqLen], 0, cfg.vocabSize),
    puzzleIdentifiers: randint(c!, [cfg.batchSize], 0, cfg.numPuzzleIdentifiers),
  };
};

/** A model whose Q head carries signal (weights N(0, 1)) and whose halt bias is `qBias`. */
export const modelOf = (cfg: TrmConfig, seed: number, qBias = 0, qContinueBias = 0): TrmState => {
  const [k1, k2, k3] = keys(key(seed), 3);
  const s = initState(cfg, k1!);
  return {
    params: { ...s.params, qHead: { weight: normal(k2!, [2, cfg.D]), bias: tensor([qBias, qContinueBias]) } },
    buffers: { ...s.buffers, puzzleEmb: normal(k3!, s.buffers.puzzleEmb.shape as number[]) },
  };
};

/** Extra step options: the halting rule in evaluation, given exploration draws, probes, dtype. */
export interface StepExtras extends Pick<StepOptions, 'halt' | 'minHaltSteps'> {
  readonly probe?: boolean;
  readonly dtype?: 'float32' | 'float64';
}

/** One supervision step (startStep, then stepForward) of `m` on `batch`. */
export const step = (
  cfg: TrmConfig,
  m: TrmState,
  carry: Carry,
  batch: Batch,
  k: Key,
  mode: 'train' | 'eval' = 'train',
  { probe = false, dtype = 'float32', ...extras }: StepExtras = {},
): StepResult => {
  const started = startStep(cfg, m.buffers, carry, batch);
  const w: Trainable = { params: m.params, puzzleRows: puzzleRows(cfg, m.buffers, started.data) };
  const ctx = { ...stepContext(cfg, undefined, dtype), probe };
  return stepForward(cfg, ctx, w, started, { mode, lossType: 'stablemax_cross_entropy', key: k, ...extras });
};

export const ints = (t: Tensor): number[] => Array.from(storage(t));
