/**
 * The reference traces trm-ts writes (`trm trace`) replay exactly on the backend that wrote them:
 * every recorded tensor, of every mode, agrees with an error of 0, teacher-forced and
 * free-running. A trace is a file, so the law goes through the bytes.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { randomBatch, recordHyper, recordTrace, recordingWeights } from '../src/crosscheck/record.js';
import { superviseStep } from '../src/crosscheck/replay-steps.js';
import { key } from '../src/random/key.js';
import { initialCarry, stepContext } from '../src/trm/act.js';
import { replayTrace } from '../src/crosscheck/replay.js';
import { METRIC_KINDS, STEP_KINDS, type Trace, decodeTrace } from '../src/crosscheck/trace.js';
import { decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { storage } from '../src/tensor/tensor.js';
import { type OfficialConfigInput, makeConfig } from '../src/trm/config.js';
import { officialLayout } from '../src/trm/params.js';

const configArb: fc.Arbitrary<OfficialConfigInput> = fc.record({
  vocab_size: fc.integer({ min: 3, max: 7 }),
  seq_len: fc.integer({ min: 2, max: 5 }),
  batch_size: fc.integer({ min: 1, max: 3 }),
  num_puzzle_identifiers: fc.integer({ min: 1, max: 4 }),
  hidden_size: fc.constant(8),
  num_heads: fc.constant(2),
  expansion: fc.constant(1),
  H_cycles: fc.integer({ min: 1, max: 2 }),
  L_cycles: fc.integer({ min: 1, max: 2 }),
  L_layers: fc.integer({ min: 1, max: 2 }),
  mlp_t: fc.boolean(),
  pos_encodings: fc.constantFrom('rope', 'learned', 'none'),
  puzzle_emb_ndim: fc.constantFrom(0, 8),
  halt_max_steps: fc.integer({ min: 1, max: 3 }),
  no_ACT_continue: fc.boolean(),
});

const written = (cfg: OfficialConfigInput, mode: Trace['mode'], seed: number, steps: number): Trace => {
  // A train-run explores (half the time): its draws are recorded and replayed.
  const explore = mode === 'train-run' && seed % 2 === 1 ? 0.5 : 0;
  const c = makeConfig({ ...cfg, puzzle_emb_len: 0, halt_exploration_prob: explore });
  const over =
    mode === 'train-run'
      ? { hyper: recordHyper(c, steps, { ema: seed % 2 === 0, total_steps: Math.max(1, steps - 1) }) }
      : {};
  const { entries, metadata } = recordTrace(c, { mode, steps, seed, blocks: seed % 3 === 0, ...over });
  const bytes = encodeSafetensors(entries, metadata);
  const trace = E.chain((st: Parameters<typeof decodeTrace>[1]) => decodeTrace('recorded.safetensors', st))(
    decodeSafetensors(bytes, 'recorded.safetensors'),
  );
  if (E.isLeft(trace)) throw new Error(`${trace.left.field}: ${trace.left.message}`);
  return trace.right;
};

describe('trm trace', () => {
  it.each(['train', 'eval', 'train-run'] as const)(
    '%s traces replay with error 0, teacher-forced and free-running',
    (mode) => {
      fc.assert(
        fc.property(
          configArb,
          fc.integer({ min: 0, max: 1000 }),
          fc.integer({ min: 1, max: 3 }),
          (cfg, seed, steps) => {
            const trace = written(cfg, mode, seed, steps);
            expect(trace.format).toBe('trm-trace/2');
            const c = trace.config;
            const want = [
              'step/0/x',
              ...STEP_KINDS.map((k) => `step/0/${k}`),
              ...Array.from({ length: c.T }, (_, t) => [
                `step/0/cycle/${t}/z_H`,
                ...Array.from({ length: c.n }, (_, i) => `step/0/cycle/${t}/z_L/${i}`),
              ]).flat(),
            ];
            const trainable = officialLayout(c).filter((r) => r.trainable);
            if (mode !== 'eval') want.push(...trainable.map((r) => `grad/0/${r.name}`));
            if (mode === 'train-run')
              want.push(
                'step/0/lr',
                'step/0/min_halt_steps',
                ...METRIC_KINDS.map((k) => `step/0/metrics/${k}`),
                ...trainable.map((r) => `update/0/params/${r.name}`),
                ...trainable.map((r) => `update/0/exp_avg_sq/${r.name}`),
              );
            expect(want.filter((n) => !trace.tensors.has(n))).toEqual([]);
            for (const replay of ['teacher-forced', 'free-running'] as const) {
              const r = replayTrace(trace, { mode: replay });
              const bad = r.rows.filter((row) => !(row.maxAbsErr === 0 && row.ok));
              expect(bad, `${replay}: ${bad.map((b) => `${b.step}:${b.tensor}`).join(', ')}`).toEqual([]);
              expect(r.rows.length).toBeGreaterThan(0);
            }
          },
        ),
        { numRuns: 6 },
      );
    },
  );

  it('a supervision step has gradients, under every trainable official name, in train mode only', () => {
    const cfg = makeConfig({
      vocab_size: 5,
      seq_len: 4,
      batch_size: 2,
      hidden_size: 8,
      num_heads: 2,
      halt_exploration_prob: 0,
    });
    const state = recordingWeights(cfg, key(1));
    const batch = randomBatch(cfg, key(2));
    const ctx = stepContext(cfg);
    const run = (mode: 'train' | 'eval') =>
      superviseStep(cfg, ctx, state, initialCarry(cfg, batch), batch, mode, 'stablemax_cross_entropy');
    expect(run('eval').grads).toBe(null);
    const names = [...run('train').grads!.keys()];
    expect(names).toEqual([
      ...officialLayout(cfg)
        .filter((r) => r.trainable)
        .map((r) => r.name),
      'inner.puzzle_emb.local_weights',
    ]);
  });

  it('chooses the Q bias so that about half the rows halt by the Q head before N_sup', () => {
    const cfg = makeConfig({
      vocab_size: 5,
      seq_len: 4,
      batch_size: 6,
      hidden_size: 8,
      num_heads: 2,
      halt_max_steps: 4,
    });
    const trace = written(cfg.official as OfficialConfigInput, 'train', 3, 4);
    const halted = storage(trace.tensors.get('step/0/halted')!);
    const early = new Set<number>();
    for (let s = 0; s < 3; s++)
      storage(trace.tensors.get(`step/${s}/halted`)!).forEach((h, b) => h === 1 && early.add(b));
    expect(early.size).toBe(3);
    expect(halted.length).toBe(6);
  });
});
