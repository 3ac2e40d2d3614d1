/**
 * `trm solve --checkpoint FILE --puzzle "1.3....." [--file F] [--halt max|adaptive] [--json]`:
 * the answer after every supervision step, the halting probability, and the cells that changed.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { fromStorage } from '../tensor/tensor.js';
import { formatCheckpointError, loadCheckpoint } from '../train/checkpoint.js';
import { type HaltMode, runSteps } from '../train/evaluate.js';
import { evalModel } from '../train/loop.js';
import { type Batch, stepContext } from '../trm/act.js';
import type { TrmConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import type { TrmState } from '../trm/params.js';
import { boardText } from '../viz/board.js';
import type { Backend } from '../backend/backend.js';
import { toBackend } from '../backend/select.js';
import { EXIT_OK, UsageError } from './errors.js';
import { type ParsedPuzzle, isSolution, parsePuzzle, puzzleString } from './sudoku-io.js';

export interface SolveStep {
  readonly step: number;
  readonly tokens: number[];
  readonly qHaltProb: number;
  readonly changed: number;
}

export interface Solution {
  readonly steps: SolveStep[];
  /** The step whose answer counts: N_sup ('max') or the first with q_halt > 0 ('adaptive'). */
  readonly haltedAt: number;
  readonly answer: number[];
  readonly valid: boolean;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** Runs the model on one puzzle for N_sup supervision steps and reads off every step's answer. */
export const solvePuzzle = (cfg: TrmConfig, model: TrmState, lossType: LossType, p: ParsedPuzzle, halt: HaltMode): Solution => {
  if (cfg.seqLen !== p.tokens.length) {
    throw new UsageError(`the model solves ${Math.sqrt(cfg.seqLen)}×${Math.sqrt(cfg.seqLen)} puzzles; this one is ${p.size}×${p.size}`);
  }
  const S = cfg.seqLen;
  const backend = model.buffers.yInit.backend;
  const batch: Batch = toBackend({
    inputs: fromStorage([1, S], Int32Array.from(p.tokens)),
    labels: fromStorage([1, S], new Int32Array(S).fill(-100)),
    puzzleIdentifiers: fromStorage([1], new Int32Array(1)),
  }, backend);
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
  return { steps, haltedAt, answer, valid: isSolution(p.box, p.tokens, answer) };
};

export const printSolution = (p: ParsedPuzzle, sol: Solution, out: (s: string) => void, color: boolean): void => {
  out(`puzzle (${p.size}×${p.size}):\n${boardText({ size: p.size, box: p.box, tokens: p.tokens, givens: p.tokens, color })}`);
  let prev: number[] | undefined;
  for (const st of sol.steps) {
    const mark = st.step === sol.haltedAt ? '   ← answer' : '';
    out(`\nafter supervision step ${st.step}: P(halt) = ${st.qHaltProb.toFixed(3)}, ${st.step === 1 ? 'first answer' : `${st.changed} cell(s) changed`}${mark}\n`);
    out(boardText({ size: p.size, box: p.box, tokens: st.tokens, givens: p.tokens, color, ...(prev ? { previous: prev } : {}) }));
    prev = st.tokens;
  }
  out(`\n${sol.valid ? 'solved: the answer is a valid Sudoku that keeps every given' : 'not solved: the answer breaks a Sudoku rule or a given'}\n`);
};

export const runSolveCommand = (o: { checkpoint: string; puzzle?: string; file?: string; halt: HaltMode; json?: boolean }, backend: Backend): number => {
  if ((o.puzzle === undefined) === (o.file === undefined)) throw new UsageError('give exactly one of --puzzle or --file');
  let text = o.puzzle ?? '';
  if (o.file !== undefined) {
    try {
      text = readFileSync(o.file, 'utf8');
    } catch (e) {
      throw new UsageError(`${o.file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  const p = parsePuzzle(text);
  if (E.isLeft(p)) throw new UsageError(`${o.file ?? '--puzzle'}: ${p.left}`);
  const ck = loadCheckpoint(o.checkpoint);
  if (E.isLeft(ck)) throw new UsageError(formatCheckpointError(ck.left));
  const sol = solvePuzzle(ck.right.config, toBackend(evalModel(ck.right.state), backend), ck.right.hyper.loss_type, p.right, o.halt);
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({
        puzzle: puzzleString(p.right.tokens),
        halt: o.halt,
        halted_at: sol.haltedAt,
        answer: puzzleString(sol.answer),
        valid: sol.valid,
        steps: sol.steps.map((s) => ({ step: s.step, board: puzzleString(s.tokens), q_halt_prob: s.qHaltProb, changed: s.changed })),
      })}\n`,
    );
  } else {
    printSolution(p.right, sol, (s) => process.stdout.write(s), process.stdout.isTTY === true);
  }
  return EXIT_OK;
};
