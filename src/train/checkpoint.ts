/**
 * Training checkpoints: one safetensors file with everything a bit-identical resume needs.
 *
 *   model/<official name>      weights and buffers (H_init, L_init, puzzle_emb.weights, ...)
 *   ema/<official name>        the EMA of the trainable weights (when enabled)
 *   optim/exp_avg.<path>, optim/exp_avg_sq.<path>   AdamATan2 moments
 *   carry/y, carry/z, carry/steps, carry/halted, carry/inputs, carry/labels, carry/puzzle_identifiers
 *   __metadata__: format trm-checkpoint/1, config (official names, JSON), hyper (JSON), preset,
 *                 step, optim_step, key, data (JSON)
 *
 * The data stream and the exploration draws are functions of (key, step), so restoring these
 * values and the step restores the run exactly. This module works on bytes and runs anywhere;
 * checkpoint-file.ts reads and writes files (written to a temporary name and renamed).
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import type { SafetensorsFile } from '../io/safetensors-read.js';
import { type StWriteEntry, encodeSafetensors } from '../io/safetensors-write.js';
import { keyFromString, keyToString } from '../random/key.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Carry } from '../trm/act.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import { type TrmParams, type TrmState, fromOfficial, officialLayout } from '../trm/params.js';
import { TrainHyper } from './hyper.js';
import type { TrainState } from './loop.js';
import { optimizerStateScalars, optimizerStateTensors, restoreOptimizerState } from './optim.js';
import { type BoundaryError, boundaryError, decode, fail } from '../io/errors.js';

export const CHECKPOINT_FORMAT = 'trm-checkpoint/1';

/** Run information saved with a checkpoint besides the config, hyperparameters and state. */
export interface CheckpointMeta {
  /** Name of the training preset the run used. */
  readonly preset: string;
  /** How the data stream was made (preset data options + seed), echoed back on resume. */
  readonly data: unknown;
}

/** A decoded checkpoint: everything a resume needs. */
export interface LoadedCheckpoint {
  /** The name used in messages: the path when read from disk. */
  readonly file: string;
  /** The model config. */
  readonly config: TrmConfig;
  /** The training hyperparameters. */
  readonly hyper: TrainHyper;
  /** Name of the training preset the run used. */
  readonly preset: string;
  /** How the data stream was made, as saved in `CheckpointMeta.data`. */
  readonly data: unknown;
  /** The training state: step, model, optimizer state, EMA, carry and key. */
  readonly state: TrainState;
}

const paramsEntries = (cfg: TrmConfig, prefix: string, state: TrmState, trainableOnly: boolean): StWriteEntry[] =>
  officialLayout(cfg)
    .filter((r) => !trainableOnly || r.trainable)
    .map((r) => ({ name: `${prefix}${r.name}`, tensor: r.get(state) }));

/** The tensors a checkpoint stores, under their checkpoint names (see the module comment). */
export const checkpointEntries = (cfg: TrmConfig, s: TrainState): StWriteEntry[] => {
  const entries: StWriteEntry[] = [...paramsEntries(cfg, 'model/', s.model, false)];
  if (s.ema !== null) entries.push(...paramsEntries(cfg, 'ema/', { params: s.ema, buffers: s.model.buffers }, true));
  for (const [name, tensor] of optimizerStateTensors(s.opt, 'optim/')) entries.push({ name, tensor });
  if (s.carry !== null) {
    const c = s.carry;
    entries.push(
      { name: 'carry/y', tensor: c.y },
      { name: 'carry/z', tensor: c.z },
      { name: 'carry/steps', tensor: c.steps },
      { name: 'carry/halted', tensor: c.halted },
      { name: 'carry/inputs', tensor: c.data.inputs },
      { name: 'carry/labels', tensor: c.data.labels },
      { name: 'carry/puzzle_identifiers', tensor: c.data.puzzleIdentifiers },
    );
  }
  return entries;
};

/** The checkpoint's `__metadata__` (see the module comment). */
export const checkpointMetadata = (
  cfg: TrmConfig,
  hyper: TrainHyper,
  meta: CheckpointMeta,
  s: TrainState,
): Record<string, string> => ({
  format: CHECKPOINT_FORMAT,
  config: JSON.stringify(cfg.official),
  hyper: JSON.stringify(hyper),
  preset: meta.preset,
  data: JSON.stringify(meta.data ?? null),
  step: String(s.step),
  optim_step: String(optimizerStateScalars(s.opt).step),
  key: keyToString(s.key),
  ema: String(s.ema !== null),
});

/** A checkpoint as the bytes of a safetensors file (what `saveCheckpoint` writes). */
export const encodeCheckpoint = (cfg: TrmConfig, hyper: TrainHyper, meta: CheckpointMeta, s: TrainState): Uint8Array =>
  encodeSafetensors(checkpointEntries(cfg, s), checkpointMetadata(cfg, hyper, meta, s));

const Meta = t.type({
  format: t.literal(CHECKPOINT_FORMAT),
  config: t.string,
  hyper: t.string,
  preset: t.string,
  data: t.string,
  step: t.string,
  optim_step: t.string,
  key: t.string,
  ema: t.union([t.literal('true'), t.literal('false')]),
});

const parseJson = (file: string, field: string, s: string): E.Either<BoundaryError, unknown> =>
  E.tryCatch(
    () => JSON.parse(s) as unknown,
    () => boundaryError(file, `__metadata__.${field}`, 'is not valid JSON'),
  );

const nonNegInt = (file: string, field: string, s: string): E.Either<BoundaryError, number> => {
  const n = Number(s);
  return Number.isInteger(n) && n >= 0
    ? E.right(n)
    : fail(file, `__metadata__.${field}`, `expected a non-negative integer, got ${JSON.stringify(s)}`);
};

const prefixed = (st: SafetensorsFile, prefix: string): Map<string, Tensor> => {
  const m = new Map<string, Tensor>();
  for (const [k, v] of st.tensors) if (k.startsWith(prefix)) m.set(k.slice(prefix.length), v);
  return m;
};

/** Decodes a checkpoint from its safetensors contents; `file` names it in errors. */
export const decodeCheckpoint = (file: string, st: SafetensorsFile): E.Either<BoundaryError, LoadedCheckpoint> => {
  if (st.metadata.format === undefined) return fail(file, '__metadata__.format', 'not a trm checkpoint (no format)');
  const meta = decode(Meta, file, st.metadata, '__metadata__');
  if (E.isLeft(meta)) return meta;
  const m = meta.right;
  return pipe(
    E.Do,
    E.bind('configJson', () => parseJson(file, 'config', m.config)),
    E.bind('config', ({ configJson }) => decodeConfig(configJson, file, '__metadata__.config')),
    E.bind('hyperJson', () => parseJson(file, 'hyper', m.hyper)),
    E.bind('hyper', ({ hyperJson }) => decode(TrainHyper, file, hyperJson, '__metadata__.hyper')),
    E.bind('data', () => parseJson(file, 'data', m.data)),
    E.bind('step', () => nonNegInt(file, 'step', m.step)),
    E.bind('optimStep', () => nonNegInt(file, 'optim_step', m.optim_step)),
    E.bind('key', () =>
      E.tryCatch(
        () => keyFromString(m.key),
        () => boundaryError(file, '__metadata__.key', `invalid key ${JSON.stringify(m.key)}`),
      ),
    ),
    E.chain(({ config, hyper, data, step, optimStep, key }) => {
      const model = fromOfficial(config, prefixed(st, 'model/'), file, 'model/');
      if (E.isLeft(model)) return model;
      let ema: TrmParams | null = null;
      if (m.ema === 'true') {
        const emaTensors = prefixed(st, 'ema/');
        // Buffers are not averaged: take them from the model.
        for (const r of officialLayout(config)) if (!r.trainable) emaTensors.set(r.name, r.get(model.right));
        const e = fromOfficial(config, emaTensors, file, 'ema/');
        if (E.isLeft(e)) return e;
        ema = e.right.params;
      }
      const opt = restoreOptimizerState(model.right.params, st.tensors, { step: optimStep }, 'optim/');
      if (E.isLeft(opt)) return fail(file, 'optim/', opt.left);
      const c = prefixed(st, 'carry/');
      const names = ['y', 'z', 'steps', 'halted', 'inputs', 'labels', 'puzzle_identifiers'];
      let carry: Carry | null = null;
      if (c.size > 0) {
        const missing = names.find((n) => !c.has(n));
        if (missing !== undefined) return fail(file, `carry/${missing}`, 'missing tensor');
        carry = {
          y: c.get('y')!,
          z: c.get('z')!,
          steps: c.get('steps')!,
          halted: c.get('halted')!,
          data: { inputs: c.get('inputs')!, labels: c.get('labels')!, puzzleIdentifiers: c.get('puzzle_identifiers')! },
        };
      }
      return E.right({
        file,
        config,
        hyper,
        preset: m.preset,
        data,
        state: { step, model: model.right, opt: opt.right, ema, carry, key },
      });
    }),
  );
};
