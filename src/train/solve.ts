/**
 * Solving one puzzle step by step: the answer after every supervision step, P(halt) and the cells
 * that changed. Shared by `trm solve`, `npm start` and the browser page (no node:* imports).
 */
import * as E from 'fp-ts/lib/Either.js';
import { toBackend } from '../tensor/move.js';
import { type ParsedPuzzle, isSolution } from '../data/sudoku-io.js';
import { fromStorage } from '../tensor/tensor.js';
import { type Batch, stepContext } from '../trm/act.js';
import type { TrmConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import type { TrmState } from '../trm/params.js';
import { type HaltMode, runSteps } from './evaluate.js';

/** The model's answer after one supervision step. */
export interface SolveStep {
  /** The supervision step, 1-based. */
  readonly step: number;
  /** The predicted board as tokens (row-major, digit d → d+1). */
  readonly tokens: number[];
  /** P(halt) = sigmoid(q_halt) at this step. */
  readonly qHaltProb: number;
  /** Cells whose prediction differs from the previous step's (0 at step 1). */
  readonly changed: number;
}

/** The result of `solvePuzzle`: every step's answer and the one that counts. */
export interface Solution {
  /** One entry per supervision step, N_sup in all. */
  readonly steps: SolveStep[];
  /** The step whose answer counts: N_sup ('max') or the first with q_halt > 0 ('adaptive'). */
  readonly haltedAt: number;
  /** The answer tokens at `haltedAt`. */
  readonly answer: number[];
  /** Whether the answer is a complete valid Sudoku that keeps every given. */
  readonly valid: boolean;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Runs the model on one puzzle for N_sup supervision steps and reads off every step's answer. */
export const solvePuzzle = (
  cfg: TrmConfig,
  model: TrmState,
  lossType: LossType,
  p: ParsedPuzzle,
  halt: HaltMode,
): E.Either<string, Solution> => {
  if (cfg.seqLen !== p.tokens.length) {
    return E.left(
      `the model solves ${Math.sqrt(cfg.seqLen)}×${Math.sqrt(cfg.seqLen)} puzzles; this one is ${p.size}×${p.size}`,
    );
  }
  const S = cfg.seqLen;
  const backend = model.buffers.yInit.backend;
  const batch: Batch = toBackend(
    {
      inputs: fromStorage([1, S], Int32Array.from(p.tokens)),
      labels: fromStorage([1, S], new Int32Array(S).fill(-100)),
      puzzleIdentifiers: fromStorage([1], new Int32Array(1)),
    },
    backend,
  );
  const tr = runSteps(cfg, stepContext(cfg, backend), model, batch, lossType);
  let prev: number[] | null = null;
  const steps = tr.steps.map((st, i): SolveStep => {
    // The answer keeps the givens (the model predicts every cell; givens are part of the label too).
    const tokens = Array.from(st.preds);
    const changed = prev === null ? 0 : tokens.filter((t, j) => t !== prev![j]).length;
    prev = tokens;
    return { step: i + 1, tokens, qHaltProb: sigmoid(st.qHalt[0]!), changed };
  });
  let haltedAt = steps.length;
  if (halt === 'adaptive') {
    const first = tr.steps.findIndex((st) => st.qHalt[0]! > 0);
    if (first >= 0) haltedAt = first + 1;
  }
  const answer = steps[haltedAt - 1]!.tokens;
  return E.right({ steps, haltedAt, answer, valid: isSolution(p.box, p.tokens, answer) });
};
