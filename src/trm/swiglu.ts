/** SwiGLU: down(silu(gate) ⊙ up) with [gate | up] = gate_up(x) (official `SwiGLU`). */
import { mul, silu, slice } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear } from './linear.js';
import type { SwiGluParams } from './params.js';

export const swiglu = (p: SwiGluParams, x: Tensor): Tensor => {
  const gu = linear(x, p.gateUp);
  const inter = gu.shape[gu.rank - 1]! / 2;
  const lead = gu.shape.slice(0, -1).map(() => 0);
  const gate = slice(gu, [...lead, 0], [...gu.shape.slice(0, -1), inter]);
  const up = slice(gu, [...lead, inter]);
  return linear(mul(silu(gate), up), p.down);
};
