/**
 * The config codec: official names in, paper names out, derived sizes as the official code
 * computes them, and clear errors for configs the official code would crash on.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { decodeConfig, makeConfig, pythonRound, swigluWidth } from '../src/trm/config.js';
import { countParams, initState } from '../src/trm/params.js';
import { key } from '../src/random/key.js';
import { PRESETS } from '../src/train/presets.js';

describe('derived sizes', () => {
  it('SwiGLU width: ceil256(round(expansion·d·2/3)) with round-half-even', () => {
    expect(swigluWidth(512, 4)).toBe(1536);
    expect(swigluWidth(97, 4)).toBe(512);
    expect(swigluWidth(916, 4)).toBe(2560);
    expect(swigluWidth(82, 4)).toBe(256);
    expect(pythonRound(2.5)).toBe(2);
    expect(pythonRound(3.5)).toBe(4);
    expect(pythonRound(-0.5) + 0).toBe(0);
  });

  it('puzzle_emb_len 0 means ceil(puzzle_emb_ndim / hidden) prefix positions', () => {
    const c = makeConfig({ vocab_size: 6, seq_len: 16, hidden_size: 32, puzzle_emb_ndim: 40, puzzle_emb_len: 0 });
    expect(c.puzzleEmbLen).toBe(2);
    expect(c.totalLen).toBe(18);
  });

  it('the paper names are the official ones, mapped once', () => {
    const c = makeConfig({ vocab_size: 11, seq_len: 81, H_cycles: 3, L_cycles: 6, halt_max_steps: 16 });
    expect([c.T, c.n, c.nSup, c.D]).toEqual([3, 6, 16, 512]);
  });

  it('parameter counts match the official ones (Sudoku-MLP 5,028,866; Sudoku-att 6,828,034; Maze-att 6,822,914; ARC-att 6,829,058)', () => {
    const count = (name: string) => countParams(makeConfig(PRESETS[name]!.arch as never));
    expect(count('sudoku-extreme-mlp')).toBe(5_028_866);
    expect(count('sudoku-extreme-att')).toBe(6_828_034);
    expect(count('maze-hard')).toBe(6_822_914);
    expect(count('arc1')).toBe(6_829_058);
  });
});

describe('bad configs', () => {
  const base = { vocab_size: 6, seq_len: 16 };
  const err = (c: Record<string, unknown>) => {
    const r = decodeConfig(c);
    if (E.isRight(r)) throw new Error('expected an error');
    return r.left;
  };

  it('names the field of a wrong type', () => {
    expect(err({ ...base, hidden_size: 'big' }).field).toBe('hidden_size');
    expect(err({ ...base, pos_encodings: 'alibi' }).field).toBe('pos_encodings');
    expect(err({ seq_len: 16 }).field).toBe('vocab_size');
  });

  it('refuses what the official code would crash on deep inside, naming the field', () => {
    expect(err({ ...base, hidden_size: 30, num_heads: 8, puzzle_emb_ndim: 30 }).field).toBe('num_heads');
    expect(err({ ...base, hidden_size: 24, num_heads: 8, puzzle_emb_ndim: 24, pos_encodings: 'rope' }).field).toBe(
      'num_heads',
    ); // odd head dim
    expect(err({ ...base, puzzle_emb_ndim: 1000, puzzle_emb_len: 1, hidden_size: 512 }).field).toBe('puzzle_emb_ndim');
    expect(err({ ...base, H_cycles: 0 }).field).toBe('H_cycles');
    expect(err({ ...base, halt_exploration_prob: 2 }).field).toBe('halt_exploration_prob');
  });

  it('puzzle_emb_ndim 0 with puzzle_emb_len > 0 (an official crash) gives zero prefix positions that work', () => {
    const c = makeConfig({
      ...base,
      hidden_size: 16,
      num_heads: 2,
      puzzle_emb_ndim: 0,
      puzzle_emb_len: 2,
      mlp_t: true,
      pos_encodings: 'none',
    });
    expect(c.totalLen).toBe(18);
    const s = initState(c, key(0));
    expect(s.buffers.puzzleEmb.shape).toEqual([1, 0]);
  });
});
