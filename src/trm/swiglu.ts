/** SwiGLU: down(silu(gate) ⊙ up) with [gate | up] = gate_up(x) (official `SwiGLU`). */
import { swigluGate } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { linear } from './linear.js';
import type { SwiGluParams } from './params.js';

/** `swigluGate([gate | up])` is silu(gate) ⊙ up, the halves split along the last axis. */
export const swiglu = (p: SwiGluParams, x: Tensor): Tensor => linear(swigluGate(linear(x, p.gateUp)), p.down);
