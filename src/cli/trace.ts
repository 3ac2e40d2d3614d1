/**
 * `trm trace --config JSON|FILE --seed N --mode train|eval|train-run --steps K [--batch FILE]
 * --out FILE`: a reference trace written by trm-ts itself (src/crosscheck/record.ts), in the format
 * of docs/trace-format.md, for a port to load and compare itself against.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Backend } from '../backend/backend.js';
import { recordHyper, recordTrace } from '../crosscheck/record.js';
import { readBatchFile } from '../crosscheck/trace.js';
import { decode, formatBoundaryError } from '../io/errors.js';
import { writeSafetensors } from '../io/safetensors.js';
import { TrainHyper } from '../train/hyper.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import { readConfigArg, readDocArg } from './config-file.js';
import { EXIT_OK, UsageError } from './errors.js';
import { positiveInt } from './train.js';

export interface TraceCliOptions {
  readonly config: string;
  readonly seed: string;
  readonly mode: 'train' | 'eval' | 'train-run';
  readonly steps?: string;
  readonly batch?: string;
  readonly loss: LossType;
  readonly train?: string;
  readonly blocks?: boolean;
  readonly out: string;
}

/** The training fields `--train` may set (global_batch_size is the config's batch_size). */
const { global_batch_size: _g, seed: _s, loss_type: _l, ...trainFields } = TrainHyper.props;
const TrainArg = t.exact(t.partial(trainFields));

const orUsage = <A>(r: E.Either<{ file: string; field: string; message: string }, A>): A => {
  if (E.isLeft(r)) throw new UsageError(formatBoundaryError(r.left));
  return r.right;
};

const parseTrainArg = (arg: string | undefined): Partial<TrainHyper> => {
  if (arg === undefined) return {};
  const r = readDocArg(arg, '--train');
  if (E.isLeft(r)) throw new UsageError(r.left);
  const { doc, source } = r.right;
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
    const unknown = Object.keys(doc).filter((k) => !(k in trainFields));
    if (unknown.length > 0)
      throw new UsageError(
        `${source}: ${unknown[0]}: not a training field (known: ${Object.keys(trainFields).join(', ')})`,
      );
  }
  return orUsage(decode(TrainArg, source, doc));
};

/** Train and eval traces run without exploration, as the official recorder's do. */
const withoutExploration = (cfg: TrmConfig): TrmConfig => {
  if (cfg.haltExplorationProb === 0) return cfg;
  process.stderr.write(
    `trm trace: halt_exploration_prob ${cfg.haltExplorationProb} replaced by 0 (a train or eval trace runs without exploration)\n`,
  );
  return orUsage(decodeConfig({ ...cfg.official, halt_exploration_prob: 0 }));
};

export const runTraceCommand = (o: TraceCliOptions, backend: Backend): number => {
  const decoded = readConfigArg(o.config);
  if (E.isLeft(decoded)) throw new UsageError(decoded.left);
  const seed = Number(o.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError(`--seed: expected an integer ≥ 0, got '${o.seed}'`);
  const trainRun = o.mode === 'train-run';
  if (o.train !== undefined && !trainRun) throw new UsageError('--train needs --mode train-run');
  const steps = o.steps === undefined ? (trainRun ? 6 : decoded.right.nSup + 1) : positiveInt('--steps', o.steps);
  const batch = o.batch === undefined ? undefined : orUsage(readBatchFile(o.batch, decoded.right));
  const hyper = trainRun ? recordHyper(decoded.right, steps, parseTrainArg(o.train)) : undefined;
  const cfg = trainRun ? decoded.right : withoutExploration(decoded.right);
  const { entries, metadata } = recordTrace(cfg, {
    mode: o.mode,
    steps,
    seed,
    lossType: o.loss,
    blocks: o.blocks === true,
    backend,
    ...(batch === undefined ? {} : { batch }),
    ...(hyper === undefined ? {} : { hyper }),
  });
  orUsage(writeSafetensors(o.out, entries, metadata));
  process.stdout.write(
    `wrote ${o.out}: ${o.mode}, ${steps} ${trainRun ? 'optimizer' : 'supervision'} steps, ${entries.length} tensors\n`,
  );
  return EXIT_OK;
};
