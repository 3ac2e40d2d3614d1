/**
 * The recursion of the paper (Figure 3), with the official names mapped once:
 *   y = z_H (the answer state), z = z_L (the latent), x = the input embedding.
 *
 *   net(state, injection)      = blocks(state + injection)              (official ReasoningModule)
 *   updateLatent(x, y, z)      = net(z, y + x)         z ← net(x, y, z)  n times
 *   refineAnswer(y, z)         = net(y, z)             y ← net(y, z)     never sees x
 *   latentRecursion(x, y, z)   = n × updateLatent, then refineAnswer
 *   deepRecursion(x, y, z)     = T−1 latentRecursions without gradient, then one with gradient
 */
import { stopGradient } from '../autodiff/grad.js';
import { add } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { type BlockContext, block } from './block.js';
import type { TrmParams } from './params.js';

export interface RecursionContext extends BlockContext {
  /** T: deep-recursion cycles. */
  readonly T: number;
  /** n: latent updates per cycle. */
  readonly n: number;
}

/** The one tiny network: its blocks applied to state + injection (no outer residual). */
export const net = (ctx: BlockContext, p: TrmParams, state: Tensor, injection: Tensor): Tensor =>
  p.blocks.reduce((h, b) => block(ctx, b, h), add(state, injection));

/** z ← net(x + y + z): the latent update, the only place where the question x enters. */
export const updateLatent = (ctx: BlockContext, p: TrmParams, x: Tensor, y: Tensor, z: Tensor): Tensor =>
  net(ctx, p, z, add(y, x));

/** y ← net(y + z): the answer is refined from (y, z) only. Its signature takes no x. */
export const refineAnswer = (ctx: BlockContext, p: TrmParams, y: Tensor, z: Tensor): Tensor => net(ctx, p, y, z);

export interface YZ {
  readonly y: Tensor;
  readonly z: Tensor;
}

export const latentRecursion = (ctx: RecursionContext, p: TrmParams, x: Tensor, { y, z }: YZ): YZ => {
  let zz = z;
  for (let i = 0; i < ctx.n; i++) zz = updateLatent(ctx, p, x, y, zz);
  return { y: refineAnswer(ctx, p, y, zz), z: zz };
};

/**
 * T−1 cycles without gradient (run on stopped copies of the parameters and x, so no graph is even
 * built), then one cycle with gradient. Returns the final (y, z) still attached to the graph of the
 * last cycle; the caller detaches them for the carry.
 */
export const deepRecursion = (ctx: RecursionContext, p: TrmParams, x: Tensor, yz: YZ): YZ => {
  const frozen = stopGradient({ p, x });
  let state = stopGradient(yz);
  for (let i = 0; i < ctx.T - 1; i++) state = latentRecursion(ctx, frozen.p, frozen.x, state);
  return latentRecursion(ctx, p, x, state);
};
