/**
 * `trm trace --config JSON|FILE --seed N --mode train|eval|train-run --steps K [--batch FILE]
 * [--layout FILE] --out FILE`: a reference trace written by trm-ts itself (src/crosscheck/record.ts), in the format
 * of docs/trace-format.md, for a port to load and compare itself against.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Backend } from '../backend/backend.js';
import { decodeLayoutMap, toPortLayout } from '../crosscheck/layout-map.js';
import { recordHyper, recordTrace } from '../crosscheck/record.js';
import { onBackend } from '../crosscheck/compare.js';
import { readBatchFile, readTrace } from '../crosscheck/trace-file.js';
import { treeMap } from '../tensor/tree.js';
import { type BoundaryError, decode, formatBoundaryError } from '../io/errors.js';
import { type StWriteEntry, writeSafetensors } from '../io/safetensors.js';
import { TrainHyper } from '../train/hyper.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import { readConfigArg, readDocArg } from './config-file.js';
import { EXIT_OK, UsageError } from './errors.js';
import { positiveInt } from './train.js';

export interface TraceCliOptions {
  readonly config?: string;
  readonly initFrom?: string;
  readonly seed: string;
  readonly mode?: 'train' | 'eval' | 'train-run';
  readonly steps?: string;
  readonly batch?: string;
  readonly loss?: LossType;
  readonly train?: string;
  readonly blocks?: boolean;
  /** A layout map (YAML or JSON): write the trace in a port's names and layouts. */
  readonly layout?: string;
  readonly json?: boolean;
  readonly out: string;
}

/** The training fields `--train` may set (global_batch_size is the config's batch_size). */
const { global_batch_size: _g, seed: _s, loss_type: _l, ...trainFields } = TrainHyper.props;
const TrainArg = t.exact(t.partial(trainFields));

const orUsage = <A>(r: E.Either<BoundaryError, A>): A => {
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

/** The recorded entries in the port's terms, and the map as JSON for the file's metadata. */
const inPortLayout = (arg: string, entries: readonly StWriteEntry[], cfg: TrmConfig) => {
  const r = readDocArg(arg, '--layout');
  if (E.isLeft(r)) throw new UsageError(r.left);
  const map = orUsage(decodeLayoutMap(r.right.doc, r.right.source));
  const port = orUsage(toPortLayout(entries, map, cfg, r.right.source));
  return { ...port, map: JSON.stringify(map) };
};

export const runTraceCommand = (o: TraceCliOptions, backend: Backend): number => {
  const init = o.initFrom === undefined ? undefined : orUsage(readTrace(o.initFrom));
  if (init !== undefined && init.mode === 'train-run')
    throw new UsageError(`--init-from ${o.initFrom}: takes a train or eval trace, not a train-run`);
  if ((o.config === undefined) === (init === undefined)) throw new UsageError('give either --config or --init-from');
  const decoded: E.Either<string, TrmConfig> = init === undefined ? readConfigArg(o.config!) : E.right(init.config);
  if (E.isLeft(decoded)) throw new UsageError(decoded.left);
  const seed = Number(o.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError(`--seed: expected an integer ≥ 0, got '${o.seed}'`);
  const mode = o.mode ?? init?.mode ?? 'train';
  const trainRun = mode === 'train-run';
  if (o.train !== undefined && !trainRun) throw new UsageError('--train needs --mode train-run');
  const steps =
    o.steps === undefined ? (init?.steps ?? (trainRun ? 6 : decoded.right.nSup + 1)) : positiveInt('--steps', o.steps);
  const batch = o.batch === undefined ? init?.batch : orUsage(readBatchFile(o.batch, decoded.right));
  const hyper = trainRun ? recordHyper(decoded.right, steps, parseTrainArg(o.train)) : undefined;
  const cfg = trainRun ? decoded.right : withoutExploration(decoded.right);
  const { entries, metadata } = recordTrace(cfg, {
    mode,
    steps,
    seed,
    lossType: o.loss ?? init?.lossType ?? 'stablemax_cross_entropy',
    blocks: o.blocks === true,
    backend,
    ...(batch === undefined ? {} : { batch }),
    ...(init === undefined ? {} : { weights: treeMap(init.state, (t) => onBackend(t, backend)) }),
    ...(hyper === undefined ? {} : { hyper }),
  });
  const port = o.layout === undefined ? undefined : inPortLayout(o.layout, entries, cfg);
  const written = port?.entries ?? entries;
  orUsage(writeSafetensors(o.out, written, port === undefined ? metadata : { ...metadata, layout: port.map }));
  const dropped = port?.dropped ?? [];
  if (o.json === true) {
    process.stdout.write(
      `${JSON.stringify({ out: o.out, mode, steps, seed, tensors: written.length, layout: o.layout ?? null, left_out: dropped })}\n`,
    );
    return EXIT_OK;
  }
  process.stdout.write(
    `wrote ${o.out}: ${mode}, ${steps} ${trainRun ? 'optimizer' : 'supervision'} steps, ${written.length} tensors\n`,
  );
  if (dropped.length > 0)
    process.stdout.write(`  left out (the layout map says the port lacks them): ${dropped.join(', ')}\n`);
  return EXIT_OK;
};
