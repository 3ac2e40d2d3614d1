/**
 * Loading a trm-trace/1 file (see docs/crosscheck.md): weights, batch, config and, per
 * supervision step, the recorded tensors. Everything is validated here, at the boundary, so the
 * replay can assume a well-formed trace. Errors name the file and the field.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { type SafetensorsFile, decodeSafetensors } from '../io/safetensors.js';
import { readFileSync } from 'node:fs';
import type { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../core/shape.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import type { Batch } from '../trm/act.js';
import { type TrmState, fromOfficial } from '../trm/params.js';
import { type BoundaryError, boundaryError, decode, fail, formatBoundaryError } from '../io/errors.js';

export interface Trace {
  readonly file: string;
  readonly config: TrmConfig;
  readonly lossType: LossType;
  readonly mode: 'train' | 'eval';
  readonly steps: number;
  readonly metadata: Readonly<Record<string, string>>;
  readonly state: TrmState;
  readonly batch: Batch;
  /** step/<s>/<kind> and grad/<s>/<name>, as recorded. */
  readonly tensors: ReadonlyMap<string, Tensor>;
}

const Metadata = t.type({
  format: t.literal('trm-trace/1'),
  config: t.string,
  loss_type: t.union([t.literal('stablemax_cross_entropy'), t.literal('softmax_cross_entropy')]),
  mode: t.union([t.literal('train'), t.literal('eval')]),
  steps: t.string,
});

/** The step kinds every trace records, and those only Q-continue traces add. */
export const STEP_KINDS = [
  'z_H',
  'z_L',
  'logits',
  'q_halt_logits',
  'q_continue_logits',
  'halted',
  'steps',
  'loss',
  'lm_loss',
  'q_halt_loss',
] as const;
export const CONTINUE_KINDS = ['target_q_continue', 'q_continue_loss'] as const;

export const decodeTrace = (file: string, st: SafetensorsFile): E.Either<BoundaryError, Trace> =>
  pipe(
    decode(Metadata, file, st.metadata, '__metadata__'),
    E.chain((meta) => {
      let configJson: unknown;
      try {
        configJson = JSON.parse(meta.config);
      } catch {
        return fail(file, '__metadata__.config', 'is not valid JSON');
      }
      const steps = Number(meta.steps);
      if (!Number.isInteger(steps) || steps < 1)
        return fail(file, '__metadata__.steps', `expected a positive integer, got ${JSON.stringify(meta.steps)}`);
      return pipe(
        decodeConfig(configJson, file, '__metadata__.config'),
        E.map((config) => ({ meta, config, steps })),
      );
    }),
    E.chain(({ meta, config, steps }) => {
      const params = new Map<string, Tensor>();
      for (const [name, tensor] of st.tensors)
        if (name.startsWith('params/')) params.set(name.slice('params/'.length), tensor);
      const layout = fromOfficial(config, params, file, 'params/');
      if (E.isLeft(layout)) return layout;
      const B = config.batchSize;
      const need = (
        name: string,
        shape: readonly number[],
        dtype: 'int32' | 'float',
      ): E.Either<BoundaryError, Tensor> => {
        const tt = st.tensors.get(name);
        if (tt === undefined) return fail(file, name, `missing tensor (expected ${shapeStr(shape)})`);
        if (tt.shape.length !== shape.length || tt.shape.some((d, i) => d !== shape[i])) {
          return fail(file, name, `shape ${shapeStr(tt.shape)}, expected ${shapeStr(shape)}`);
        }
        if ((dtype === 'int32') !== (tt.dtype === 'int32'))
          return fail(file, name, `dtype ${tt.dtype}, expected ${dtype}`);
        return E.right(tt);
      };
      const batchE = pipe(
        E.Do,
        E.apS('inputs', need('batch/inputs', [B, config.seqLen], 'int32')),
        E.apS('labels', need('batch/labels', [B, config.seqLen], 'int32')),
        E.apS('puzzleIdentifiers', need('batch/puzzle_identifiers', [B], 'int32')),
      );
      if (E.isLeft(batchE)) return batchE;
      const batch = batchE.right;
      for (let i = 0; i < batch.inputs.size; i++) {
        const v = batch.inputs.data[i]!;
        if (v < 0 || v >= config.vocabSize)
          return fail(file, 'batch/inputs', `token ${v} at index ${i} outside the vocabulary [0, ${config.vocabSize})`);
      }
      for (let i = 0; i < batch.puzzleIdentifiers.size; i++) {
        const v = batch.puzzleIdentifiers.data[i]!;
        if (v < 0 || v >= config.numPuzzleIdentifiers)
          return fail(file, 'batch/puzzle_identifiers', `id ${v} outside [0, ${config.numPuzzleIdentifiers})`);
      }
      for (let i = 0; i < batch.labels.size; i++) {
        const v = batch.labels.data[i]!;
        if (v !== -100 && (v < 0 || v >= config.vocabSize))
          return fail(file, 'batch/labels', `label ${v} at index ${i} is neither −100 nor in [0, ${config.vocabSize})`);
      }
      // Every step must record the kinds the replay compares.
      const kinds = [...STEP_KINDS, ...(config.noActContinue || meta.mode === 'eval' ? [] : CONTINUE_KINDS)];
      for (let s = 0; s < steps; s++) {
        for (const k of kinds)
          if (!st.tensors.has(`step/${s}/${k}`)) return fail(file, `step/${s}/${k}`, 'missing tensor');
      }
      return E.right({
        file,
        config,
        lossType: meta.loss_type,
        mode: meta.mode,
        steps,
        metadata: st.metadata,
        state: layout.right,
        batch,
        tensors: st.tensors,
      });
    }),
  );

/** Reads and validates a trace file. */
export const readTrace = (file: string): E.Either<BoundaryError, Trace> => {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable';
    return fail(file, '(file)', code === 'ENOENT' ? 'no such file' : `cannot read (${code})`);
  }
  return pipe(
    decodeSafetensors(bytes, file),
    E.mapLeft((se) => boundaryError(file, '(safetensors)', formatBoundaryError(se))),
    E.chain((st) => decodeTrace(file, st)),
  );
};
