/**
 * The boundary codecs and `decode`: counts are whole and positive, rates lie in their intervals,
 * and a failure names the file and the field.
 */
import * as E from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { describe, expect, it } from 'vitest';
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
