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

/** What the recursion needs besides the parameters: the block context, T, n, and whether to keep probes. */
export interface RecursionContext extends BlockContext {
  /** T: deep-recursion cycles. */
  readonly T: number;
  /** n: latent updates per cycle. */
  readonly n: number;
  /** Keep every update's output (and every block's) in the result, for cross-checking. */
  readonly probe?: boolean;
}

/** The one tiny network, block by block: every block's output (the last one is the network's). */
export const netBlocks = (ctx: BlockContext, p: TrmParams, state: Tensor, injection: Tensor): readonly Tensor[] => {
  const outs: Tensor[] = [];
  let h = add(state, injection);
  for (const b of p.blocks) {
    h = block(ctx, b, h);
    outs.push(h);
  }
  if (outs.length === 0) throw new Error('net: the network has no blocks (L_layers = 0)');
  return outs;
};

/** The one tiny network: its blocks applied to state + injection (no outer residual). */
export const net = (ctx: BlockContext, p: TrmParams, state: Tensor, injection: Tensor): Tensor =>
  netBlocks(ctx, p, state, injection).at(-1)!;

/** z ← net(x + y + z), block by block: the latent update, the only place where the question x enters. */
export const updateLatentBlocks = (ctx: BlockContext, p: TrmParams, x: Tensor, y: Tensor, z: Tensor) =>
  netBlocks(ctx, p, z, add(y, x));

/** y ← net(y + z), block by block: the answer is refined from (y, z) only. Its signature takes no x. */
export const refineAnswerBlocks = (ctx: BlockContext, p: TrmParams, y: Tensor, z: Tensor) => netBlocks(ctx, p, y, z);

/** z ← net(x + y + z). */
export const updateLatent = (ctx: BlockContext, p: TrmParams, x: Tensor, y: Tensor, z: Tensor): Tensor =>
  updateLatentBlocks(ctx, p, x, y, z).at(-1)!;

/** y ← net(y + z). */
export const refineAnswer = (ctx: BlockContext, p: TrmParams, y: Tensor, z: Tensor): Tensor =>
  refineAnswerBlocks(ctx, p, y, z).at(-1)!;

export interface YZ {
  readonly y: Tensor;
  readonly z: Tensor;
}

/** One update inside the recursion, kept when the context asks for probes. */
export interface Probe {
  /** 0 … T−1 */
  readonly cycle: number;
  /** The latent update 0 … n−1 (its output is z), or the answer update (its output is y). */
  readonly update: number | 'answer';
  /** The update's output [B, L, D]: z after a latent update, y after the answer update. */
  readonly value: Tensor;
  /** Every block's output inside this update; the last one is `value`. */
  readonly blocks: readonly Tensor[];
}

/** (y, z) after the recursion, and the probes of every update when `ctx.probe` is set (else none). */
export interface Recursed extends YZ {
  readonly probes: readonly Probe[];
}

export const latentRecursion = (ctx: RecursionContext, p: TrmParams, x: Tensor, { y, z }: YZ, cycle = 0): Recursed => {
  const probes: Probe[] = [];
  let zz = z;
  for (let i = 0; i < ctx.n; i++) {
    const blocks = updateLatentBlocks(ctx, p, x, y, zz);
    zz = blocks.at(-1)!;
    if (ctx.probe === true) probes.push({ cycle, update: i, value: zz, blocks });
  }
  const blocks = refineAnswerBlocks(ctx, p, y, zz);
  const yy = blocks.at(-1)!;
  if (ctx.probe === true) probes.push({ cycle, update: 'answer', value: yy, blocks });
  return { y: yy, z: zz, probes };
};

/**
 * T−1 cycles without gradient (run on stopped copies of the parameters and x, so no graph is even
 * built), then one cycle with gradient. Returns the final (y, z) still attached to the graph of the
 * last cycle; the caller detaches them for the carry.
 */
export const deepRecursion = (ctx: RecursionContext, p: TrmParams, x: Tensor, yz: YZ): Recursed => {
  const frozen = stopGradient({ p, x });
  let state: YZ = stopGradient(yz);
  const probes: Probe[] = [];
  for (let c = 0; c < ctx.T - 1; c++) {
    const r = latentRecursion(ctx, frozen.p, frozen.x, state, c);
    probes.push(...r.probes);
    state = { y: r.y, z: r.z };
  }
  const last = latentRecursion(ctx, p, x, state, ctx.T - 1);
  return { y: last.y, z: last.z, probes: [...probes, ...last.probes] };
};
