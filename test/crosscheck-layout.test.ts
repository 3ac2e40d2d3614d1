/**
 * Layout maps: an official trace rewritten in a port's own terms (a name prefix, other names,
 * a transposed weight, separate q/k/v projections, a single-logit Q head, no q_continue output,
 * step kinds called y and z) replays with a map exactly as the original does, and what the map
 * declares missing is reported as not comparable. Without the map, or with a wrong one, the
 * trace is refused with the tensor named.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type LayoutMap, decodeLayoutMap } from '../src/crosscheck/layout-map.js';
import { replayTrace } from '../src/crosscheck/replay.js';
import { readTrace } from '../src/crosscheck/trace-file.js';
import { formatBoundaryError } from '../src/io/errors.js';
import { type StWriteEntry, decodeSafetensors, encodeSafetensors } from '../src/io/safetensors.js';
import { slice, transpose } from '../src/ops/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import { readFileSync } from 'node:fs';

const root = join(import.meta.dirname, '..');
const fixture = join(root, 'test', 'fixtures', 'official', 'arc_attn_rope_train.safetensors');
const dir = mkdtempSync(join(tmpdir(), 'trm-layout-'));

const L = 'inner.L_level.layers';
const PORT_NAMES: Record<string, string> = {
  'inner.embed_tokens.embedding_weight': 'tok_emb',
  'inner.lm_head.weight': 'head.kernel',
  'inner.q_head.weight': 'halt.weight',
  'inner.q_head.bias': 'halt.bias',
  'inner.puzzle_emb.weights': 'puzzles',
  'inner.H_init': 'y0',
  'inner.L_init': 'z0',
};

/** The fixture in the port's terms: prefix `net.`, other names, lm_head stored [in, out], q/k/v apart. */
const portTrace = (): string => {
  const st = decodeSafetensors(readFileSync(fixture), fixture);
  if (E.isLeft(st)) throw new Error(formatBoundaryError(st.left));
  const entries: StWriteEntry[] = [];
  for (const [name, t] of st.right.tensors) {
    const m = /^(params\/|grad\/\d+\/)(.+)$/.exec(name);
    if (m === null) {
      if (name.endsWith('/q_continue_logits')) continue; // the port has no continue logit
      const kind = /^(step\/\d+\/)(z_H|z_L)$/.exec(name);
      entries.push({
        name: kind === null ? name : `${kind[1]}${kind[2] === 'z_H' ? 'y' : 'z'}`,
        tensor: t,
        dtype: st.right.dtypes.get(name)!,
      });
      continue;
    }
    const [, scope, official] = m as unknown as [string, string, string];
    const qkv = /^inner\.L_level\.layers\.(\d+)\.self_attn\.qkv_proj\.weight$/.exec(official);
    if (qkv !== null) {
      const third = t.shape[0]! / 3;
      ['q', 'k', 'v'].forEach((part, i) =>
        entries.push({
          name: `${scope}net.blocks.${qkv[1]}.${part}.weight`,
          tensor: slice(t, [i * third, 0], [(i + 1) * third, undefined]),
        }),
      );
      continue;
    }
    let tensor: Tensor = t;
    if (official === 'inner.lm_head.weight') tensor = transpose(t, 0, 1);
    if (official === 'inner.q_head.weight' || official === 'inner.q_head.bias') tensor = slice(t, [0], [1]); // the halt row
    entries.push({ name: `${scope}net.${PORT_NAMES[official] ?? official}`, tensor });
  }
  const out = join(dir, 'port.safetensors');
  writeFileSync(out, encodeSafetensors(entries, st.right.metadata));
  return out;
};

const MAP: LayoutMap = {
  prefix: 'net.',
  rename: {
    tok_emb: 'inner.embed_tokens.embedding_weight',
    'head.kernel': 'inner.lm_head.weight',
    puzzles: 'inner.puzzle_emb.weights',
    y0: 'inner.H_init',
    z0: 'inner.L_init',
    y: 'z_H',
    z: 'z_L',
  },
  transpose: ['inner.lm_head.weight'],
  fuse: Object.fromEntries(
    [0, 1].map((i) => [`${L}.${i}.self_attn.qkv_proj.weight`, ['q', 'k', 'v'].map((p) => `blocks.${i}.${p}.weight`)]),
  ),
  rows: { 'inner.q_head.weight': 'halt.weight', 'inner.q_head.bias': 'halt.bias' },
  missing: ['q_continue_logits'],
};

describe('layout maps', () => {
  const file = portTrace();

  it('replay a port-layout trace as the original, listing what is not comparable', () => {
    const original = readTrace(fixture);
    const mapped = readTrace(file, MAP);
    if (E.isLeft(original)) throw new Error(formatBoundaryError(original.left));
    if (E.isLeft(mapped)) throw new Error(formatBoundaryError(mapped.left));
    const a = replayTrace(original.right);
    const b = replayTrace(mapped.right);
    expect(b.ok).toBe(true);
    const key = (r: { step: number; tensor: string; maxAbsErr: number }) => `${r.step} ${r.tensor} ${r.maxAbsErr}`;
    // The same rows (gradients in file order, so sorted here), with the same errors.
    expect(b.rows.map(key).sort()).toEqual(
      a.rows
        .filter((r) => r.tensor !== 'q_continue_logits')
        .map(key)
        .sort(),
    );
    expect(b.notComparable).toEqual([
      'q_continue_logits',
      'inner.q_head.weight (rows 1 to 1)',
      'inner.q_head.bias (rows 1 to 1)',
    ]);
    expect(a.notComparable).toEqual([]);
  });

  it('refuse a port-layout trace without its map, or with a map that misses a part, naming the tensor', () => {
    const bare = readTrace(file);
    expect(E.isLeft(bare) && bare.left.field).toBe('params/inner.H_init');
    const noV = {
      ...MAP,
      fuse: {
        ...MAP.fuse,
        [`${L}.1.self_attn.qkv_proj.weight`]: ['blocks.1.q.weight', 'blocks.1.k.weight', 'blocks.1.w.weight'],
      },
    };
    const r = readTrace(file, noV);
    if (E.isRight(r)) throw new Error('expected a refusal');
    expect(r.left.field).toMatch(/^(params|grad\/\d+)\/blocks\.1\.w\.weight$/);
    expect(r.left.message).toBe(`missing part of ${L}.1.self_attn.qkv_proj.weight`);
    const badT = readTrace(file, { ...MAP, transpose: ['inner.q_head.bias'] });
    expect(E.isLeft(badT) && badT.left.message).toBe('transpose: expected a 2-D tensor, got rank 1');
  });

  it('are decoded strictly: an unknown field or a wrong type is named', () => {
    const unknown = decodeLayoutMap({ renames: {} }, 'map.yaml');
    expect(E.isLeft(unknown) && [unknown.left.field, unknown.left.message]).toEqual([
      'renames',
      'not a layout map field (known: prefix, rename, transpose, fuse, rows, missing)',
    ]);
    const wrong = decodeLayoutMap({ transpose: 'inner.lm_head.weight' }, 'map.yaml');
    expect(E.isLeft(wrong) && wrong.left.field).toBe('transpose');
    expect(E.isRight(decodeLayoutMap(MAP, 'map.yaml'))).toBe(true);
  });
});
