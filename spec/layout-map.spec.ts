/**
 * Layout maps run both ways. A trace written in a port's terms by a map (`toPortLayout`, what
 * `trm trace --layout` writes) and read back through the same map (`applyLayoutMap`, what
 * `trm crosscheck --layout` reads) is the original trace, tensor for tensor and bit for bit, except
 * what the map says the port lacks: `missing` parameters come back as zeros and outputs not at all,
 * rows past a `rows` count come back as zeros. Maps that cannot be run backwards are refused,
 * naming the field.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type LayoutMap, applyLayoutMap, decodeLayoutMap, toPortLayout } from '../src/crosscheck/layout-map.js';
import { recordHyper, recordTrace } from '../src/crosscheck/record.js';
import type { StDtype, StWriteEntry } from '../src/io/safetensors.js';
import { type Tensor, ones, storage, zeros } from '../src/tensor/tensor.js';
import { type OfficialConfigInput, type TrmConfig, makeConfig } from '../src/trm/config.js';
import { officialLayout } from '../src/trm/params.js';

const configArb: fc.Arbitrary<OfficialConfigInput> = fc.record({
  vocab_size: fc.integer({ min: 3, max: 6 }),
  seq_len: fc.integer({ min: 2, max: 4 }),
  batch_size: fc.integer({ min: 1, max: 2 }),
  num_puzzle_identifiers: fc.integer({ min: 1, max: 3 }),
  hidden_size: fc.constant(8),
  num_heads: fc.constant(2),
  expansion: fc.constant(1),
  H_cycles: fc.constant(1),
  L_cycles: fc.integer({ min: 1, max: 2 }),
  L_layers: fc.integer({ min: 1, max: 2 }),
  mlp_t: fc.boolean(),
  pos_encodings: fc.constantFrom('rope', 'learned', 'none'),
  puzzle_emb_ndim: fc.constantFrom(0, 8),
  halt_max_steps: fc.integer({ min: 1, max: 2 }),
  halt_exploration_prob: fc.constant(0),
});

/** A map drawn from the config's own layout: every kind of declaration, each on a random subset. */
const mapArb = (cfg: TrmConfig): fc.Arbitrary<LayoutMap> => {
  const rows = officialLayout(cfg);
  const fusable = rows.filter((r) => r.layout.fused.length > 1 && !r.name.startsWith('inner.q_head.'));
  const plain = rows.filter((r) => r.layout.fused.length === 0);
  const matrices = plain.filter((r) => r.shape.length === 2);
  return fc
    .record({
      prefix: fc.constantFrom(undefined, 'net.', 'model.'),
      renamed: fc.subarray(plain.map((r) => r.name)),
      blocks: fc.boolean(),
      transposed: fc.subarray(matrices.map((r) => r.name)),
      fused: fc.subarray(fusable.map((r) => r.name)),
      qRows: fc.constantFrom(0, 1, 2),
      missing: fc.subarray(['q_continue_logits', 'inner.L_init', 'lm_loss']),
      stepRename: fc.boolean(),
    })
    .map((d): LayoutMap => {
      const rename: Record<string, string> = {};
      d.renamed.forEach((n, i) => {
        rename[`port_${i}.w`] = n;
      });
      if (d.blocks) rename['blocks.'] = 'inner.L_level.layers.';
      if (d.stepRename) Object.assign(rename, { y: 'z_H', z: 'z_L' });
      const fuse = Object.fromEntries(
        d.fused.map((n) => [
          n,
          rows.find((r) => r.name === n)!.layout.fused.map((f) => `sep.${n.replace(/\./g, '_')}.${f.part}`),
        ]),
      );
      const qRows: NonNullable<LayoutMap['rows']> =
        d.qRows === 0
          ? {}
          : {
              'inner.q_head.weight': { name: 'halt.weight', count: d.qRows },
              'inner.q_head.bias': { name: 'halt.bias', count: d.qRows },
            };
      return {
        ...(d.prefix === undefined ? {} : { prefix: d.prefix }),
        rename,
        transpose: d.transposed,
        fuse,
        rows: qRows,
        missing: d.missing.filter((m) => m !== 'inner.L_init' || !d.renamed.includes(m)),
      };
    });
};

/** A small attention model without exploration, for the example-style laws. */
const tinyConfig = (over: Partial<OfficialConfigInput> = {}): TrmConfig =>
  makeConfig({
    vocab_size: 4,
    seq_len: 3,
    batch_size: 1,
    hidden_size: 8,
    num_heads: 2,
    halt_exploration_prob: 0,
    ...over,
  });

const same = (a: Tensor, b: Tensor): boolean =>
  a.dtype === b.dtype && a.shape.join() === b.shape.join() && storage(a).every((v, i) => Object.is(v, storage(b)[i]));

const PARAM = /^(params\/|grad\/\d+\/|update\/\d+\/[a-z_]+\/)(.+)$/;
const STEP = /^step\/\d+\/(.+)$/;

describe('layout maps', () => {
  it('a trace written through a map and read back through it is the original, but for what the port lacks', () => {
    const cases = configArb.chain((input) => {
      const cfg = makeConfig(input);
      return fc.tuple(fc.constant(cfg), mapArb(cfg), fc.constantFrom('train', 'eval', 'train-run' as const));
    });
    fc.assert(
      fc.property(cases, fc.integer({ min: 0, max: 99 }), ([cfg, map, mode], seed) => {
        const hyper = mode === 'train-run' ? { hyper: recordHyper(cfg, 2) } : {};
        const recorded = recordTrace(cfg, { mode, steps: 2, seed, ...hyper });
        const metadata = recorded.metadata;
        // Step numbers of more than one digit, as long traces have: copies of step 1 as step 12.
        const entries = [
          ...recorded.entries,
          ...recorded.entries
            .filter((e) => /^(step|grad|update)\/1\//.test(e.name))
            .map((e) => ({ ...e, name: e.name.replace(/^(step|grad|update)\/1\//, '$1/12/') })),
        ];
        const port = toPortLayout(entries, map, cfg, 'map.yaml');
        if (E.isLeft(port)) throw new Error(`${port.left.field}: ${port.left.message}`);
        const names = port.right.entries.map((e) => e.name);
        expect(new Set(names).size).toBe(names.length); // no two tensors under one port name
        const officialNames = new Set(entries.map((e) => e.name));
        if (map.prefix !== undefined || Object.keys(map.rename ?? {}).length > 0 || map.transpose!.length > 0)
          expect(names.some((n) => !officialNames.has(n))).toBe(true);
        const dtypes = new Map<string, StDtype>(
          port.right.entries.map((e: StWriteEntry) => [e.name, e.dtype ?? 'F32']),
        );
        const file = {
          metadata,
          tensors: new Map(port.right.entries.map((e) => [e.name, e.tensor])),
          dtypes,
        };
        const back = applyLayoutMap(file, map, 'port.safetensors');
        if (E.isLeft(back)) throw new Error(`${back.left.field}: ${back.left.message}`);
        const got = back.right.file.tensors;
        const missing = new Set(map.missing);
        for (const e of entries) {
          const p = PARAM.exec(e.name);
          const kind = p === null ? STEP.exec(e.name)?.[1] : p[2];
          const have = got.get(e.name);
          if (kind !== undefined && missing.has(kind)) {
            if (p === null) expect(have, e.name).toBeUndefined();
            else if (p[1] === 'params/') expect(have && storage(have).every((v) => v === 0), e.name).toBe(true);
            continue;
          }
          expect(have, e.name).toBeDefined();
          const count = kind === undefined ? undefined : map.rows?.[kind];
          if (typeof count === 'object' && count.count < e.tensor.shape[0]!) {
            const width = storage(e.tensor).length / e.tensor.shape[0]!;
            const kept = count.count * width;
            expect(Array.from(storage(have!).slice(0, kept))).toEqual(Array.from(storage(e.tensor).slice(0, kept)));
            expect(
              storage(have!)
                .slice(kept)
                .every((v) => v === 0),
            ).toBe(true);
            continue;
          }
          expect(same(have!, e.tensor), e.name).toBe(true);
          expect(back.right.file.dtypes.get(e.name), e.name).toBe(e.dtype ?? 'F32');
        }
        // What the port lacks, both ways: the map's missing names the trace has, and the rows cut off.
        const cut = Object.entries(map.rows ?? {}).flatMap(([n, r]) =>
          typeof r === 'object' && r.count < 2 ? [`${n} (rows ${r.count} to 1)`] : [],
        );
        const had = new Set(entries.map((e) => PARAM.exec(e.name)?.[2] ?? STEP.exec(e.name)?.[1]));
        const lacking = [...missing].filter((m) => had.has(m));
        expect([...port.right.dropped].sort()).toEqual([...lacking, ...cut].sort());
        expect([...back.right.notComparable].sort()).toEqual([...new Set([...(map.missing ?? []), ...cut])].sort());
        for (const [official, r] of Object.entries(map.rows ?? {}))
          if (typeof r === 'object') {
            expect(names).toContain(`params/${map.prefix ?? ''}${r.name}`);
            expect(names).not.toContain(`params/${map.prefix ?? ''}${official}`);
          }
      }),
      { numRuns: 12 },
    );
  });

  it('a map that cannot be run backwards is refused, naming the field', () => {
    const cfg = tinyConfig();
    const { entries } = recordTrace(cfg, { mode: 'eval', steps: 1, seed: 0 });
    const refusal = (map: LayoutMap): string => {
      const r = toPortLayout(entries, map, cfg, 'map.yaml');
      if (E.isRight(r)) throw new Error('accepted');
      expect(r.left.file).toBe('map.yaml');
      return `${r.left.field}: ${r.left.message}`;
    };
    expect(refusal({ rows: { 'inner.q_head.weight': 'halt.weight' } })).toMatch(
      /^rows\.inner\.q_head\.weight: give \{name, count\}/,
    );
    expect(refusal({ rows: { 'inner.q_head.bias': { name: 'b', count: 3 } } })).toMatch(
      /^rows\.inner\.q_head\.bias\.count: 3 rows of a tensor of shape \[2\]/,
    );
    const qkv = 'inner.L_level.layers.0.self_attn.qkv_proj.weight';
    expect(refusal({ fuse: { [qkv]: ['q', 'kv'] } })).toMatch(
      new RegExp(`^fuse\\.${qkv.replace(/\./g, '\\.')}: 2 parts, but the official tensor fuses 3 \\(q, k, v\\)`),
    );
    expect(refusal({ fuse: { 'inner.lm_head.weight': ['a', 'b'] } })).toMatch(/fuses 0 \(none\)/);
    expect(refusal({ fuse: { [qkv]: ['q', 'k', 'v'] }, transpose: [qkv] })).toBe(
      `fuse.${qkv}: a fused tensor that is also transposed cannot be split back`,
    );
    // A name outside the official layout fuses nothing; a scalar has no rows.
    const scalar = [{ name: 'params/inner.scale', tensor: ones([]) }];
    expect(E.isLeft(toPortLayout(scalar, { rows: { 'inner.scale': { name: 's', count: 1 } } }, cfg, 'map.yaml'))).toBe(
      true,
    );
    const lw = [{ name: 'grad/0/inner.puzzle_emb.local_weights', tensor: ones([1, 8]) }];
    const lwFuse = toPortLayout(lw, { fuse: { 'inner.puzzle_emb.local_weights': ['a'] } }, cfg, 'map.yaml');
    expect(E.isLeft(lwFuse) && `${lwFuse.left.field}: ${lwFuse.left.message}`).toBe(
      'fuse.inner.puzzle_emb.local_weights: 1 parts, but the official tensor fuses 0 (none)',
    );
    expect(
      refusal({ fuse: { 'inner.q_head.bias': ['h', 'c'] }, rows: { 'inner.q_head.bias': { name: 'b', count: 1 } } }),
    ).toMatch(/^fuse\.inner\.q_head\.bias: also cut by rows/);
    expect(refusal({ rename: { a: 'inner.lm_head.weight', b: 'inner.lm_head.weight' } })).toMatch(
      /^rename\.b: inner\.lm_head\.weight is already the rename of a/,
    );
    expect(refusal({ rename: { 'blocks.': 'inner.L_level.layers.0' } })).toMatch(/^rename\.blocks\.: a module path/);
    expect(refusal({ transpose: ['inner.H_init'] })).toMatch(
      /^params\/inner\.H_init: transpose: expected a 2-D tensor/,
    );
  });

  it('a module path renames every name under it, an exact name and a longer path first', () => {
    const cfg = tinyConfig({ L_layers: 2 });
    const { entries } = recordTrace(cfg, { mode: 'eval', steps: 1, seed: 0 });
    const map: LayoutMap = {
      rename: {
        head: 'inner.lm_head.weight',
        'first.': 'inner.L_level.layers.0.',
        'blocks.': 'inner.L_level.layers.',
        'net.': 'inner.',
      },
    };
    const r = toPortLayout(entries, map, cfg, 'map.yaml');
    if (E.isLeft(r)) throw new Error(r.left.message);
    const params = r.right.entries.filter((e) => e.name.startsWith('params/')).map((e) => e.name);
    expect(params).toContain('params/head');
    expect(params).toContain('params/first.self_attn.qkv_proj.weight');
    expect(params).toContain('params/blocks.1.mlp.down_proj.weight');
    expect(params).toContain('params/net.embed_tokens.embedding_weight');
    expect(params.filter((n) => n.includes('inner.'))).toEqual([]);
  });

  it('reading a map refuses unknown fields and wrong types, naming them', () => {
    const refusal = (doc: unknown): string => {
      const r = decodeLayoutMap(doc, 'm.yaml');
      if (E.isRight(r)) throw new Error('accepted');
      expect(r.left.file).toBe('m.yaml');
      return `${r.left.field}: ${r.left.message}`;
    };
    expect(refusal({ renames: {} })).toMatch(
      /^renames: not a layout map field \(known: prefix, rename, transpose, fuse, rows, missing\)/,
    );
    expect(refusal({ transpose: 'inner.lm_head.weight' })).toMatch(/^transpose/);
    expect(refusal({ rows: { 'inner.q_head.bias': { name: 'b', count: 0 } } })).toMatch(/^rows/);
    expect(refusal({ rows: { 'inner.q_head.bias': { name: 'b', count: 1.5 } } })).toMatch(/^rows/);
    expect(refusal({ rows: { 'inner.q_head.bias': { name: 'b', count: 1, extra: 1 } } })).toMatch(/^rows/);
    const array = decodeLayoutMap(['prefix'], 'm.yaml');
    expect(E.isLeft(array) && array.left.field).not.toBe('0');
    expect(E.isLeft(decodeLayoutMap(null, 'm.yaml'))).toBe(true);
    expect(decodeLayoutMap({}, 'm.yaml')).toEqual(E.right({}));
    expect(decodeLayoutMap({ rows: { a: 'b', c: { name: 'd', count: 2 } } }, 'm.yaml')).toEqual(
      E.right({ rows: { a: 'b', c: { name: 'd', count: 2 } } }),
    );
  });

  it('reading through a map refuses what does not fit the official layout, naming the tensor', () => {
    const cfg = tinyConfig();
    const { entries, metadata } = recordTrace(cfg, { mode: 'eval', steps: 1, seed: 0 });
    const file = (over: Record<string, Tensor>, meta = metadata) => {
      const tensors = new Map(entries.map((e) => [e.name, e.tensor]));
      for (const [k, v] of Object.entries(over)) tensors.set(k, v);
      return { metadata: meta, tensors, dtypes: new Map<string, StDtype>() };
    };
    const refusal = (map: LayoutMap, over: Record<string, Tensor> = {}, meta = metadata): string => {
      const r = applyLayoutMap(file(over, meta), map, 'p.safetensors');
      if (E.isRight(r)) throw new Error('accepted');
      expect(r.left.file).toBe('p.safetensors');
      return `${r.left.field}: ${r.left.message}`;
    };
    const halt = (shape: number[], dtype: 'float32' | 'float64' = 'float32') => zeros(shape, { dtype });
    expect(refusal({ rows: { 'inner.q_head.weight': 'h' } }, { 'params/h': halt([3, 8]) })).toBe(
      'params/inner.q_head.weight: rows: shape [3,8] is not the first rows of [2,8]',
    );
    expect(refusal({ rows: { 'inner.q_head.weight': 'h' } }, { 'params/h': halt([1, 7]) })).toMatch(/shape \[1,7\]/);
    expect(refusal({ rows: { 'inner.q_head.weight': 'h' } }, { 'params/h': halt([8]) })).toMatch(/shape \[8\]/);
    expect(refusal({ rows: { 'inner.q_head.weight': 'h' } }, { 'params/h': halt([1]) })).toBe(
      'params/inner.q_head.weight: rows: shape [1] is not the first rows of [2,8]',
    );
    const noConfig = { ...metadata };
    delete noConfig.config;
    expect(refusal({}, {}, noConfig)).toMatch(/^__metadata__\.config: (?!not JSON)/);
    expect(refusal({ rows: { 'inner.nothing': 'h' } })).toBe(
      'rows.inner.nothing: not an official parameter of this config',
    );
    expect(refusal({}, {}, { ...metadata, config: '{' })).toBe('__metadata__.config: not JSON');
    expect(refusal({}, {}, { ...metadata, config: '{"hidden_size": -1}' })).toMatch(/^__metadata__\.config/);
    expect(refusal({ fuse: { 'inner.lm_head.weight': ['a', 'b'] } }, { 'params/a': halt([2, 8]) })).toBe(
      'params/b: missing part of inner.lm_head.weight',
    );
    // A fused tensor is transposed too, and must then be 2-D.
    expect(
      refusal(
        { fuse: { 'inner.q_head.weight': ['h', 'c'] }, transpose: ['inner.q_head.weight'] },
        { 'params/h': halt([8]), 'params/c': halt([8]) },
      ),
    ).toBe('params/inner.q_head.weight: transpose: expected a 2-D tensor, got rank 1');
    // Rows keep their dtype; a missing parameter the file has is kept; one the config lacks is ignored.
    const ok = applyLayoutMap(
      file({ 'params/h': halt([1, 8], 'float64'), 'params/inner.L_init': ones([8]) }),
      { rows: { 'inner.q_head.weight': 'h' }, missing: ['inner.L_init', 'inner.embed_pos.embedding_weight'] },
      'p.safetensors',
    );
    if (E.isLeft(ok)) throw new Error(ok.left.message);
    const q = ok.right.file.tensors.get('params/inner.q_head.weight')!;
    expect([q.dtype, q.shape]).toEqual(['float64', [2, 8]]);
    expect(Array.from(storage(ok.right.file.tensors.get('params/inner.L_init')!))).toEqual(Array(8).fill(1));
    expect(ok.right.file.tensors.has('params/inner.embed_pos.embedding_weight')).toBe(false);
    expect(ok.right.notComparable).toEqual([
      'inner.L_init',
      'inner.embed_pos.embedding_weight',
      'inner.q_head.weight (rows 1 to 1)',
    ]);
    // All of a Q head's rows: nothing cut, nothing reported.
    const whole = applyLayoutMap(
      file({ 'params/h': halt([2, 8]) }),
      { rows: { 'inner.q_head.weight': 'h' } },
      'p.safetensors',
    );
    expect(E.isRight(whole) && whole.right.notComparable).toEqual([]);
    const plain = applyLayoutMap(file({}), {}, 'p.safetensors');
    expect(E.isRight(plain) && plain.right.notComparable).toEqual([]);
    // An exact rename is not a module path: 'head' does not rename 'headless'.
    const exact = applyLayoutMap(
      file({ 'params/head': ones([5, 8]), 'params/headless': ones([1]) }),
      { rename: { head: 'inner.lm_head.weight' } },
      'p.safetensors',
    );
    if (E.isLeft(exact)) throw new Error(exact.left.message);
    expect(exact.right.file.tensors.has('params/headless')).toBe(true);
    expect(exact.right.file.tensors.get('params/inner.lm_head.weight')!.shape).toEqual([5, 8]);
    // A prefix is stripped only where a name has it.
    const pre = applyLayoutMap(file({ 'params/net.x': ones([1]) }), { prefix: 'net.' }, 'p.safetensors');
    if (E.isLeft(pre)) throw new Error(pre.left.message);
    expect(pre.right.file.tensors.has('params/x')).toBe(true);
    expect(pre.right.file.tensors.has('params/inner.lm_head.weight')).toBe(true);
  });
});
