/**
 * `trm export` and `trm import`: official-format weights (state_dict key names, as safetensors).
 */
import { writeFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { key } from '../random/key.js';
import { loadCheckpoint, saveCheckpoint } from '../train/checkpoint-file.js';
import { OFFICIAL_TRAIN_DEFAULTS } from '../train/hyper.js';
import { evalModel, initTrainState, makeSetup } from '../train/loop.js';
import { stepContext } from '../trm/act.js';
import { exportOfficial, importOfficial } from '../trm/checkpoint.js';
import { readConfigFile } from './config-file.js';
import { EXIT_OK, UsageError } from './errors.js';
import { formatBoundaryError } from '../io/errors.js';

export const runExportCommand = (o: {
  checkpoint: string;
  out: string;
  prefix: string;
  weights: 'ema' | 'live';
  json?: boolean;
}): number => {
  const ck = loadCheckpoint(o.checkpoint);
  if (E.isLeft(ck)) throw new UsageError(formatBoundaryError(ck.left));
  const { config, state } = ck.right;
  const model = o.weights === 'ema' ? evalModel(state) : state.model;
  const w = writeSafetensors(o.out, exportOfficial(config, model, o.prefix), {
    format: 'pt',
    trm_config: JSON.stringify(config.official),
  });
  if (E.isLeft(w)) throw new UsageError(formatBoundaryError(w.left));
  writeFileSync(`${o.out}.config.json`, `${JSON.stringify(config.official, null, 2)}\n`);
  process.stdout.write(
    o.json === true
      ? `${JSON.stringify({ out: o.out, config: `${o.out}.config.json`, weights: o.weights, prefix: o.prefix })}\n`
      : `wrote ${o.out} (${o.weights} weights, keys prefixed '${o.prefix}') and ${o.out}.config.json\n`,
  );
  return EXIT_OK;
};

/**
 * A run's all_config.yaml has no data-derived fields (vocab_size, seq_len, num_puzzle_identifiers):
 * take vocab_size and num_puzzle_identifiers from the weights' shapes, seq_len from --seq-len.
 * Values in the config file win.
 */
const fromWeights = (
  tensors: ReadonlyMap<string, { shape: readonly number[] }>,
  seqLen: number | undefined,
): Record<string, unknown> => {
  const find = (suffix: string) => [...tensors].find(([k]) => k.endsWith(suffix))?.[1];
  const extra: Record<string, unknown> = {};
  const tok = find('inner.embed_tokens.embedding_weight');
  if (tok !== undefined) extra.vocab_size = tok.shape[0];
  const emb = find('inner.puzzle_emb.weights');
  if (emb !== undefined) extra.num_puzzle_identifiers = emb.shape[0];
  if (seqLen !== undefined) extra.seq_len = seqLen;
  return extra;
};

export const runImportCommand = (o: {
  file: string;
  config: string;
  out: string;
  seqLen?: string;
  json?: boolean;
}): number => {
  const st = readSafetensors(o.file);
  if (E.isLeft(st)) throw new UsageError(formatBoundaryError(st.left));
  const seqLen = o.seqLen === undefined ? undefined : Number(o.seqLen);
  if (seqLen !== undefined && (!Number.isInteger(seqLen) || seqLen < 1))
    throw new UsageError(`--seq-len: expected a positive integer, got '${o.seqLen}'`);
  const cfg = readConfigFile(o.config, fromWeights(st.right.tensors, seqLen));
  if (E.isLeft(cfg)) throw new UsageError(cfg.left);
  const imported = importOfficial(cfg.right, st.right.tensors, o.file);
  if (E.isLeft(imported)) throw new UsageError(formatBoundaryError(imported.left));
  const hyper = { ...OFFICIAL_TRAIN_DEFAULTS, global_batch_size: cfg.right.batchSize };
  const setup = makeSetup(cfg.right, stepContext(cfg.right), hyper);
  const s = initTrainState(setup, imported.right, key(hyper.seed));
  const w = saveCheckpoint(o.out, cfg.right, hyper, { preset: 'imported', data: null }, s);
  if (E.isLeft(w)) throw new UsageError(formatBoundaryError(w.left));
  process.stdout.write(
    o.json === true
      ? `${JSON.stringify({ out: o.out, from: o.file, step: 0 })}\n`
      : `wrote ${o.out}: official weights from ${o.file} as a trm checkpoint (step 0, fresh optimizer state)\n`,
  );
  return EXIT_OK;
};
