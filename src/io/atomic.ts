/**
 * Atomic file replacement.
 *
 * Checkpoints and traces are written whole and then renamed over the target, so a crash, a full
 * disk or a concurrent reader never sees half a file: the target is either the old file or the
 * new one. rename(2) is atomic only within one file system, hence the temporary file lives next
 * to the target rather than in the system temp directory.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, fsError } from './errors.js';

/**
 * A temporary name beside `path`, unique per process and call: the pid separates processes and
 * the monotonic nanosecond clock separates calls within one (no shared mutable counter, no
 * randomness). `openSync(…, 'wx')` below still refuses to reuse a name if two ever collided.
 */
const tempName = (path: string): string => `${path}.tmp-${process.pid}-${process.hrtime.bigint()}`;

/** Best-effort cleanup after a failure; the original failure is what gets reported. */
const discard = (tmp: string): void => {
  try {
    unlinkSync(tmp);
  } catch {
    /* already gone or never created */
  }
};

/** Closes a descriptor whose file is being abandoned anyway. */
const closeQuietly = (fd: number): void => {
  try {
    closeSync(fd);
  } catch {
    /* nothing more to lose */
  }
};

/** Opens a fresh temporary file, retrying on the (practically impossible) name collision. */
const openTemp = (path: string): E.Either<BoundaryError, { readonly fd: number; readonly tmp: string }> => {
  let last: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    const tmp = tempName(path);
    try {
      return E.right({ fd: openSync(tmp, 'wx', 0o666), tmp });
    } catch (e) {
      last = e;
      if ((e as { code?: unknown }).code !== 'EEXIST') break;
    }
  }
  return E.left(fsError(path, 'open', last));
};

/** writeSync may write less than asked; loop until every byte is down. */
const writeAll = (fd: number, bytes: Uint8Array): void => {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
};

/** fsync of the directory makes the rename itself durable on POSIX; unsupported elsewhere, so best effort. */
const syncDir = (dir: string): void => {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* e.g. Windows cannot open directories */
  } finally {
    if (fd !== undefined) closeQuietly(fd);
  }
};

/**
 * Writes `bytes` (a string is written as UTF-8) to `path` atomically: parent directories are
 * created, the data goes to a temporary file in the same directory, is fsynced, and is renamed
 * over `path`. On failure the temporary file is removed and the target is left untouched.
 */
export const writeFileAtomic = (path: string, bytes: Uint8Array | string): E.Either<BoundaryError, void> => {
  const data = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    return E.left(fsError(path, 'mkdir', e));
  }
  const opened = openTemp(path);
  if (E.isLeft(opened)) return opened;
  const { fd, tmp } = opened.right;
  let step = 'write';
  try {
    writeAll(fd, data);
    step = 'fsync';
    fsyncSync(fd);
  } catch (e) {
    closeQuietly(fd);
    discard(tmp);
    return E.left(fsError(path, step, e));
  }
  try {
    step = 'close';
    closeSync(fd);
    step = 'rename';
    renameSync(tmp, path);
  } catch (e) {
    discard(tmp);
    return E.left(fsError(path, step, e));
  }
  syncDir(dir);
  return E.right(undefined);
};
