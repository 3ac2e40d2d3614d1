/**
 * The boundary: everything read from outside (configs, checkpoints, traces, datasets, safetensors
 * and npy files, CLI inputs) fails with one kind of value, `BoundaryError`: the file, the field in
 * it, and what is wrong. Readers return `Either<BoundaryError, A>`; a CLI prints
 * `formatBoundaryError(e)` on one line and exits 2. Node's thrown fs errors are caught where they
 * happen and turned into the same value (`fsError`), and io-ts decoding goes through `decode`, the
 * one renderer of io-ts error paths.
 */
import * as E from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';

/** What went wrong, where: the file (or input source), the field or step in it, and why. */
export interface BoundaryError {
  /** The file (or other input source) the bad value came from. */
  readonly file: string;
  /** Where in the file: a dotted field path, a tensor name, a CSV row, an fs step (`open`, `write`); '' for the whole file. */
  readonly field: string;
  /** What is wrong, on one line. */
  readonly message: string;
}

/** Collapses line breaks so a message stays one line in logs and CLI output. */
export const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

export const boundaryError = (file: string, field: string, message: string): BoundaryError => ({
  file,
  field,
  message: oneLine(message),
});

/** The `Left` of a BoundaryError: `return fail(file, field, message)` ends a reader. */
export const fail = <A = never>(file: string, field: string, message: string): E.Either<BoundaryError, A> =>
  E.left(boundaryError(file, field, message));

/** `file: field: message` on one line (`file: message` when the field is empty). */
export const formatBoundaryError = (e: BoundaryError): string =>
  oneLine(e.field === '' ? `${e.file}: ${e.message}` : `${e.file}: ${e.field}: ${e.message}`);

/** Turns whatever a Node fs call threw into a BoundaryError whose field is the step (`open`, `read`, …). */
export const fsError = (file: string, step: string, thrown: unknown): BoundaryError =>
  boundaryError(file, step, thrown instanceof Error ? thrown.message : String(thrown));

/** Short, one-line, JSON-quoted rendering of a value for messages (hostile strings can be huge). */
export const preview = (u: unknown, max = 60): string => {
  if (u === undefined) return 'nothing';
  if (u instanceof Map) return '{…}';
  let s: string;
  try {
    s = JSON.stringify(u) ?? String(u);
  } catch {
    s = String(u);
  }
  return oneLine(s.length > max ? `${s.slice(0, max)}…` : s);
};

/** io-ts types whose context keys are branch numbers, not part of the value's path. */
const isBranching = (type: t.Decoder<unknown, unknown>): boolean => {
  const tag = (type as { readonly _tag?: unknown })._tag;
  return tag === 'UnionType' || tag === 'IntersectionType';
};

/**
 * The path of an io-ts error: `.key` for identifier keys, `[3]` for array and tuple indices,
 * `["a b"]` for other keys; the root and union/intersection branch numbers are left out.
 */
const ioPath = (context: t.Context): string => {
  let path = '';
  for (let i = 1; i < context.length; i++) {
    const key = context[i]?.key ?? '';
    const parent = context[i - 1]?.type;
    if (/^[0-9]+$/.test(key)) {
      if (parent === undefined || !isBranching(parent)) path += `[${key}]`;
    } else path += /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${preview(key)}]`;
  }
  return path;
};

/**
 * Decodes `value` with an io-ts codec. On failure the first error becomes a BoundaryError: its io-ts
 * path (`.key`, `[index]`; union and intersection branches left out) is the field, after
 * `fieldPrefix`, and the message says what was expected and what was found.
 */
export const decode = <A, O>(
  codec: t.Type<A, O, unknown>,
  file: string,
  value: unknown,
  fieldPrefix = '',
): E.Either<BoundaryError, A> => {
  const r = codec.decode(value);
  if (E.isRight(r)) return r;
  const first = r.left[0];
  const path = first === undefined ? '' : ioPath(first.context);
  const field = (fieldPrefix === '' ? path.replace(/^\./, '') : `${fieldPrefix}${path}`) || '(root)';
  const expected = first?.context[first.context.length - 1]?.type.name ?? codec.name;
  const message = first?.message ?? `expected ${expected}, got ${preview(first?.value)}`;
  return E.left(boundaryError(file, field, message));
};
