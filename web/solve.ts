/**
 * Browser-side glue: decoding a checkpoint from bytes and solving one puzzle on a given backend.
 *
 * The solving itself is src/train/solve.ts, shared with `trm solve`. Only browser-safe modules are
 * imported here; tools/build-web.mjs fails the build if a node:* import reaches the bundle from anywhere
 * but the two allow-listed I/O modules (whose file-system functions the page never calls).
 * test/browser/page.test.ts checks that this glue, run in Chromium, gives exactly what
 * `solvePuzzle` gives in Node on the reference backend.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../src/backend/backend.js';
import { toBackend } from '../src/tensor/move.js';
import type { ParsedPuzzle } from '../src/data/sudoku-io.js';
import { decodeSafetensors } from '../src/io/safetensors-read.js';
import { type LoadedCheckpoint, decodeCheckpoint } from '../src/train/checkpoint.js';
import type { HaltMode } from '../src/train/evaluate.js';
import { evalModel } from '../src/train/loop.js';
import { type Solution, type SolveStep, solvePuzzle } from '../src/train/solve.js';
import type { TrmState } from '../src/trm/params.js';
import { formatBoundaryError } from '../src/io/errors.js';

export type WebStep = SolveStep;
export type WebSolution = Solution;

/** Decodes a checkpoint held in memory (a fetched or picked file); `name` only labels errors. */
export const checkpointFromBytes = (bytes: Uint8Array, name: string): E.Either<string, LoadedCheckpoint> => {
  const st = decodeSafetensors(bytes, name);
  if (E.isLeft(st)) return E.left(formatBoundaryError(st.left));
  const ck = decodeCheckpoint(name, st.right);
  return E.isLeft(ck) ? E.left(formatBoundaryError(ck.left)) : E.right(ck.right);
};

export const onBackend = toBackend;

/** The weights a solve uses (the EMA when the run kept one), on `backend`. */
export const solvingModel = (ck: LoadedCheckpoint, backend: Backend): TrmState =>
  onBackend(evalModel(ck.state), backend);

/** Runs the model on one puzzle (the same `solvePuzzle` that `trm solve` uses). */
export const solveOn = (ck: LoadedCheckpoint, model: TrmState, p: ParsedPuzzle, halt: HaltMode): WebSolution => {
  const r = solvePuzzle(ck.config, model, ck.hyper.loss_type, p, halt);
  if (E.isLeft(r)) throw new Error(r.left);
  return r.right;
};
