/**
 * One block of the tiny network (official `TinyRecursiveReasoningModel_ACTV1Block`), post-norm
 * RMS without a gain:
 *   attention variant: h ← rms(h + Attn(h)),                  then h ← rms(h + SwiGLU_D(h))
 *   mlp_t variant:     h ← rms_L(h + SwiGLU_L(h)) over the sequence axis, then the same SwiGLU_D
 * In the mlp_t variant the first MLP mixes along the sequence (it sees h transposed to [B, D, L])
 * and the norm runs over L, not D.
 */
import { add, rmsNorm, transpose } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { attention } from './attention.js';
import type { BlockParams } from './params.js';
import type { RopeTables } from './rope.js';
import { swiglu } from './swiglu.js';

export interface BlockContext {
  /** Attention heads (official num_heads). */
  readonly numHeads: number;
  /** Epsilon of the RMS norm. */
  readonly eps: number;
  /** The RoPE tables with RoPE attention; null otherwise. */
  readonly rope: RopeTables | null;
}

export const block = (ctx: BlockContext, p: BlockParams, h: Tensor): Tensor => {
  let x = h;
  if (p.mlpT !== null) {
    const xt = transpose(x, 1, 2); // [B, D, L]
    x = transpose(rmsNorm(add(xt, swiglu(p.mlpT, xt)), ctx.eps), 1, 2);
    // Stryker disable next-line ConditionalExpression: equivalent (a block has attention when it has no mlp_t)
  } else if (p.attn !== null) {
    x = rmsNorm(add(x, attention(p.attn, x, ctx.numHeads, ctx.rope)), ctx.eps);
  }
  return rmsNorm(add(x, swiglu(p.mlp, x)), ctx.eps);
};
