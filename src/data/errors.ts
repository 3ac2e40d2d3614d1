/**
 * Errors at the data boundary. Everything read from outside (JSON, CSV, npy, CLI options) is decoded
 * and validated; a failure names the file, where in it (puzzle / row / field), and what is wrong, so
 * the user can fix the input without reading our code.
 */
import * as E from 'fp-ts/lib/Either.js';

export interface DataError {
  /** The file (or option source, e.g. `--size`) that was being read. */
  readonly file: string;
  /** Where in it: a puzzle id and field path, a CSV row and column, an npy header field... */
  readonly where: string;
  readonly message: string;
}

export const dataError = (file: string, where: string, message: string): DataError => ({ file, where, message });

/** One line: `file: where: message` (the `where` part is left out when empty). */
export const formatDataError = (e: DataError): string =>
  e.where === '' ? `${e.file}: ${e.message}` : `${e.file}: ${e.where}: ${e.message}`;

/** Thrown only inside a decoder to leave deep loops early; always caught at the boundary. */
export class DataErrorSignal extends Error {
  constructor(readonly error: DataError) {
    super(formatDataError(error));
    this.name = 'DataErrorSignal';
  }
}

/** Runs a decoder that signals failure by throwing `DataErrorSignal`; any other exception is a bug and propagates. */
export const catchDataError = <T>(f: () => T): E.Either<DataError, T> => {
  try {
    return E.right(f());
  } catch (e) {
    if (e instanceof DataErrorSignal) return E.left(e.error);
    throw e;
  }
};

export const fail = (file: string, where: string, message: string): never => {
  throw new DataErrorSignal(dataError(file, where, message));
};

/** Unwraps an Either inside a `catchDataError` block. */
export const orFail = <T>(x: E.Either<DataError, T>): T => {
  if (E.isLeft(x)) throw new DataErrorSignal(x.left);
  return x.right;
};

/** Reads a file, turning ENOENT and friends into a DataError. */
export const describeIoError = (file: string, e: unknown): DataError =>
  dataError(file, '', e instanceof Error ? e.message.replace(/^[A-Z]+: /, '') : String(e));
