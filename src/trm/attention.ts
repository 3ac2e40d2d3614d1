/**
 * Bidirectional multi-head self-attention (official `Attention`): no mask, so the puzzle prefix
 * and PAD positions are attended too; RoPE on q and k when configured.
 */
import { div, matmulT, permute, reshape, slice, softmax } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear } from './linear.js';
import type { AttentionParams } from './params.js';
import { type RopeTables, applyRope } from './rope.js';

export const attention = (p: AttentionParams, h: Tensor, numHeads: number, rope: RopeTables | null): Tensor => {
  const [B, L] = h.shape as [number, number, number];
  const qkv = reshape(linear(h, p.qkv), [B, L, 3 * numHeads, -1]);
  const hd = qkv.shape[3]!;
  const heads = (i: number): Tensor => slice(qkv, [0, 0, i * numHeads, 0], [B, L, (i + 1) * numHeads, hd]);
  let q = heads(0);
  let k = heads(1);
  const v = heads(2);
  if (rope !== null) {
    q = applyRope(q, rope);
    k = applyRope(k, rope);
  }
  // [B, L, H, hd] → [B, H, L, hd]
  const [qh, kh, vh] = [q, k, v].map((t) => permute(t, [0, 2, 1, 3])) as [Tensor, Tensor, Tensor];
  const scores = div(matmulT(qh, kh, false, true), Math.sqrt(hd));
  const out = matmulT(softmax(scores, -1), vh, false, false);
  return linear(reshape(permute(out, [0, 2, 1, 3]), [B, L, numHeads * hd]), p.o);
};
