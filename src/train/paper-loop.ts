/**
 * The paper's training loop (Figure 3), for readers. The official code (loop.ts) batches
 * differently — a persistent carry where each optimizer step is ONE supervision step for every
 * row — but each row sees the same sequence of computations. This version follows the pseudocode
 * line by line:
 *
 *   for x_input, y_true in train_dataloader:
 *     y, z = y_init, z_init
 *     for step in range(N_supervision):
 *       x = input_embedding(x_input)
 *       (y, z), y_hat, q_hat = deep_recursion(x, y, z)
 *       loss = softmax_cross_entropy(y_hat, y_true)          # official: stablemax
 *       loss += binary_cross_entropy(q_hat, (y_hat == y_true))
 *       loss.backward(); opt.step(); opt.zero_grad()
 *       if q_hat > 0: break                                   # here: when every row's q_hat > 0
 */
import { valueAndGradWithAux } from '../autodiff/grad.js';
import { mul } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import {
  type Batch,
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
import type { LossType } from '../trm/loss.js';
import type { AdamState, Optimizer } from './optim.js';
import { signSgdSparse } from './optim.js';

export interface PaperLoopState {
  readonly model: TrmState;
  readonly opt: AdamState<TrmParams>;
}

export interface PaperLoopOptions {
  readonly optimizer: Optimizer;
  readonly lr: number;
  readonly puzzleEmbLr: number;
  readonly puzzleEmbWeightDecay: number;
  readonly lossType: LossType;
}

/** One minibatch of Figure 3: up to N_sup supervision steps, an optimizer step after each. */
export const paperTrainBatch = (
  cfg: TrmConfig,
  ctx: RecursionContext,
  s: PaperLoopState,
  batch: Batch,
  o: PaperLoopOptions,
): { state: PaperLoopState; supervisionSteps: number; losses: number[] } => {
  // y, z = y_init, z_init: the initial carry has every row halted, so startStep resets it.
  let carry = startStep(cfg, s.model.buffers, initialCarry(cfg, batch, s.model.buffers.yInit.dtype), batch);
  let state = s;
  const losses: number[] = [];
  const B = batch.inputs.shape[0]!;
  for (let step = 0; step < cfg.nSup; step++) {
    const w: Trainable = { params: state.model.params, puzzleRows: puzzleRows(cfg, state.model.buffers, carry.data) };
    // x = input_embedding(x_input); (y, z), y_hat, q_hat = deep_recursion(x, y, z); the loss.
    // Evaluation-mode halting: the paper's loop decides when to stop itself (below).
    const { grad, aux } = valueAndGradWithAux((p: Trainable): readonly [Tensor, StepResult] => {
      const r = stepForward(cfg, ctx, p, carry, { mode: 'eval', lossType: o.lossType });
      return [mul(r.loss.total, 1 / B), r] as const;
    })(w);
    losses.push(aux.loss.total.data[0]! / B);
    // loss.backward(); opt.step(); opt.zero_grad()
    const { params, state: opt } = o.optimizer.update(state.model.params, grad.params, state.opt, o.lr);
    const puzzleEmb =
      cfg.puzzleEmbNdim > 0
        ? signSgdSparse(
            state.model.buffers.puzzleEmb,
            carry.data.puzzleIdentifiers,
            grad.puzzleRows,
            o.puzzleEmbLr,
            o.puzzleEmbWeightDecay,
          )
        : state.model.buffers.puzzleEmb;
    state = { model: { params, buffers: { ...state.model.buffers, puzzleEmb } }, opt };
    // (y, z) carry on, detached; no row is reset inside a minibatch (stepForward never resets).
    carry = aux.carry;
    // if q_hat > 0: break
    if (Array.from(aux.qHalt.data).every((q) => q > 0)) return { state, supervisionSteps: step + 1, losses };
  }
  return { state, supervisionSteps: cfg.nSup, losses };
};
