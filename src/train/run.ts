/**
 * A training run as users start it (`trm train`, `npm start`): preset + overrides → data →
 * official loop → checkpoint and log in the run folder. Stops at `steps`, or earlier when a
 * wall-clock budget is given (and then says so).
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { type Key, foldIn, key } from '../random/index.js';
import { generateSudokuSplits } from '../data/sudoku-dataset.js';
import { BOXES, type SudokuSet, puzzleKey } from '../data/sudoku.js';
import { stepContext } from '../trm/act.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import { initState } from '../trm/params.js';
import type { LoadedCheckpoint } from './checkpoint.js';
import { saveCheckpoint } from './checkpoint-file.js';
import { sudokuTrainBatch } from './feed.js';
import { TrainHyper } from './hyper.js';
import { type TrainMetrics, type TrainState, initTrainState, makeSetup, trainStep } from './loop.js';
import type { Preset, SudokuData } from './presets.js';
import type { Backend } from '../backend/backend.js';
import { toBackend } from '../tensor/move.js';
import { decode, formatBoundaryError } from '../io/errors.js';

/** What a run reports after every step (the CLI draws it as a progress bar). */
export interface ProgressFields {
  /** What is counted (default `step`, e.g. `batch` for an evaluation). */
  readonly unit?: string;
  readonly step: number;
  readonly total: number;
  readonly loss?: number;
  readonly accuracy?: number;
  readonly exact?: number;
  readonly elapsedS: number;
}

/** Receives a run's progress: `update` after every step, `done` once at the end. */
export interface Progress {
  update(f: ProgressFields): void;
  done(): void;
}

export interface PresetData {
  readonly train: SudokuSet;
  readonly test: SudokuSet;
  /** Held-out puzzle strings: training augmentation never produces them. */
  readonly avoid: ReadonlySet<string>;
}

/** The data description stored in checkpoints: enough to regenerate the exact splits. */
export interface DataSpec extends SudokuData {
  readonly seed: number;
}

/** Train and held-out puzzles of a preset, deterministic in the seed and disjoint. */
export const presetData = (d: DataSpec): PresetData => {
  const { train, test } = generateSudokuSplits(foldIn(key(d.seed), 1), {
    box: BOXES[d.size],
    trainCount: d.trainCount,
    testCount: d.testCount,
    disjointBy: d.disjointBy,
  });
  return { train, test, avoid: new Set(test.items.map((it) => puzzleKey(it.puzzle))) };
};

export interface RunRequest {
  readonly preset: Preset;
  readonly arch: Record<string, unknown>;
  readonly hyper: Record<string, unknown>;
  /** Overrides of the preset's data sizes (trainCount, testCount). */
  readonly data?: Record<string, unknown>;
  /** Stop after this optimizer step (the schedule's horizon stays hyper.total_steps). */
  readonly steps: number;
  readonly out: string;
  readonly resume: LoadedCheckpoint | null;
  readonly timeBudgetS: number | null;
  readonly checkpointEvery: number;
  readonly progress: Progress;
  /** Called after every step (for the demo's live output); optional. */
  readonly onStep?: (m: TrainMetrics) => void;
  /** Where the kernels run (the model code is the same on every backend). */
  readonly backend: Backend;
}

export interface RunResult {
  readonly cfg: TrmConfig;
  readonly hyper: TrainHyper;
  readonly state: TrainState;
  readonly data: PresetData;
  readonly dataSpec: DataSpec;
  readonly log: readonly (TrainMetrics & { elapsed_s: number })[];
  readonly stoppedByBudget: boolean;
  readonly checkpoint: string;
  readonly trainSeconds: number;
}

const decodeHyper = (h: unknown): E.Either<string, TrainHyper> =>
  pipe(decode(TrainHyper, 'hyperparameters', h), E.mapLeft(formatBoundaryError));

export const runTraining = (req: RunRequest): E.Either<string, RunResult> => {
  const cfgE = req.resume ? E.right(req.resume.config) : pipe(decodeConfig(req.arch), E.mapLeft(formatBoundaryError));
  if (E.isLeft(cfgE)) return cfgE;
  const hyperE = req.resume ? E.right(req.resume.hyper) : decodeHyper(req.hyper);
  if (E.isLeft(hyperE)) return hyperE;
  const cfg = cfgE.right;
  const hyper = hyperE.right;
  if (req.preset.data === null)
    return E.left(`preset '${req.preset.name}' has no built-in data; it is for reading and cross-checking`);
  const dataSpec: DataSpec = (req.resume?.data as DataSpec | undefined) ?? {
    ...req.preset.data,
    ...(req.data ?? {}),
    seed: hyper.seed,
  };
  if (cfg.batchSize !== hyper.global_batch_size) {
    return E.left(
      `arch.batch_size (${cfg.batchSize}) must equal global_batch_size (${hyper.global_batch_size}) on one process`,
    );
  }
  const data = presetData(dataSpec);
  if (cfg.seqLen !== data.train.seqLen || cfg.vocabSize !== data.train.vocabSize) {
    return E.left(
      `the data (seq_len ${data.train.seqLen}, vocab ${data.train.vocabSize}) does not fit the model (seq_len ${cfg.seqLen}, vocab ${cfg.vocabSize})`,
    );
  }
  const setup = makeSetup(cfg, stepContext(cfg, req.backend), hyper);
  const root: Key = key(hyper.seed);
  let state: TrainState = req.resume
    ? toBackend(req.resume.state, req.backend)
    : initTrainState(setup, initState(cfg, foldIn(root, 0), { backend: req.backend }), foldIn(root, 2));
  const feedKey = foldIn(root, 3);
  mkdirSync(req.out, { recursive: true });
  const checkpoint = join(req.out, 'checkpoint.safetensors');
  const logFile = join(req.out, 'log.jsonl');
  const meta = { preset: req.preset.name, data: dataSpec };
  const save = (s: TrainState): E.Either<string, void> =>
    pipe(saveCheckpoint(checkpoint, cfg, hyper, meta, s), E.mapLeft(formatBoundaryError));

  const bar = req.progress;
  const log: (TrainMetrics & { elapsed_s: number })[] = [];
  const t0 = performance.now();
  let stoppedByBudget = false;
  let ema: { loss: number; acc: number } | null = null;
  while (state.step < req.steps) {
    const batch = toBackend(
      sudokuTrainBatch(data.train, feedKey, state.step, {
        batchSize: hyper.global_batch_size,
        augment: dataSpec.augment,
        avoid: data.avoid,
      }),
      req.backend,
    );
    let r: ReturnType<typeof trainStep>;
    try {
      r = trainStep(setup, state, batch);
    } catch (e) {
      bar.done();
      return E.left((e as Error).message);
    }
    state = r.state;
    if (r.metrics === null) continue; // past total_steps: the official loop does nothing
    const elapsed = (performance.now() - t0) / 1000;
    const row = { ...r.metrics, elapsed_s: Number(elapsed.toFixed(3)) };
    log.push(row);
    appendFileSync(logFile, `${JSON.stringify(row)}\n`);
    ema =
      ema === null
        ? { loss: row.loss, acc: row.accuracy }
        : { loss: 0.9 * ema.loss + 0.1 * row.loss, acc: row.count > 0 ? 0.9 * ema.acc + 0.1 * row.accuracy : ema.acc };
    bar.update({ step: state.step, total: req.steps, loss: ema.loss, accuracy: ema.acc, elapsedS: elapsed });
    req.onStep?.(r.metrics);
    if (state.step % req.checkpointEvery === 0) {
      const saved = save(state);
      if (E.isLeft(saved)) return saved;
    }
    if (req.timeBudgetS !== null && elapsed >= req.timeBudgetS) {
      stoppedByBudget = state.step < req.steps;
      break;
    }
  }
  bar.done();
  const saved = save(state);
  if (E.isLeft(saved)) return saved;
  return E.right({
    cfg,
    hyper,
    state,
    data,
    dataSpec,
    log,
    stoppedByBudget,
    checkpoint,
    trainSeconds: (performance.now() - t0) / 1000,
  });
};
