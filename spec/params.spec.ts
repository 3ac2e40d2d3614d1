/**
 * Laws of the parameters at the boundary with the official code: the initial distributions, the
 * state_dict round trip under every official prefix, what the importer refuses (each refusal names
 * the tensor), the resizing of a puzzle embedding to another number of puzzles, and the parameter
 * count.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { shapeStr } from '../src/core/shape.js';
import type { BoundaryError } from '../src/io/errors.js';
import { key } from '../src/random/key.js';
import { normal } from '../src/random/sample.js';
import { type Tensor, fromStorage, storage } from '../src/tensor/tensor.js';
import { treeLeaves } from '../src/tensor/tree.js';
import { OFFICIAL_PREFIXES, exportOfficial, importOfficial, stripPrefix } from '../src/trm/checkpoint.js';
import { type OfficialConfigInput, type TrmConfig, makeConfig } from '../src/trm/config.js';
import { type TrmState, countParams, fromOfficial, initState, officialLayout, toOfficial } from '../src/trm/params.js';
import { bytesOf } from './arbitraries.js';

const configArb: fc.Arbitrary<TrmConfig> = fc
  .record({
    mlp_t: fc.boolean(),
    pos_encodings: fc.constantFrom('rope', 'learned', 'none'),
    L_layers: fc.integer({ min: 1, max: 3 }),
    puzzle_emb_ndim: fc.constantFrom(0, 4, 8, 12),
    num_puzzle_identifiers: fc.integer({ min: 1, max: 5 }),
  })
  .map((c) =>
    makeConfig({ vocab_size: 5, seq_len: 4, hidden_size: 8, num_heads: 2, expansion: 1, puzzle_emb_len: 0, ...c }),
  );

const sameState = (a: TrmState, b: TrmState): void => {
  const la = treeLeaves(a);
  const lb = treeLeaves(b);
  expect(la.map(([p]) => p)).toEqual(lb.map(([p]) => p));
  la.forEach(([p, t], i) => {
    const u = lb[i]![1];
    expect([p, t.dtype, t.shape]).toEqual([p, u.dtype, u.shape]);
    expect(Array.from(bytesOf(t)), p).toEqual(Array.from(bytesOf(u)));
  });
};

const refusal = (r: E.Either<BoundaryError, TrmState>): BoundaryError => {
  if (E.isRight(r)) throw new Error('expected a refusal');
  return r.left;
};

/** Sample standard deviation (about 0). */
const rms = (t: Tensor): number => Math.sqrt(Array.from(storage(t)).reduce((s, v) => s + v * v, 0) / t.size);
const maxAbs = (t: Tensor): number => Array.from(storage(t)).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('the official initialisation', () => {
  const base: OfficialConfigInput = { vocab_size: 40, seq_len: 16, hidden_size: 64, num_heads: 4, expansion: 2 };

  it('initState follows each tensor’s declared init (LeCun std 1/√in for linear layers, 1/√D for embeddings)', () => {
    for (const over of [{ pos_encodings: 'learned' as const }, { mlp_t: true, L_layers: 3 }]) {
      const cfg = makeConfig({ ...base, ...over });
      const s = initState(cfg, key(11));
      for (const r of officialLayout(cfg)) {
        const t = r.get(s);
        const v = Array.from(storage(t));
        if (r.init.dist === 'zeros')
          expect(
            v.every((x) => x === 0),
            r.name,
          ).toBe(true);
        else if (r.init.dist === 'constant') expect(new Set(v), r.name).toEqual(new Set([r.init.value]));
        else {
          // The sample std's relative error is about 1/√(2n); truncation at 2 compensated stds
          // keeps every value below 2.3 std.
          expect(Math.abs(rms(t) / r.init.std - 1), r.name).toBeLessThan(5 / Math.sqrt(2 * t.size));
          expect(maxAbs(t), r.name).toBeLessThan(2.3 * r.init.std);
        }
        const fanIn = r.shape[1]!;
        if (r.layout.axes[1] === 'in')
          expect(r.init).toEqual(
            r.name.includes('q_head') ? { dist: 'zeros' } : { dist: 'trunc_normal', std: 1 / Math.sqrt(fanIn) },
          );
        if (r.name.endsWith('embedding_weight'))
          expect(r.init).toEqual({ dist: 'trunc_normal', std: 1 / Math.sqrt(cfg.D) });
      }
      expect(s.params.embedPos === null).toBe(cfg.posEncodings !== 'learned');
    }
  });

  it('each declared layout names every axis, and fused parts tile the rows in order', () => {
    fc.assert(
      fc.property(configArb, (cfg) => {
        for (const r of officialLayout(cfg)) {
          expect(r.layout.axes, r.name).toHaveLength(r.shape.length);
          expect(r.layout.axes.every((a) => a.length > 0)).toBe(true);
          if (r.layout.fused.length === 0) continue;
          expect(r.layout.fused[0]!.rows[0]).toBe(0);
          expect(r.layout.fused.at(-1)!.rows[1]).toBe(r.shape[0]);
          const parts = r.layout.fused.map((f) => f.part);
          expect(new Set(parts).size).toBe(parts.length);
          expect(parts.every((p) => p.length > 0)).toBe(true);
          r.layout.fused.forEach((f, i) => {
            if (f.within) expect(f.within.axes.every((a) => a.length > 0)).toBe(true);
            if (i > 0) expect(f.rows[0]).toBe(r.layout.fused[i - 1]!.rows[1]);
            if (f.within) expect(f.within.shape.reduce((a, b) => a * b, 1)).toBe(f.rows[1] - f.rows[0]);
          });
        }
      }),
      { numRuns: 20 },
    );
  });

  it('the Q head starts at weight 0 and bias −5 (never halting); the puzzle embedding at 0', () => {
    fc.assert(
      fc.property(configArb, fc.integer({ min: 0, max: 1000 }), (cfg, seed) => {
        const s = initState(cfg, key(seed));
        expect(Array.from(storage(s.params.qHead.weight)).every((v) => v === 0)).toBe(true);
        expect(Array.from(storage(s.params.qHead.bias))).toEqual([-5, -5]);
        expect(s.buffers.puzzleEmb.shape).toEqual([cfg.numPuzzleIdentifiers, cfg.puzzleEmbNdim]);
        expect(Array.from(storage(s.buffers.puzzleEmb)).every((v) => v === 0)).toBe(true);
      }),
      { numRuns: 10 },
    );
  });
});

describe('the state_dict', () => {
  it('round-trips through export and import under each official prefix, and without one', () => {
    fc.assert(
      fc.property(
        configArb,
        fc.integer({ min: 0, max: 1000 }),
        fc.constantFrom(...OFFICIAL_PREFIXES, ''),
        (cfg, seed, prefix) => {
          // A random puzzle table: the official init's zeros would hide a table replaced by its mean.
          const s0 = initState(cfg, key(seed));
          const table = normal(key(seed + 1), s0.buffers.puzzleEmb.shape as number[]);
          const s = { ...s0, buffers: { ...s0.buffers, puzzleEmb: table } };
          const rows = exportOfficial(cfg, s, prefix);
          expect(rows.map((r) => r.name)).toEqual(officialLayout(cfg).map((r) => `${prefix}${r.name}`));
          const back = importOfficial(cfg, new Map(rows.map((r) => [r.name, r.tensor])));
          if (E.isLeft(back)) throw new Error(`${back.left.field}: ${back.left.message}`);
          sameState(back.right, s);
        },
      ),
      { numRuns: 20 },
    );
    const cfg = makeConfig({ vocab_size: 5, seq_len: 4, hidden_size: 8, num_heads: 2 });
    expect(exportOfficial(cfg, initState(cfg, key(0)))[0]!.name).toBe('_orig_mod.model.inner.H_init');
  });

  it('stripPrefix removes exactly a leading official prefix', () => {
    const t = fromStorage([1], Float32Array.from([1]));
    const out = stripPrefix(
      new Map([
        ['_orig_mod.model.inner.a', t],
        ['model.inner.b', t],
        ['inner.c', t],
        ['x.model.inner.d', t],
      ]),
    );
    expect([...out.keys()]).toEqual(['inner.a', 'inner.b', 'inner.c', 'x.model.inner.d']);
  });

  it('refuses a missing, misshapen, integer or unexpected tensor, naming it in the caller’s file and prefix', () => {
    fc.assert(
      fc.property(configArb, fc.nat(), (cfg, pick) => {
        const good = toOfficial(cfg, initState(cfg, key(pick)));
        const names = [...good.keys()];
        const name = names[pick % names.length]!;
        const t = good.get(name)!;
        const shape = officialLayout(cfg).find((r) => r.name === name)!.shape;
        const without = new Map(good);
        without.delete(name);
        expect(refusal(fromOfficial(cfg, without))).toEqual({
          file: 'weights',
          field: name,
          message: `missing tensor (expected shape ${shapeStr(shape)})`,
        });
        const wider = [...shape.slice(0, -1), shape.at(-1)! + 1];
        for (const bad of [wider, [...shape, 1], shape.slice(1)]) {
          const e = refusal(
            fromOfficial(cfg, new Map(good).set(name, normal(key(1), bad)), 'ck.safetensors', 'model.'),
          );
          expect(e).toEqual({
            file: 'ck.safetensors',
            field: `model.${name}`,
            message: `shape ${shapeStr(bad)} does not match the config's ${shapeStr(shape)}`,
          });
        }
        const ints = fromStorage(t.shape, new Int32Array(t.size));
        expect(refusal(fromOfficial(cfg, new Map(good).set(name, ints))).message).toBe(
          'expected a float tensor, got int32',
        );
        expect(refusal(fromOfficial(cfg, new Map(good).set('inner.extra', t)))).toEqual({
          file: 'weights',
          field: 'inner.extra',
          message: 'unexpected tensor for this config',
        });
      }),
      { numRuns: 30 },
    );
  });

  it('a puzzle embedding for another number of puzzles becomes its row mean, broadcast (official load_checkpoint)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.nat(), (rows, want, seed) => {
        fc.pre(rows !== want);
        const cfg = makeConfig({
          vocab_size: 5,
          seq_len: 4,
          hidden_size: 8,
          num_heads: 2,
          puzzle_emb_ndim: 8,
          num_puzzle_identifiers: want,
        });
        const table = normal(key(seed), [rows, 8]);
        const dict = toOfficial(cfg, initState(cfg, key(seed)));
        dict.set('inner.puzzle_emb.weights', table);
        const r = importOfficial(cfg, dict);
        if (E.isLeft(r)) throw new Error(r.left.message);
        const emb = storage(r.right.buffers.puzzleEmb);
        expect(r.right.buffers.puzzleEmb.shape).toEqual([want, 8]);
        const t = storage(table);
        for (let c = 0; c < 8; c++) {
          let m = 0;
          for (let i = 0; i < rows; i++) m += t[i * 8 + c]!;
          for (let i = 0; i < want; i++) expect(emb[i * 8 + c]).toBeCloseTo(m / rows, 5);
        }
        // Another width is a mismatch, not a resize.
        dict.set('inner.puzzle_emb.weights', normal(key(seed), [rows, 4]));
        expect(refusal(importOfficial(cfg, dict, 'x.pt')).field).toBe('inner.puzzle_emb.weights');
        expect(refusal(importOfficial(cfg, dict)).file).toBe('weights');
      }),
      { numRuns: 20 },
    );
  });
});

describe('countParams', () => {
  it('is the number of values in the trainable parameters (the puzzle embedding and H/L_init excluded)', () => {
    fc.assert(
      fc.property(configArb, (cfg) => {
        const s = initState(cfg, key(0));
        expect(countParams(cfg)).toBe(treeLeaves(s.params).reduce((n, [, t]) => n + t.size, 0));
      }),
      { numRuns: 20 },
    );
  });
});
