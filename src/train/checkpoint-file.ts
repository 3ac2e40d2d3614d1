/**
 * Training checkpoints on disk (Node only): `saveCheckpoint` writes one atomically (a temporary
 * name, then a rename), `loadCheckpoint` reads and checks one. The format: checkpoint.ts.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { BoundaryError } from '../io/errors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors-file.js';
import type { TrmConfig } from '../trm/config.js';
import {
  type CheckpointMeta,
  type LoadedCheckpoint,
  checkpointEntries,
  checkpointMetadata,
  decodeCheckpoint,
} from './checkpoint.js';
import type { TrainHyper } from './hyper.js';
import type { TrainState } from './loop.js';

/** Writes a checkpoint of `s` to `file`; a file that cannot be written is a `Left` naming it. */
export const saveCheckpoint = (
  file: string,
  cfg: TrmConfig,
  hyper: TrainHyper,
  meta: CheckpointMeta,
  s: TrainState,
): E.Either<BoundaryError, void> =>
  writeSafetensors(file, checkpointEntries(cfg, s), checkpointMetadata(cfg, hyper, meta, s));

/** Reads a checkpoint; every problem is a `Left` naming the file and the field. */
export const loadCheckpoint = (file: string): E.Either<BoundaryError, LoadedCheckpoint> =>
  pipe(
    readSafetensors(file),
    E.chain((st) => decodeCheckpoint(file, st)),
  );
