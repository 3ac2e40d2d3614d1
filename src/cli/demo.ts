/**
 * `npm start` (= `trm demo`): the whole experience on a laptop CPU in a few minutes.
 *   1. generate 4×4 Sudoku puzzles (train and a disjoint held-out set);
 *   2. train the `sudoku4` preset within a wall-clock budget;
 *   3. evaluate on held-out puzzles;
 *   4. solve one held-out puzzle and print the board after each supervision step;
 *   5. write the checkpoint, the log, pictures and a summary to runs/<timestamp>/.
 */
import { progressBar } from './progress.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from '../io/atomic.js';
import { sudokuSet } from '../data/sudoku.js';
import { evaluate } from '../train/evaluate.js';
import { sudokuEvalBatches } from '../train/feed.js';
import { evalModel } from '../train/loop.js';
import { PRESETS } from '../train/presets.js';
import { runTraining } from '../train/run.js';
import { stepContext } from '../trm/act.js';
import { countParams } from '../trm/params.js';
import { refinementBoard, stepAccuracyChart } from '../viz/index.js';
import { writePictures } from './pictures.js';
import { runPictures } from './plot.js';
import type { Backend } from '../backend/backend.js';
import { describeBackend } from '../accel/select.js';
import { toBackend } from '../tensor/move.js';
import { EXIT_OK, UsageError } from './errors.js';
import { printSolution } from './solve.js';
import { solvePuzzle } from '../train/solve.js';
import { positiveInt, positiveNumber } from './train.js';

export interface DemoOptions {
  readonly out?: string;
  readonly budget: string;
  readonly evalCount: string;
  /** Print only the summary, as one JSON object; progress goes to stderr. */
  readonly json?: boolean;
}

const stamp = (): string => new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');

export const runDemoCommand = (o: DemoOptions, backend: Backend): number => {
  const t0 = performance.now();
  const json = o.json === true;
  const say = (s: string) => {
    if (!json) process.stdout.write(`${s}\n`);
  };
  const bar = json ? process.stderr : process.stdout;
  const budget = positiveNumber('--budget', o.budget);
  const evalCount = positiveInt('--eval-count', o.evalCount);
  const out = o.out ?? join('runs', stamp());
  mkdirSync(out, { recursive: true });
  const preset = PRESETS.sudoku4!;
  say('trm-ts demo: the Tiny Recursive Model learns 4×4 Sudoku on this CPU');
  say(`  preset ${preset.name}: ${preset.description}`);
  say(`  run folder ${out}; training budget ${budget} s (change with --budget); kernels: ${describeBackend(backend)}`);

  const r = runTraining({
    preset,
    arch: { ...preset.arch },
    hyper: { ...preset.hyper },
    steps: preset.steps,
    out,
    resume: null,
    timeBudgetS: budget,
    checkpointEvery: 50,
    progress: progressBar({ isTTY: bar.isTTY === true, write: (s) => bar.write(s) }),
    backend,
  });
  if (E.isLeft(r)) throw new UsageError(r.left);
  const { cfg, hyper, state, data, log } = r.right;
  say(
    `\ntrained ${state.step} optimizer steps in ${r.right.trainSeconds.toFixed(0)} s (${countParams(cfg)} parameters)` +
      (r.right.stoppedByBudget ? `; stopped by the budget before the preset's ${preset.steps} steps` : ''),
  );

  // Held-out evaluation (the official rule: answer after N_sup steps).
  const items = data.test.items.slice(0, evalCount);
  const batches = toBackend(sudokuEvalBatches(sudokuSet(data.test.box, items), 128), backend);
  const model = evalModel(state);
  const ctx = stepContext(cfg, backend);
  const tEval = performance.now();
  const ev = evaluate(cfg, ctx, model, batches, { halt: 'max', lossType: hyper.loss_type });
  say(
    `held-out: ${ev.count} puzzles never seen in training: exact accuracy ${(100 * ev.exact_accuracy).toFixed(1)} %, ` +
      `cell accuracy ${(100 * ev.accuracy).toFixed(1)} % (${((performance.now() - tEval) / 1000).toFixed(0)} s)`,
  );
  say(
    `  exact accuracy if the answer is read after supervision step 1..${cfg.nSup}: ${ev.exact_by_step.map((v) => `${(100 * v).toFixed(1)} %`).join(', ')}`,
  );

  // One held-out puzzle, step by step.
  const item = data.test.items[0]!;
  const puzzle = { size: 4 as const, box: data.test.box, tokens: Array.from(item.puzzle) };
  const solved = solvePuzzle(cfg, model, hyper.loss_type, puzzle, 'max');
  if (E.isLeft(solved)) throw new UsageError(solved.left);
  const sol = solved.right;
  say('\none held-out puzzle, refined step by step (* = changed since the previous step):');
  if (!json) printSolution(puzzle, sol, (s) => process.stdout.write(s), process.stdout.isTTY === true);

  // Pictures (SVG and PNG) and summary.
  const pics: [string, string][] = [
    ...runPictures(log, `sudoku4 training (${state.step} steps)`),
    ['exact_by_step', stepAccuracyChart(ev.exact_by_step, { title: 'Held-out exact accuracy by supervision step' })],
    [
      'refinement',
      refinementBoard({
        size: 4,
        box: data.test.box,
        puzzle: puzzle.tokens,
        steps: sol.steps.map((s) => ({ preds: s.tokens, qHaltProb: s.qHaltProb })),
        solution: Array.from(item.solution),
        title: 'One held-out puzzle: the answer after each supervision step',
      }),
    ],
  ];
  const drawn = writePictures(out, pics);
  if (E.isLeft(drawn)) throw new UsageError(drawn.left);
  const summary = {
    preset: preset.name,
    steps: state.step,
    train_seconds: Number(r.right.trainSeconds.toFixed(1)),
    stopped_by_budget: r.right.stoppedByBudget,
    params: countParams(cfg),
    held_out: {
      count: ev.count,
      exact_accuracy: ev.exact_accuracy,
      accuracy: ev.accuracy,
      exact_by_step: ev.exact_by_step,
    },
    example: { puzzle: Array.from(item.puzzle), solved: sol.valid },
    total_seconds: Number(((performance.now() - t0) / 1000).toFixed(1)),
  };
  const written = writeFileAtomic(join(out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  if (E.isLeft(written)) throw new UsageError(`${join(out, 'summary.json')}: ${written.left.message}`);
  if (json) process.stdout.write(`${JSON.stringify({ out, ...summary })}\n`);
  say(
    `\nwrote ${out}/: checkpoint.safetensors, log.jsonl, summary.json, and as SVG and PNG: ${pics.map(([n]) => n).join(', ')}`,
  );
  say(
    `next: npx trm solve --checkpoint ${out}/checkpoint.safetensors --puzzle "1..4.4.....3.2.."   (total ${summary.total_seconds} s)`,
  );
  return EXIT_OK;
};
