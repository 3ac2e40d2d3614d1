/** A bias-free linear layer in PyTorch layout: y = x · Wᵀ with W of shape [out, in]. */
import { add, matmulT, reshape } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';

export const linear = (x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor => {
  const inDim = x.shape[x.rank - 1]!;
  const outDim = weight.shape[0]!;
  const rows = reshape(x, [-1, inDim]);
  const y = reshape(matmulT(rows, weight, false, true), [...x.shape.slice(0, -1), outDim]);
  return bias === null ? y : add(y, bias);
};
