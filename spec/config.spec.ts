/**
 * Laws of the config decoder: every value it refuses is refused with the field named (under the
 * caller's prefix and file) and the offending value in the message, the limits themselves are
 * accepted, each option the official code knows decodes, and the derived sizes follow the official
 * rounding.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { BoundaryError } from '../src/io/errors.js';
import { type TrmConfig, decodeConfig, makeConfig, pythonRound, swigluWidth } from '../src/trm/config.js';

type Raw = Record<string, unknown>;

/** A valid attention config with an even head dimension: heads · 2k = hidden. */
const validArb: fc.Arbitrary<Raw> = fc
  .record({
    vocab_size: fc.integer({ min: 1, max: 12 }),
    seq_len: fc.integer({ min: 1, max: 30 }),
    num_heads: fc.integer({ min: 1, max: 4 }),
    halfHead: fc.integer({ min: 1, max: 4 }),
    puzzle_emb_len: fc.integer({ min: 0, max: 3 }),
    halt_exploration_prob: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ halfHead, ...c }) => ({
    ...c,
    hidden_size: c.num_heads * 2 * halfHead,
    puzzle_emb_ndim: c.num_heads * 2 * halfHead,
    pos_encodings: 'rope',
  }));

const refusal = (c: Raw, file?: string, prefix?: string): BoundaryError => {
  const r = decodeConfig(c, file, prefix);
  if (E.isRight(r)) throw new Error(`expected ${JSON.stringify(c)} to be refused`);
  return r.left;
};

const accepted = (c: Raw): TrmConfig => {
  const r = decodeConfig(c);
  if (E.isLeft(r)) throw new Error(`expected ${JSON.stringify(c)} to decode: ${r.left.field}: ${r.left.message}`);
  return r.right;
};

const POSITIVE = [
  'vocab_size',
  'seq_len',
  'batch_size',
  'num_puzzle_identifiers',
  'H_cycles',
  'L_cycles',
  'L_layers',
  'hidden_size',
  'num_heads',
  'halt_max_steps',
] as const;

describe('refusals name the field and the value', () => {
  it('a count below 1, for each count field; 1 is accepted', () => {
    fc.assert(
      fc.property(validArb, fc.constantFrom(...POSITIVE), fc.integer({ min: -3, max: 0 }), (c, field, v) => {
        const e = refusal({ ...c, [field]: v });
        expect([e.field, e.message]).toEqual([field, `must be ≥ 1, got ${v}`]);
        // At 1 the count itself is fine (a 1-wide model needs one head and no RoPE).
        const one = { ...c, hidden_size: 2, num_heads: 1, puzzle_emb_ndim: 2, [field]: 1 };
        if (field === 'hidden_size') Object.assign(one, { puzzle_emb_ndim: 1, pos_encodings: 'none' });
        accepted(one);
      }),
    );
  });

  it('a negative puzzle_emb_ndim or puzzle_emb_len; 0 is accepted', () => {
    fc.assert(
      fc.property(
        validArb,
        fc.constantFrom('puzzle_emb_ndim', 'puzzle_emb_len'),
        fc.integer({ min: -5, max: -1 }),
        (c, field, v) => {
          const e = refusal({ ...c, [field]: v });
          expect([e.field, e.message]).toEqual([field, `must be ≥ 0, got ${v}`]);
          accepted({ ...c, puzzle_emb_len: 0, [field]: 0 });
        },
      ),
    );
  });

  it('expansion and rms_norm_eps at or below 0 (and NaN); any positive value is accepted', () => {
    fc.assert(
      fc.property(
        validArb,
        fc.constantFrom('expansion', 'rms_norm_eps'),
        fc.oneof(fc.constant(0), fc.double({ min: -2, max: 0, noNaN: true }), fc.constant(Number.NaN)),
        fc.double({ min: 1e-9, max: 8, noNaN: true }),
        (c, field, bad, good) => {
          const e = refusal({ ...c, [field]: bad });
          expect([e.field, e.message]).toEqual([field, `must be > 0, got ${bad}`]);
          accepted({ ...c, [field]: good });
        },
      ),
    );
  });

  it('halt_exploration_prob outside [0, 1] (and NaN); 0 and 1 are accepted', () => {
    fc.assert(
      fc.property(
        validArb,
        fc.oneof(
          fc.double({ min: -3, max: -1e-9, noNaN: true }),
          fc.double({ min: 1.000001, max: 3, noNaN: true }),
          fc.constant(Number.NaN),
        ),
        (c, p) => {
          const e = refusal({ ...c, halt_exploration_prob: p });
          expect([e.field, e.message]).toEqual(['halt_exploration_prob', `must be in [0, 1], got ${p}`]);
          expect(accepted({ ...c, halt_exploration_prob: 0 }).haltExplorationProb).toBe(0);
          expect(accepted({ ...c, halt_exploration_prob: 1 }).haltExplorationProb).toBe(1);
        },
      ),
    );
  });

  it('a puzzle embedding wider than its prefix; exactly puzzle_emb_len · hidden_size fits', () => {
    fc.assert(
      fc.property(validArb, fc.integer({ min: 1, max: 3 }), (c, len) => {
        const D = c.hidden_size as number;
        const e = refusal({ ...c, puzzle_emb_len: len, puzzle_emb_ndim: len * D + 1 });
        expect([e.field, e.message]).toEqual([
          'puzzle_emb_ndim',
          `${len * D + 1} does not fit in puzzle_emb_len·hidden_size = ${len}·${D}`,
        ]);
        expect(accepted({ ...c, puzzle_emb_len: len, puzzle_emb_ndim: len * D }).totalLen).toBe(
          len + (c.seq_len as number),
        );
      }),
    );
  });

  it('attention: hidden_size not divisible by num_heads, or an odd head dimension with RoPE; mlp_t checks neither', () => {
    fc.assert(
      fc.property(validArb, fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 4 }), (c, heads, k) => {
        const hidden = heads * k + 1; // not divisible by heads
        const undivided = { ...c, hidden_size: hidden, num_heads: heads, puzzle_emb_ndim: hidden };
        const e = refusal(undivided);
        expect([e.field, e.message]).toEqual([
          'num_heads',
          `hidden_size ${hidden} is not divisible by num_heads ${heads}`,
        ]);
        accepted({ ...undivided, mlp_t: true, pos_encodings: 'none' });
        const odd = { ...c, hidden_size: heads * (2 * k + 1), num_heads: heads, puzzle_emb_ndim: heads };
        const o = refusal(odd);
        expect([o.field, o.message]).toEqual(['num_heads', `RoPE needs an even head dimension, got ${2 * k + 1}`]);
        for (const pos of ['learned', 'none']) accepted({ ...odd, pos_encodings: pos });
        accepted({ ...odd, mlp_t: true });
      }),
    );
  });

  it('are reported in the caller’s file and under its field prefix', () => {
    fc.assert(
      fc.property(validArb, fc.constantFrom(...POSITIVE), (c, field) => {
        expect(refusal({ ...c, [field]: 0 })).toMatchObject({ file: 'config', field });
        expect(refusal({ ...c, [field]: 0 }, 'run/all_config.yaml', 'arch')).toMatchObject({
          file: 'run/all_config.yaml',
          field: `arch.${field}`,
        });
        expect(refusal({ ...c, [field]: 'x' }, 'f.json', 'arch').field).toBe(`arch.${field}`);
      }),
      { numRuns: 20 },
    );
  });
});

describe('the options the official code knows', () => {
  it('every position encoding and forward dtype decodes, and nothing else does', () => {
    const base = { vocab_size: 4, seq_len: 4, hidden_size: 8, num_heads: 2 };
    for (const p of ['rope', 'learned', 'none'] as const)
      expect(accepted({ ...base, pos_encodings: p }).posEncodings).toBe(p);
    for (const d of ['float32', 'bfloat16', 'float16', 'float64'])
      expect(accepted({ ...base, forward_dtype: d }).forwardDtype).toBe(d);
    expect(refusal({ ...base, pos_encodings: 'alibi' }).field).toBe('pos_encodings');
    expect(refusal({ ...base, forward_dtype: 'int8' }).field).toBe('forward_dtype');
  });
});

describe('derived sizes', () => {
  it('pythonRound rounds to the nearest integer, halves to the even neighbour', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1000, max: 1000 }),
        // Exact binary fractions of [0, 1) (k + f is exact), 0.5 among them.
        fc.oneof(
          fc.constant(0.5),
          fc.integer({ min: 0, max: 1023 }).map((i) => i / 1024),
        ),
        (k, f) => {
          const r = pythonRound(k + f);
          if (f === 0.5) expect(r).toBe(k % 2 === 0 ? k : k + 1);
          else expect(r).toBe(f < 0.5 ? k : k + 1);
        },
      ),
    );
  });

  it('SwiGLU width: the least multiple of 256 at or above round(expansion · width · 2/3)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.double({ min: 0.25, max: 8, noNaN: true }), (w, e) => {
        const r = pythonRound((e * w * 2) / 3);
        const s = swigluWidth(w, e);
        expect(s % 256).toBe(0);
        expect(s).toBeGreaterThanOrEqual(r);
        expect(s - r).toBeLessThan(256);
      }),
    );
  });

  it('the paper letters and derived sizes come from the official fields', () => {
    fc.assert(
      fc.property(validArb, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 7 }), (c, T, n) => {
        const cfg = makeConfig({ ...c, H_cycles: T, L_cycles: n } as never);
        const D = c.hidden_size as number;
        expect([cfg.T, cfg.n, cfg.D, cfg.headDim]).toEqual([T, n, D, D / (c.num_heads as number)]);
        const len = (c.puzzle_emb_len as number) || Math.ceil((c.puzzle_emb_ndim as number) / D);
        expect([cfg.puzzleEmbLen, cfg.totalLen]).toEqual([len, len + (c.seq_len as number)]);
        expect([cfg.interD, cfg.interT]).toEqual([swigluWidth(D, 4), swigluWidth(cfg.totalLen, 4)]);
      }),
    );
  });
});
