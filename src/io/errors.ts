/**
 * Errors of the file-system boundary, as values.
 *
 * Node reports I/O failures by throwing `Error`s with a `code`; the io modules catch them where
 * they happen and hand back this plain record instead, so callers branch on an `Either` and a
 * CLI can print one line without a stack.
 */

/** A failed file-system operation: which path, which step, and Node's reason. */
export interface IoError {
  readonly path: string;
  /** The step that failed: `mkdir`, `open`, `write`, `rename`, `read`, ... */
  readonly op: string;
  readonly message: string;
  /** Node's error code (`ENOENT`, `EISDIR`, ...) where there is one. */
  readonly code?: string;
}

/** `${path}: ${op}: ${message}` on one line. */
export const formatIoError = (e: IoError): string => oneLine(`${e.path}: ${e.op}: ${e.message}`);

/** Collapses line breaks so a message stays one line in logs and CLI output. */
export const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');

/** Turns whatever a Node fs call threw into an `IoError` (throws are `unknown` in TS). */
export const ioError = (path: string, op: string, thrown: unknown): IoError => {
  const code =
    typeof thrown === 'object' && thrown !== null && typeof (thrown as { code?: unknown }).code === 'string'
      ? (thrown as { code: string }).code
      : undefined;
  const message = oneLine(thrown instanceof Error ? thrown.message : String(thrown));
  return code === undefined ? { path, op, message } : { path, op, message, code };
};
