/**
 * The replay catches mistakes in the training loop, and says where: a train-run trace recorded
 * from the official loop is replayed with one thing changed on trm-ts's side (the optimizer's
 * hyperparameters, the EMA rate, the schedule, the loss scaling, an exploration draw, a block's
 * weights), and the first divergence must name the step and the tensor where the change first
 * acts. The unchanged replay is exact on the optimizer's writes.
 */
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { replayTrace } from '../src/crosscheck/replay.js';
import type { Trace } from '../src/crosscheck/trace.js';
import { readTrace } from '../src/crosscheck/trace-file.js';
import { formatBoundaryError } from '../src/io/errors.js';
import { mul } from '../src/ops/index.js';
import { fromStorage } from '../src/tensor/tensor.js';
import type { TrainHyper } from '../src/train/hyper.js';

const fixtures = join(import.meta.dirname, 'fixtures');
const load = (path: string): Trace => {
  const t = readTrace(join(fixtures, path));
  if (E.isLeft(t)) throw new Error(formatBoundaryError(t.left));
  return t.right;
};

// Exploration 0.5, EMA (rate 0.9), RoPE; warmup 2, cosine to lr_min_ratio 0.1 at step 6; 8 steps.
const run = load('train-run/explore_ema_rope.safetensors');
const withHyper = (h: Partial<TrainHyper>): Trace => ({ ...run, hyper: { ...run.hyper!, ...h } });

describe('train-run replay', () => {
  it('replays the optimizer writes exactly, and the steps past total_steps change only the EMA', () => {
    const rep = replayTrace(run);
    expect(rep.ok).toBe(true);
    const writes = rep.rows.filter((r) => /^(params|exp_avg|exp_avg_sq|ema)\//.test(r.tensor));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.every((r) => r.maxAbsErr === 0)).toBe(true);
    // Steps 6 and 7 (official steps 7 and 8) are past total_steps = 6: nothing but the update rows.
    expect(rep.rows.filter((r) => r.step >= 6 && !/^(params|exp_avg|exp_avg_sq|ema)\//.test(r.tensor))).toEqual([]);
    const p = run.tensors.get('update/5/params/inner.lm_head.weight')!;
    expect(run.tensors.get('update/7/params/inner.lm_head.weight')!.data).toEqual(p.data);
    expect(run.tensors.get('update/7/ema/inner.lm_head.weight')!.data).not.toEqual(
      run.tensors.get('update/5/ema/inner.lm_head.weight')!.data,
    );
  });

  const cases: readonly (readonly [string, Trace, number, RegExp])[] = [
    ['AdamATan2 weight decay 0.1 → 0.12', withHyper({ weight_decay: 0.12 }), 0, /^params\//],
    ['AdamATan2 β1 0.9 → 0.91', withHyper({ beta1: 0.91 }), 0, /^exp_avg\//],
    ['AdamATan2 β2 0.95 → 0.951', withHyper({ beta2: 0.951 }), 0, /^exp_avg_sq\//],
    ['EMA rate 0.9 → 0.91', withHyper({ ema_rate: 0.91 }), 0, /^ema\//],
    ['warmup 2 → 3 steps', withHyper({ lr_warmup_steps: 3 }), 0, /^lr$/],
    // Warmup ends at step 2 (index 1) at the base rate either way; the cosine differs from step 3.
    ['lr_min_ratio 0.1 → 0.2', withHyper({ lr_min_ratio: 0.2 }), 2, /^lr$/],
    ['total_steps 6 → 7', withHyper({ total_steps: 7 }), 2, /^lr$/],
    ['puzzle-embedding lr 0.01 → 0.011', withHyper({ puzzle_emb_lr: 0.011 }), 0, /^puzzle_emb_lr$/],
    [
      'puzzle-embedding weight decay 0.1 → 0.2',
      withHyper({ puzzle_emb_weight_decay: 0.2 }),
      0,
      /^params\/inner\.puzzle_emb\.weights$/,
    ],
    ['loss scaled by 1/5 instead of 1/4', withHyper({ global_batch_size: 5 }), 0, /^grad\//],
  ];
  for (const [what, trace, step, tensor] of cases) {
    it(`catches ${what} at step ${step}`, () => {
      const rep = replayTrace(trace);
      expect(rep.ok).toBe(false);
      expect(rep.firstDivergence?.step).toBe(step);
      expect(rep.firstDivergence?.tensor).toMatch(tensor);
    });
  }

  it('catches a different exploration draw at the step and tensor where it acts', () => {
    // Step 0: row 0 has q_halt > 0 but drew a minimum of 3 steps, so it does not halt.
    const draws = run.tensors.get('step/0/min_halt_steps')!;
    expect(draws.data[0]).toBe(3);
    expect(run.tensors.get('step/0/halted')!.data[0]).toBe(0);
    expect(run.tensors.get('step/0/q_halt_logits')!.data[0]).toBeGreaterThan(0);
    const tensors = new Map(run.tensors);
    tensors.set(
      'step/0/min_halt_steps',
      fromStorage(draws.shape, Int32Array.from([0, ...Array.from(draws.data).slice(1)])),
    );
    const rep = replayTrace({ ...run, tensors });
    expect(rep.firstDivergence).toMatchObject({ step: 0, cycle: null, update: null, tensor: 'halted' });
  });

  it('free-running, a wrong EMA rate is still caught at the first step', () => {
    const rep = replayTrace(withHyper({ ema_rate: 0.91 }), { mode: 'free-running' });
    expect(rep.firstDivergence?.step).toBe(0);
    expect(rep.firstDivergence?.tensor).toMatch(/^ema\//);
  });
});

describe('recursion probes', () => {
  it('name the cycle, the update and the block where a change to one block first acts', () => {
    // Recorded with every block's output (--blocks).
    const t = load('official/sudoku_mlp_train.safetensors');
    expect(t.tensors.has('step/0/cycle/0/z_L/0/block/0')).toBe(true);
    const p = t.state.params;
    const last = p.blocks.length - 1;
    const blocks = p.blocks.map((b, i) => (i === last ? { ...b, mlp: { ...b.mlp, down: mul(b.mlp.down, 1.001) } } : b));
    const rep = replayTrace({ ...t, state: { ...t.state, params: { ...p, blocks } } });
    expect(rep.firstDivergence).toMatchObject({ step: 0, cycle: 0, update: 0, tensor: `z_L/block/${last}` });
  });
});
