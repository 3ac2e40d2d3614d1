/**
 * The boundary codecs and `decode`: counts are whole and positive, rates lie in their intervals,
 * and a failure names the file and the field.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
import { Metadata } from '../src/data/dataset.js';
import { NonNegativeInt, PositiveInt, UnitInterval } from '../src/io/codecs.js';
import { decode, formatBoundaryError } from '../src/io/errors.js';
import { TrainHyper } from '../src/train/hyper.js';
import { PRESETS } from '../src/train/presets.js';

const ok = <A>(c: t.Type<A, unknown, unknown>, v: unknown): boolean => E.isRight(c.decode(v));

describe('number codecs', () => {
  it('PositiveInt takes whole numbers from 1', () => {
    for (const v of [1, 2, 760, 2 ** 40]) expect(ok(PositiveInt, v), String(v)).toBe(true);
    for (const v of [0, -3, -3.5, 2.5, Number.NaN, Number.POSITIVE_INFINITY, '3', null])
      expect(ok(PositiveInt, v), String(v)).toBe(false);
  });

  it('NonNegativeInt takes 0 too, UnitInterval takes [0, 1]', () => {
    expect(ok(NonNegativeInt, 0)).toBe(true);
    expect(ok(NonNegativeInt, -1)).toBe(false);
    expect(ok(NonNegativeInt, 0.5)).toBe(false);
    for (const v of [0, 0.5, 0.999, 1]) expect(ok(UnitInterval, v)).toBe(true);
    for (const v of [-0.1, 1.01, Number.NaN]) expect(ok(UnitInterval, v)).toBe(false);
  });
});

describe('TrainHyper', () => {
  it('decodes every preset', () => {
    for (const p of Object.values(PRESETS)) expect(ok(TrainHyper, p.hyper), p.name).toBe(true);
  });

  it('refuses impossible step counts, naming the file and the field', () => {
    const base = Object.values(PRESETS)[0]!.hyper;
    for (const total_steps of [-3.5, 0, 2.5]) {
      const r = decode(TrainHyper, 'run.yaml', { ...base, total_steps });
      expect(E.isLeft(r)).toBe(true);
      if (E.isLeft(r)) {
        expect(r.left).toMatchObject({ file: 'run.yaml', field: 'total_steps' });
        expect(formatBoundaryError(r.left)).toBe(`run.yaml: total_steps: expected PositiveInt, got ${total_steps}`);
      }
    }
    const r = decode(TrainHyper, 'run.yaml', { ...base, ema_rate: 1.5 }, 'hyper');
    expect(E.isLeft(r) && formatBoundaryError(r.left)).toBe('run.yaml: hyper.ema_rate: expected UnitInterval, got 1.5');
  });
});

describe('decode', () => {
  const Shape = t.type({
    name: t.string,
    shape: t.array(PositiveInt),
    kind: t.union([t.literal('a'), t.literal('b')]),
    meta: t.record(t.string, t.string),
  });
  const good = { name: 'x', shape: [2, 3], kind: 'a', meta: {} };
  const fieldOf = (v: unknown, prefix?: string): string => {
    const r = decode(Shape, 'f.json', v, prefix);
    return E.isLeft(r) ? r.left.field : 'decoded';
  };

  it('renders the io-ts path: dotted keys, [index] for elements, no union branches', () => {
    expect(fieldOf(good)).toBe('decoded');
    expect(fieldOf({ ...good, shape: [2, 0] })).toBe('shape[1]');
    expect(fieldOf({ ...good, shape: [2, 0] }, 'tensors')).toBe('tensors.shape[1]');
    expect(fieldOf({ ...good, kind: 'c' })).toBe('kind');
    expect(fieldOf({ ...good, meta: { 'a b': 1 } })).toBe('meta["a b"]');
    expect(fieldOf(null)).toBe('(root)');
    expect(fieldOf(null, 'header')).toBe('header');
  });

  it('says what was expected and what was found, on one line', () => {
    const r = decode(Shape, 'f.json', { ...good, name: 9 }, 'x');
    expect(E.isLeft(r) && formatBoundaryError(r.left)).toBe('f.json: x.name: expected string, got 9');
  });
});

describe('dataset metadata', () => {
  const meta = {
    pad_id: 0,
    ignore_label_id: 0,
    blank_identifier_id: 0,
    vocab_size: 11,
    seq_len: 81,
    num_puzzle_identifiers: 1,
    total_groups: 2,
    mean_puzzle_examples: 1.0,
    total_puzzles: 2,
    sets: ['all'],
  };

  it('decodes official metadata and refuses impossible sizes, naming the field', () => {
    expect(ok(Metadata, meta)).toBe(true);
    expect(ok(Metadata, { ...meta, ignore_label_id: null })).toBe(true);
    for (const [field, v] of [
      ['seq_len', 0],
      ['vocab_size', 10.5],
      ['total_groups', -1],
    ] as const) {
      const r = decode(Metadata, 'train/dataset.json', { ...meta, [field]: v }, 'metadata');
      expect(E.isLeft(r) && formatBoundaryError(r.left)).toMatch(
        new RegExp(`^train/dataset\\.json: metadata\\.${field}: expected \\w+, got ${v}$`),
      );
    }
  });
});
