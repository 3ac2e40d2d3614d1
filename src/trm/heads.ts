/**
 * The two heads read the answer state y (official z_H):
 *   output head: lm_head on the grid positions only (the puzzle prefix is dropped);
 *   Q head: a 2-way linear on prefix position 0 only: [q_halt, q_continue].
 */
import { reshape, slice } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear } from './linear.js';
import type { TrmParams } from './params.js';

/** Logits [B, seq_len, vocab] from y [B, L, D]. */
export const outputHead = (p: TrmParams, y: Tensor, puzzleEmbLen: number): Tensor =>
  linear(slice(y, [0, puzzleEmbLen]), p.lmHead);

export interface QLogits {
  /** [B] */
  readonly halt: Tensor;
  /** [B] */
  readonly cont: Tensor;
}

/** q_halt and q_continue [B] from y's position 0. */
export const qHead = (p: TrmParams, y: Tensor): QLogits => {
  const [B, , D] = y.shape as [number, number, number];
  const q = linear(reshape(slice(y, [0, 0], [B, 1]), [B, D]), p.qHead.weight, p.qHead.bias);
  return { halt: reshape(slice(q, [0, 0], [B, 1]), [B]), cont: reshape(slice(q, [0, 1], [B, 2]), [B]) };
};
