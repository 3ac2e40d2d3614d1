/**
 * `trm solve --checkpoint FILE --puzzle "1.3....." [--file F] [--halt max|adaptive] [--json]`:
 * the answer after every supervision step, the halting probability, and the cells that changed.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { loadCheckpoint } from '../train/checkpoint-file.js';
import type { HaltMode } from '../train/evaluate.js';
import { evalModel } from '../train/loop.js';
import { boardText } from '../viz/board.js';
import type { Backend } from '../backend/backend.js';
import { toBackend } from '../tensor/move.js';
import { EXIT_OK, UsageError } from './errors.js';
import { type ParsedPuzzle, parsePuzzle, puzzleString } from '../data/sudoku-io.js';
import { type Solution, solvePuzzle } from '../train/solve.js';
import { formatBoundaryError } from '../io/errors.js';

export type { Solution, SolveStep } from '../train/solve.js';

export const printSolution = (p: ParsedPuzzle, sol: Solution, out: (s: string) => void, color: boolean): void => {
  out(
    `puzzle (${p.size}×${p.size}):\n${boardText({ size: p.size, box: p.box, tokens: p.tokens, givens: p.tokens, color })}`,
  );
  let prev: number[] | undefined;
  for (const st of sol.steps) {
    const mark = st.step === sol.haltedAt ? '   ← answer' : '';
    out(
      `\nafter supervision step ${st.step}: P(halt) = ${st.qHaltProb.toFixed(3)}, ${st.step === 1 ? 'first answer' : `${st.changed} cell(s) changed`}${mark}\n`,
    );
    out(
      boardText({
        size: p.size,
        box: p.box,
        tokens: st.tokens,
        givens: p.tokens,
        color,
        ...(prev ? { previous: prev } : {}),
      }),
    );
    prev = st.tokens;
  }
  out(
    `\n${sol.valid ? 'solved: the answer is a valid Sudoku that keeps every given' : 'not solved: the answer breaks a Sudoku rule or a given'}\n`,
  );
};

export const runSolveCommand = (
  o: { checkpoint: string; puzzle?: string; file?: string; halt: HaltMode; json?: boolean },
  backend: Backend,
): number => {
  if ((o.puzzle === undefined) === (o.file === undefined))
    throw new UsageError('give exactly one of --puzzle or --file');
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
  if (E.isLeft(ck)) throw new UsageError(formatBoundaryError(ck.left));
  const solved = solvePuzzle(
    ck.right.config,
    toBackend(evalModel(ck.right.state), backend),
    ck.right.hyper.loss_type,
    p.right,
    o.halt,
  );
  if (E.isLeft(solved)) throw new UsageError(solved.left);
  const sol = solved.right;
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({
        puzzle: puzzleString(p.right.tokens),
        halt: o.halt,
        halted_at: sol.haltedAt,
        answer: puzzleString(sol.answer),
        valid: sol.valid,
        steps: sol.steps.map((s) => ({
          step: s.step,
          board: puzzleString(s.tokens),
          q_halt_prob: s.qHaltProb,
          changed: s.changed,
        })),
      })}\n`,
    );
  } else {
    printSolution(p.right, sol, (s) => process.stdout.write(s), process.stdout.isTTY === true);
  }
  return EXIT_OK;
};
