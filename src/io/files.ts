/**
 * Reading files at the boundary: every failure is a `Left` naming the file, never a throw.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, fail, fsError } from './errors.js';
import { orderedEntries } from './json-order.js';

/** The bytes of a file. */
export const readBytes = (file: string): E.Either<BoundaryError, Uint8Array> => {
  try {
    return E.right(readFileSync(file));
  } catch (e) {
    return E.left(fsError(file, '', e));
  }
};

/** The text of a UTF-8 file. */
export const readText = (file: string): E.Either<BoundaryError, string> => {
  try {
    return E.right(readFileSync(file, 'utf8'));
  } catch (e) {
    return E.left(fsError(file, '', e));
  }
};

/** JSON text parsed, or `malformed JSON (…)` naming the file. */
export const parseJson = (file: string, text: string): E.Either<BoundaryError, unknown> => {
  try {
    return E.right(JSON.parse(text) as unknown);
  } catch (e) {
    return fail(file, '', `malformed JSON (${(e as Error).message})`);
  }
};

/**
 * The text of a JSON object as [key, value] entries in file order (keys like "22168020" must not
 * jump ahead, as they would in a JS object); `what` says what the object maps, for the error.
 */
export const objectEntries = (
  file: string,
  text: string,
  what: string,
): E.Either<BoundaryError, [string, unknown][]> => {
  const parsed = parseJson(file, text);
  if (E.isLeft(parsed)) return parsed;
  const u = parsed.right;
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return fail(file, '', `expected an object: ${what}`);
  return E.right(orderedEntries(text, u as Record<string, unknown>));
};
