/**
 * io-ts codecs for numbers that mean what they say: counts are whole and positive, rates lie in
 * their interval. Each keeps the plain `number` type (no brand), so literals still type-check, and
 * its name says what it wants in the error `decode` renders ("expected PositiveInt, got -3.5").
 */
import * as t from 'io-ts';

/** A finite number satisfying `ok`, decoded as itself. */
export const numberWhere = (name: string, ok: (n: number) => boolean): t.Type<number, number, unknown> =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isFinite(u) && ok(u),
    (u, c) => (typeof u === 'number' && Number.isFinite(u) && ok(u) ? t.success(u) : t.failure(u, c)),
    t.identity,
  );

/** A safe integer (seeds). */
export const Integer = numberWhere('Integer', Number.isSafeInteger);
/** A whole number ≥ 1 (batch sizes, step counts). */
export const PositiveInt = numberWhere('PositiveInt', (n) => Number.isSafeInteger(n) && n >= 1);
/** A whole number ≥ 0 (warm-up steps). */
export const NonNegativeInt = numberWhere('NonNegativeInt', (n) => Number.isSafeInteger(n) && n >= 0);
/** A finite number ≥ 0 (learning rates, weight decays). */
export const NonNegativeNumber = numberWhere('NonNegativeNumber', (n) => n >= 0);
/** A number in [0, 1] (β, EMA rate, ratios). */
export const UnitInterval = numberWhere('UnitInterval', (n) => n >= 0 && n <= 1);
