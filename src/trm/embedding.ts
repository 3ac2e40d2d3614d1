/**
 * The input embedding x (official `_input_embeddings`), computed once per supervision step:
 *   tokens → embed_tokens; the puzzle embedding row, zero-padded to puzzle_emb_len·D and reshaped
 *   to puzzle_emb_len prefix positions, is prepended (only the first ndim values are learned);
 *   learned positions are added and the sum scaled by 0.707106781; finally everything is scaled
 *   by √D.
 */
import { add, concat, gather, mul, pad, reshape } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TrmConfig } from './config.js';

/**
 * @param puzzleRows the puzzle embedding rows of this batch, [B, puzzle_emb_ndim] (the official
 *   `local_weights`: the rows gathered from the sparse table, differentiated as their own leaf).
 * @param inputs token ids, int32 [B, seq_len].
 * @returns x, [B, puzzle_emb_len + seq_len, D].
 */
export const inputEmbedding = (
  cfg: TrmConfig,
  embedTokens: Tensor,
  embedPos: Tensor | null,
  puzzleRows: Tensor,
  inputs: Tensor,
): Tensor => {
  const B = inputs.shape[0]!;
  let x = gather(embedTokens, inputs);
  // Stryker disable next-line ConditionalExpression,EqualityOperator: equivalent (a prefix of 0 positions adds nothing)
  if (cfg.puzzleEmbLen > 0) {
    const padded = pad(puzzleRows, [
      [0, 0],
      [0, cfg.puzzleEmbLen * cfg.D - puzzleRows.shape[1]!],
    ]);
    x = concat([reshape(padded, [B, cfg.puzzleEmbLen, cfg.D]), x], 1);
  }
  if (embedPos !== null) x = mul(add(x, embedPos), 0.707106781);
  return mul(x, Math.sqrt(cfg.D));
};
