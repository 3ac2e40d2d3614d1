/**
 * All-or-nothing output directories. A builder writes every file into a fresh temporary directory
 * beside the target and renames it into place only when everything was written, so a failure (bad
 * input found late, a full disk) never leaves a partial dataset behind.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, boundaryError, fsError } from './errors.js';

export type OutputFile = readonly [relativePath: string, contents: Uint8Array | string];

export interface AtomicOptions {
  /** Replace an existing, non-empty directory. Only directories that look like a dataset
   *  (they hold `identifiers.json` or `train/dataset.json`) are ever replaced. */
  readonly overwrite?: boolean;
}

const looksLikeDataset = (dir: string): boolean =>
  existsSync(join(dir, 'identifiers.json')) || existsSync(join(dir, 'train', 'dataset.json'));

const checkTarget = (out: string, opts: AtomicOptions): BoundaryError | null => {
  if (!existsSync(out)) return null;
  let entries: string[];
  try {
    entries = readdirSync(out);
  } catch (e) {
    return fsError(out, '', e);
  }
  if (entries.length === 0) return null;
  if (opts.overwrite !== true)
    return boundaryError(out, '', 'output directory exists and is not empty (pass --overwrite to replace a dataset)');
  if (!looksLikeDataset(out))
    return boundaryError(out, '', 'refusing to replace a non-empty directory that is not a dataset');
  return null;
};

/** Writes `files` under `outDir` atomically (temporary sibling directory + rename). */
export const writeDirAtomic = async (
  outDir: string,
  files: readonly OutputFile[],
  opts: AtomicOptions = {},
): Promise<E.Either<BoundaryError, void>> => {
  const out = resolve(outDir);
  const blocked = checkTarget(out, opts);
  if (blocked !== null) return E.left(blocked);
  let tmp: string | null = null;
  try {
    await mkdir(dirname(out), { recursive: true });
    tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
    for (const [rel, contents] of files) {
      const p = join(tmp, rel);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, contents);
    }
    if (existsSync(out)) {
      const old = `${tmp}-old`;
      await rename(out, old);
      await rename(tmp, out);
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, out);
    }
    return E.right(undefined);
  } catch (e) {
    if (tmp !== null) await rm(tmp, { recursive: true, force: true });
    return E.left(fsError(out, '', e));
  }
};
