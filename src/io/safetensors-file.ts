/**
 * Safetensors files on disk (Node only): reading a file and writing one atomically. The byte-level
 * reader and writer, which run anywhere, are safetensors-read.ts and safetensors-write.ts.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from './atomic.js';
import { type BoundaryError, fail } from './errors.js';
import { type SafetensorsFile, decodeSafetensors } from './safetensors-read.js';
import { type StWriteEntry, tryEncodeSafetensors } from './safetensors-write.js';

/** Reads and decodes a safetensors file; an unreadable path is a `Left` naming it. */
export const readSafetensors = (path: string): E.Either<BoundaryError, SafetensorsFile> => {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return fail(path, 'file', `cannot read: ${e instanceof Error ? e.message : String(e)}`);
  }
  return decodeSafetensors(bytes, path);
};

/** Encodes and writes atomically (temporary file + rename), creating parent directories. */
export const writeSafetensors = (
  path: string,
  entries: readonly StWriteEntry[],
  metadata: Readonly<Record<string, string>> = {},
): E.Either<BoundaryError, void> => {
  const bytes = tryEncodeSafetensors(entries, metadata, path);
  if (E.isLeft(bytes)) return bytes;
  const written = writeFileAtomic(path, bytes.right);
  return E.isLeft(written) ? fail(path, 'file', `${written.left.field}: ${written.left.message}`) : E.right(undefined);
};
