/** `trm eval --checkpoint FILE [--data DIR] [--halt max|adaptive] [--limit N] [--json]` */
import * as E from 'fp-ts/lib/Either.js';
import { readDataset } from '../data/dataset.js';
import { testBatches } from '../data/batching.js';
import { formatBoundaryError } from '../io/errors.js';
import { sudokuSet } from '../data/sudoku.js';
import { loadCheckpoint } from '../train/checkpoint-file.js';
import { type EvalResult, type HaltMode, evaluate } from '../train/evaluate.js';
import { sudokuEvalBatches } from '../train/feed.js';
import { evalModel } from '../train/loop.js';
import { type DataSpec, presetData } from '../train/run.js';
import type { Batch } from '../trm/act.js';
import { stepContext } from '../trm/act.js';
import type { Backend } from '../backend/backend.js';
import { toBackend } from '../tensor/move.js';
import { counter, terminalProgress } from './progress.js';
import { EXIT_OK, UsageError } from './errors.js';
import { positiveInt } from './train.js';

export interface EvalCliOptions {
  readonly checkpoint: string;
  readonly data?: string;
  readonly halt: HaltMode;
  readonly limit?: string;
  readonly batchSize: string;
  readonly json?: boolean;
}

export const runEvalCommand = (o: EvalCliOptions, backend: Backend): number => {
  const ck = loadCheckpoint(o.checkpoint);
  if (E.isLeft(ck)) throw new UsageError(formatBoundaryError(ck.left));
  const { config: cfg, hyper } = ck.right;
  const limit = o.limit === undefined ? Infinity : positiveInt('--limit', o.limit);
  const bs = positiveInt('--batch-size', o.batchSize);
  let batches: Batch[];
  let source: string;
  if (o.data !== undefined) {
    const ds = readDataset(o.data);
    if (E.isLeft(ds)) throw new UsageError(formatBoundaryError(ds.left));
    const test = ds.right.splits.test;
    if (test === undefined) throw new UsageError(`${o.data}: no test split`);
    if (test.metadata.seq_len !== cfg.seqLen)
      throw new UsageError(`${o.data}: seq_len ${test.metadata.seq_len} does not match the model's ${cfg.seqLen}`);
    batches = [];
    let rows = 0;
    for (const { batch } of testBatches(test, { globalBatchSize: bs })) {
      if (rows >= limit) break;
      batches.push(batch);
      rows += bs;
    }
    source = `${o.data} (test split)`;
  } else {
    const spec = ck.right.data as DataSpec | null;
    if (spec === null || typeof spec !== 'object')
      throw new UsageError(`${o.checkpoint}: no built-in data recorded; pass --data DIR`);
    const { test } = presetData(spec);
    const items = test.items.slice(0, Math.min(limit, test.items.length));
    batches = sudokuEvalBatches(sudokuSet(test.box, items), bs);
    source = `held-out split of preset ${ck.right.preset} (${items.length} puzzles, disjoint from training)`;
  }
  const progress = terminalProgress();
  const res: EvalResult = evaluate(
    cfg,
    stepContext(cfg, backend),
    toBackend(evalModel(ck.right.state), backend),
    toBackend(batches, backend),
    {
      halt: o.halt,
      lossType: hyper.loss_type,
      ...(progress === undefined ? {} : { onBatch: counter(progress, 'batch') }),
    },
  );
  progress?.done();
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({ ...res, checkpoint: o.checkpoint, step: ck.right.state.step, data: source })}\n`,
    );
  } else {
    process.stdout.write(
      `${source}\n  count ${res.count}  exact_accuracy ${res.exact_accuracy.toFixed(4)}  accuracy ${res.accuracy.toFixed(4)}  ` +
        `q_halt_accuracy ${res.q_halt_accuracy.toFixed(4)}  steps ${res.steps.toFixed(2)} (halt ${res.halt})\n` +
        `  exact accuracy by supervision step: ${res.exact_by_step.map((v) => v.toFixed(3)).join(' ')}\n`,
    );
  }
  return EXIT_OK;
};
