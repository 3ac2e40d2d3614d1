/**
 * Trace files on disk (Node only): `readTrace` and `readBatchFile` read a file and decode it with
 * trace.ts, which works on bytes and runs anywhere; `writeTrace` records one and writes it.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, fail } from '../io/errors.js';
import { writeSafetensors } from '../io/safetensors-file.js';
import type { Batch } from '../trm/act.js';
import type { TrmConfig } from '../trm/config.js';
import type { LayoutMap } from './layout-map.js';
import { type RecordOptions, type Recorded, recordTrace } from './record.js';
import { type Trace, decodeBatchBytes, decodeTraceBytes } from './trace.js';

const fileBytes = (file: string): E.Either<BoundaryError, Uint8Array> => {
  try {
    return E.right(readFileSync(file));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    return fail(file, '(file)', code === 'ENOENT' ? 'no such file' : `cannot read (${code})`);
  }
};

/**
 * Reads and validates a trace file. A trace in a port's own names is read through `layout`, or
 * through the map in its `layout` metadata when no map is given.
 */
export const readTrace = (file: string, layout?: LayoutMap): E.Either<BoundaryError, Trace> =>
  E.chain((bytes: Uint8Array) => decodeTraceBytes(bytes, file, layout))(fileBytes(file));

/** The batch of a trace or safetensors file, checked against the config (see `decodeBatchBytes`). */
export const readBatchFile = (file: string, config: TrmConfig): E.Either<BoundaryError, Batch> =>
  E.chain((bytes: Uint8Array) => decodeBatchBytes(bytes, file, config))(fileBytes(file));

/** Records a trace of `cfg` with trm-ts (`recordTrace`) and writes it to `file` atomically. */
export const writeTrace = (file: string, cfg: TrmConfig, opts: RecordOptions): E.Either<BoundaryError, Recorded> => {
  const recorded = recordTrace(cfg, opts);
  return E.map(() => recorded)(writeSafetensors(file, recorded.entries, recorded.metadata));
};
