/** `trm train --preset NAME [--steps N] [--resume FILE] [key=value …] --out DIR` */
import { progressBar } from './progress.js';
import * as E from 'fp-ts/lib/Either.js';
import { join } from 'node:path';
import { loadCheckpoint } from '../train/checkpoint-file.js';
import { writePictures } from './pictures.js';
import { readTrainingLog, runPictures } from './plot.js';
import { applyOverrides, parseOverrides } from '../train/overrides.js';
import { PRESETS } from '../train/presets.js';
import { runTraining } from '../train/run.js';
import type { Backend } from '../backend/backend.js';
import { describeBackend } from '../accel/select.js';
import { EXIT_OK, UsageError } from './errors.js';
import { formatBoundaryError } from '../io/errors.js';

export interface TrainCliOptions {
  readonly preset?: string;
  readonly steps?: string;
  readonly resume?: string;
  readonly out: string;
  readonly timeBudget?: string;
  readonly checkpointEvery: string;
  readonly json?: boolean;
}

export const positiveInt = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag}: expected a positive integer, got '${v}'`);
  return n;
};

export const positiveNumber = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag}: expected a positive number, got '${v}'`);
  return n;
};

export const presetByName = (name: string) => {
  const p = PRESETS[name];
  if (p === undefined) throw new UsageError(`unknown preset '${name}' (available: ${Object.keys(PRESETS).join(', ')})`);
  return p;
};

export const runTrainCommand = (overrideArgs: readonly string[], o: TrainCliOptions, backend: Backend): number => {
  const resume = o.resume === undefined ? null : loadCheckpoint(o.resume);
  if (resume !== null && E.isLeft(resume)) throw new UsageError(formatBoundaryError(resume.left));
  const loaded =
    resume === null ? null : (resume as E.Right<Parameters<typeof runTraining>[0]['resume'] & object>).right;
  const presetName = o.preset ?? loaded?.preset;
  if (presetName === undefined) throw new UsageError('--preset is required (or --resume a checkpoint)');
  const preset = presetByName(presetName);
  if (loaded !== null && o.preset !== undefined && o.preset !== loaded.preset) {
    throw new UsageError(`--preset ${o.preset} does not match the checkpoint's preset ${loaded.preset}`);
  }
  const ov = parseOverrides(overrideArgs);
  if (E.isLeft(ov)) throw new UsageError(ov.left);
  if (loaded !== null && overrideArgs.length > 0)
    throw new UsageError('key=value overrides cannot change a resumed run (its config is in the checkpoint)');
  const { arch, hyper, data } = applyOverrides(preset, ov.right);
  const steps = o.steps === undefined ? Number(hyper.total_steps ?? preset.steps) : positiveInt('--steps', o.steps);
  if (loaded !== null && loaded.state.step >= steps) {
    throw new UsageError(`the checkpoint is already at step ${loaded.state.step} ≥ --steps ${steps}`);
  }
  const r = runTraining({
    preset,
    arch,
    hyper,
    data,
    steps,
    out: o.out,
    resume: loaded,
    timeBudgetS: o.timeBudget === undefined ? null : positiveNumber('--time-budget', o.timeBudget),
    checkpointEvery: positiveInt('--checkpoint-every', o.checkpointEvery),
    progress: progressBar({ isTTY: process.stderr.isTTY === true, write: (s) => process.stderr.write(s) }),
    backend,
  });
  if (E.isLeft(r)) throw new UsageError(r.left);
  const res = r.right;
  const last = res.log[res.log.length - 1];
  // The same training pictures as npm start, from the whole log (a resumed run's earlier rows too).
  const rows = readTrainingLog(join(o.out, 'log.jsonl'));
  const drawn = E.isLeft(rows)
    ? E.right<string, string[]>([])
    : writePictures(o.out, runPictures(rows.right, `${presetName} (${res.state.step} steps)`));
  if (E.isLeft(drawn)) throw new UsageError(drawn.left);
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({
        steps_trained: res.log.length,
        step: res.state.step,
        seconds: res.trainSeconds,
        backend: describeBackend(backend),
        stopped_by_budget: res.stoppedByBudget,
        last: last ?? null,
        checkpoint: res.checkpoint,
        log: `${o.out}/log.jsonl`,
        pictures: drawn.right,
      })}\n`,
    );
    return EXIT_OK;
  }
  process.stdout.write(
    `trained ${res.log.length} steps (now at step ${res.state.step}) in ${res.trainSeconds.toFixed(1)} s on ${describeBackend(backend)}` +
      (res.stoppedByBudget ? ' (stopped by --time-budget)' : '') +
      (last ? `; last loss ${last.loss.toFixed(4)}` : '') +
      `\ncheckpoint: ${res.checkpoint}\nlog: ${o.out}/log.jsonl\n` +
      (drawn.right.length > 0
        ? `pictures: ${drawn.right.filter((f) => f.endsWith('.png')).join(', ')} (and SVG)\n`
        : ''),
  );
  return EXIT_OK;
};
