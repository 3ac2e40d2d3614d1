/**
 * Browser-side glue: decoding a checkpoint from bytes and solving one puzzle on a given backend.
 *
 * This mirrors `solvePuzzle` of src/cli/solve.ts, which cannot be bundled as is (it reads files
 * with node:fs and pulls in the CLI's backend selection). Only browser-safe modules are imported
 * here; tools/build-web.mjs fails the build if a node:* import reaches the bundle from anywhere
 * but the two allow-listed I/O modules (whose file-system functions the page never calls).
 * test/browser/page.test.ts checks that this glue, run in Chromium, gives exactly what
 * `solvePuzzle` gives in Node on the reference backend.
 */
import * as E from 'fp-ts/lib/Either.js';
import { treeMap } from '../src/autodiff/tree.js';
import type { Backend } from '../src/backend/backend.js';
import { type ParsedPuzzle, isSolution } from '../src/cli/sudoku-io.js';
import { decodeSafetensors, formatSafetensorsError } from '../src/io/safetensors.js';
import { type Tensor, fromStorage, storage } from '../src/tensor/tensor.js';
import { type LoadedCheckpoint, decodeCheckpoint, formatCheckpointError } from '../src/train/checkpoint.js';
import { type HaltMode, runSteps } from '../src/train/evaluate.js';
import { evalModel } from '../src/train/loop.js';
import { type Batch, stepContext } from '../src/trm/act.js';
import type { TrmState } from '../src/trm/params.js';

export interface WebStep {
  readonly step: number;
  /** Predicted tokens (d + 1 = digit d) after this supervision step. */
  readonly tokens: number[];
  /** sigmoid(q_halt) after this step. */
  readonly qHaltProb: number;
  /** Cells that changed since the previous step (0 at step 1). */
  readonly changed: number;
}

export interface WebSolution {
  readonly steps: WebStep[];
  /** The step whose answer counts: N_sup ('max') or the first with q_halt > 0 ('adaptive'). */
  readonly haltedAt: number;
  readonly answer: number[];
  readonly valid: boolean;
}

/** Decodes a checkpoint held in memory (a fetched or picked file); `name` only labels errors. */
export const checkpointFromBytes = (bytes: Uint8Array, name: string): E.Either<string, LoadedCheckpoint> => {
  const st = decodeSafetensors(bytes, name);
  if (E.isLeft(st)) return E.left(formatSafetensorsError(st.left));
  const ck = decodeCheckpoint(name, st.right);
  return E.isLeft(ck) ? E.left(formatCheckpointError(ck.left)) : E.right(ck.right);
};

/** The same values on `backend` (shared storage: tensors are immutable), as src/backend/select.ts. */
export const onBackend = <T>(tree: T, backend: Backend): T =>
  treeMap(tree, (t: Tensor) => (t.backend === backend ? t : fromStorage(t.shape, storage(t), backend)));

/** The weights a solve uses (the EMA when the run kept one), on `backend`. */
export const solvingModel = (ck: LoadedCheckpoint, backend: Backend): TrmState => onBackend(evalModel(ck.state), backend);

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Runs the model on one puzzle for N_sup supervision steps and reads off every step's answer. */
export const solveOn = (ck: LoadedCheckpoint, model: TrmState, p: ParsedPuzzle, halt: HaltMode): WebSolution => {
  const cfg = ck.config;
  if (cfg.seqLen !== p.tokens.length) {
    const n = Math.round(Math.sqrt(cfg.seqLen));
    throw new Error(`this checkpoint solves ${n}×${n} puzzles; this one is ${p.size}×${p.size}`);
  }
  const S = cfg.seqLen;
  const backend = model.buffers.yInit.backend;
  const batch: Batch = onBackend(
    {
      inputs: fromStorage([1, S], Int32Array.from(p.tokens)),
      labels: fromStorage([1, S], new Int32Array(S).fill(-100)),
      puzzleIdentifiers: fromStorage([1], new Int32Array(1)),
    },
    backend,
  );
  const tr = runSteps(cfg, stepContext(cfg, backend), model, batch, ck.hyper.loss_type);
  let prev: number[] | null = null;
  const steps = tr.steps.map((st, i): WebStep => {
    const tokens = Array.from(st.preds);
    const before = prev;
    const changed = before === null ? 0 : tokens.filter((t, j) => t !== before[j]).length;
    prev = tokens;
    return { step: i + 1, tokens, qHaltProb: sigmoid(st.qHalt[0]!), changed };
  });
  let haltedAt = steps.length;
  if (halt === 'adaptive') {
    const first = tr.steps.findIndex((st) => st.qHalt[0]! > 0);
    if (first >= 0) haltedAt = first + 1;
  }
  const answer = steps[haltedAt - 1]!.tokens;
  return { steps, haltedAt, answer, valid: isSolution(p.box, p.tokens, answer) };
};
