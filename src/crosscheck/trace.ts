/**
 * Loading a trace (trm-trace/1 or trm-trace/2, see docs/trace-format.md): weights, batches, config
 * and, per step, the recorded tensors. Everything is validated here, at the boundary, so the replay
 * can assume a well-formed trace. Errors name the file and the field.
 *
 * Modes: `train` and `eval` record supervision steps on one batch; `train-run` (trm-trace/2)
 * records optimizer steps of the official training loop, each on the next batch of a recorded
 * sequence, with the optimizer state, the EMA and the learning rates.
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { type SafetensorsFile, decodeSafetensors } from '../io/safetensors-read.js';
import type { Tensor } from '../tensor/tensor.js';
import { shapeStr } from '../core/shape.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import type { LossType } from '../trm/loss.js';
import type { Batch } from '../trm/act.js';
import { type TrmState, fromOfficial, officialLayout } from '../trm/params.js';
import { type BoundaryError, boundaryError, decode, fail, formatBoundaryError } from '../io/errors.js';
import { TrainHyper } from '../train/hyper.js';
import { type LayoutMap, applyLayoutMap, decodeLayoutMap } from './layout-map.js';

/**
 * What a trace records: supervision steps on one batch in training (`train`, gradients included)
 * or evaluation (`eval`), or optimizer steps of the official training loop (`train-run`).
 */
export type TraceMode = 'train' | 'eval' | 'train-run';

/** A validated trace: the recording's config, weights, batches and every recorded tensor. */
export interface Trace {
  /** The name used in messages: the path when read from disk. */
  readonly file: string;
  /** The format version; train-run traces are trm-trace/2. */
  readonly format: 'trm-trace/1' | 'trm-trace/2';
  /** The model config of the recording. */
  readonly config: TrmConfig;
  /** The token loss of the recording. */
  readonly lossType: LossType;
  /** What was recorded: supervision steps on one batch (train, eval) or optimizer steps (train-run). */
  readonly mode: TraceMode;
  /** Supervision steps (train, eval) or optimizer steps (train-run). */
  readonly steps: number;
  /** The file's `__metadata__` strings, as written. */
  readonly metadata: Readonly<Record<string, string>>;
  /** The weights before the first step. */
  readonly state: TrmState;
  /** The batch of a train or eval trace; the first batch of a train-run. */
  readonly batch: Batch;
  /** train-run: the batch fed to each optimizer step. Otherwise `[batch]`. */
  readonly batches: readonly Batch[];
  /** train-run: the training hyperparameters of the recording; null otherwise. */
  readonly hyper: TrainHyper | null;
  /** Every tensor of the file, by its name (step/<s>/…, grad/<s>/…, update/<s>/…). */
  readonly tensors: ReadonlyMap<string, Tensor>;
  /** What a layout map declared the recording does not have (reported, never compared). */
  readonly notComparable: readonly string[];
}

const Metadata = t.type({
  format: t.union([t.literal('trm-trace/1'), t.literal('trm-trace/2')]),
  config: t.string,
  loss_type: t.union([t.literal('stablemax_cross_entropy'), t.literal('softmax_cross_entropy')]),
  mode: t.union([t.literal('train'), t.literal('eval'), t.literal('train-run')]),
  steps: t.string,
});

/** The `train` metadata of a train-run: the training hyperparameters but the seed and loss type. */
const { seed: _seed, loss_type: _lossType, ...trainProps } = TrainHyper.props;
const TrainMeta = t.type(trainProps);

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
/** What a train-run adds to each step that ran (step ≤ total_steps). */
export const METRIC_KINDS = ['count', 'accuracy', 'exact_accuracy', 'q_halt_accuracy', 'steps'] as const;
export const DATA_KINDS = ['inputs', 'labels', 'puzzle_identifiers'] as const;

/** Whether optimizer step s (0-based) of a train-run ran: the official loop skips steps past total_steps. */
export const stepRan = (trace: Trace, s: number): boolean => trace.hyper === null || s + 1 <= trace.hyper.total_steps;

/** The recorded intermediates of step s, in the order they were computed: x, then every update. */
export const probeNames = (trace: Trace, s: number): string[] => {
  const names: string[] = [];
  const pre = `step/${s}/`;
  if (!trace.tensors.has(`${pre}x`)) return names;
  names.push(`${pre}x`);
  for (let c = 0; c < trace.config.T; c++) {
    for (let i = 0; i < trace.config.n; i++) names.push(`${pre}cycle/${c}/z_L/${i}`);
    names.push(`${pre}cycle/${c}/z_H`);
  }
  return names;
};

/** Validates a trace from its safetensors contents; a name in `notComparable` may be absent. */
export const decodeTrace = (
  file: string,
  st: SafetensorsFile,
  notComparable: readonly string[] = [],
): E.Either<BoundaryError, Trace> =>
  pipe(
    decode(Metadata, file, st.metadata, '__metadata__'),
    E.chain((meta) => {
      if (meta.mode === 'train-run' && meta.format === 'trm-trace/1')
        return fail(file, '__metadata__.mode', 'train-run needs format trm-trace/2');
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
        E.chain((config) => decodeHyperMeta(file, st.metadata, meta.mode, meta.loss_type, config)),
        E.map(({ config, hyper }) => ({ meta, config, steps, hyper })),
      );
    }),
    E.chain(({ meta, config, steps, hyper }) => {
      const params = new Map<string, Tensor>();
      for (const [name, tensor] of st.tensors)
        if (name.startsWith('params/')) params.set(name.slice('params/'.length), tensor);
      const layout = fromOfficial(config, params, file, 'params/');
      if (E.isLeft(layout)) return layout;
      const need = needTensor(file, st);
      const batchAt = (prefix: string) => readBatch(file, config, need, prefix);
      const batches: Batch[] = [];
      if (meta.mode === 'train-run') {
        for (let s = 0; s < steps; s++) {
          const b = batchAt(`batch/${s}/`);
          if (E.isLeft(b)) return b;
          batches.push(b.right);
        }
      } else {
        const b = batchAt('batch/');
        if (E.isLeft(b)) return b;
        batches.push(b.right);
      }
      const trace: Trace = {
        file,
        format: meta.format,
        config,
        lossType: meta.loss_type,
        mode: meta.mode,
        steps,
        metadata: st.metadata,
        state: layout.right,
        batch: batches[0]!,
        batches,
        hyper,
        tensors: st.tensors,
        notComparable,
      };
      // A name a layout map declares missing (step/<s>/<kind>, grad/<s>/<name>, …) may be absent.
      const excused = (name: string) =>
        notComparable.includes(name.replace(/^(step|grad)\/\d+\/|^update\/\d+\/[a-z_]+\//, ''));
      const missing = requiredTensors(trace).find((name) => !st.tensors.has(name) && !excused(name));
      if (missing !== undefined) return fail(file, missing, 'missing tensor');
      const misfit = checkInputShapes(trace, need);
      return misfit === null ? E.right(trace) : misfit;
    }),
  );

const decodeHyperMeta = (
  file: string,
  metadata: Readonly<Record<string, string>>,
  mode: TraceMode,
  lossType: LossType,
  config: TrmConfig,
): E.Either<BoundaryError, { config: TrmConfig; hyper: TrainHyper | null }> => {
  if (mode !== 'train-run') return E.right({ config, hyper: null });
  const text = metadata.train;
  if (text === undefined) return fail(file, '__metadata__.train', 'missing (a train-run records its hyperparameters)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return fail(file, '__metadata__.train', 'is not valid JSON');
  }
  return pipe(
    decode(TrainMeta, file, json, '__metadata__.train'),
    E.chain((m) =>
      m.global_batch_size === config.batchSize
        ? E.right({ config, hyper: { ...m, seed: 0, loss_type: lossType } })
        : fail(
            file,
            '__metadata__.train.global_batch_size',
            `${m.global_batch_size} differs from the config's batch_size ${config.batchSize} (one process)`,
          ),
    ),
  );
};

type Need = (name: string, shape: readonly number[], dtype: 'int32' | 'float') => E.Either<BoundaryError, Tensor>;

const needTensor =
  (file: string, st: SafetensorsFile): Need =>
  (name, shape, dtype) => {
    const tt = st.tensors.get(name);
    if (tt === undefined) return fail(file, name, `missing tensor (expected ${shapeStr(shape)})`);
    if (tt.shape.length !== shape.length || tt.shape.some((d, i) => d !== shape[i]))
      return fail(file, name, `shape ${shapeStr(tt.shape)}, expected ${shapeStr(shape)}`);
    if ((dtype === 'int32') !== (tt.dtype === 'int32')) return fail(file, name, `dtype ${tt.dtype}, expected ${dtype}`);
    return E.right(tt);
  };

/** A batch under `prefix` (inputs, labels, puzzle_identifiers), with every value in range. */
const readBatch = (file: string, config: TrmConfig, need: Need, prefix: string): E.Either<BoundaryError, Batch> => {
  const B = config.batchSize;
  const batchE = pipe(
    E.Do,
    E.apS('inputs', need(`${prefix}inputs`, [B, config.seqLen], 'int32')),
    E.apS('labels', need(`${prefix}labels`, [B, config.seqLen], 'int32')),
    E.apS('puzzleIdentifiers', need(`${prefix}puzzle_identifiers`, [B], 'int32')),
  );
  if (E.isLeft(batchE)) return batchE;
  const batch = batchE.right;
  for (let i = 0; i < batch.inputs.size; i++) {
    const v = batch.inputs.data[i]!;
    if (v < 0 || v >= config.vocabSize)
      return fail(file, `${prefix}inputs`, `token ${v} at index ${i} outside the vocabulary [0, ${config.vocabSize})`);
  }
  for (let i = 0; i < batch.puzzleIdentifiers.size; i++) {
    const v = batch.puzzleIdentifiers.data[i]!;
    if (v < 0 || v >= config.numPuzzleIdentifiers)
      return fail(file, `${prefix}puzzle_identifiers`, `id ${v} outside [0, ${config.numPuzzleIdentifiers})`);
  }
  for (let i = 0; i < batch.labels.size; i++) {
    const v = batch.labels.data[i]!;
    if (v !== -100 && (v < 0 || v >= config.vocabSize))
      return fail(file, `${prefix}labels`, `label ${v} at index ${i} is neither −100 nor in [0, ${config.vocabSize})`);
  }
  return E.right(batch);
};

/** Every tensor the replay reads or compares, for each step. */
const requiredTensors = (trace: Trace): string[] => {
  const { config, mode } = trace;
  const names: string[] = [];
  const continueKinds = config.noActContinue || mode === 'eval' || config.nSup === 1 ? [] : CONTINUE_KINDS;
  const trainable = officialLayout(config).filter((r) => r.trainable);
  for (let s = 0; s < trace.steps; s++) {
    const ran = stepRan(trace, s);
    if (ran) for (const k of [...STEP_KINDS, ...continueKinds]) names.push(`step/${s}/${k}`);
    if (mode !== 'train-run') continue;
    if (ran) {
      for (const k of DATA_KINDS) names.push(`step/${s}/data/${k}`);
      names.push(`step/${s}/min_halt_steps`, `step/${s}/lr`);
      // The optimizer step is replayed on the recorded gradients.
      for (const r of trainable) names.push(`grad/${s}/${r.name}`);
      if (config.puzzleEmbNdim > 0) names.push(`grad/${s}/inner.puzzle_emb.local_weights`);
    }
    for (const r of trainable) names.push(`update/${s}/params/${r.name}`);
    if (config.puzzleEmbNdim > 0) names.push(`update/${s}/params/inner.puzzle_emb.weights`);
    if (trace.hyper?.ema === true) for (const r of trainable) names.push(`update/${s}/ema/${r.name}`);
  }
  return names;
};

/**
 * The recorded tensors a teacher-forced replay starts a step from (the carry, the exploration
 * draws, the parameters, optimizer state and EMA) must have their exact shapes and dtypes.
 */
const checkInputShapes = (trace: Trace, need: Need): E.Left<BoundaryError> | null => {
  const { config } = trace;
  const B = config.batchSize;
  const state = [B, config.totalLen, config.D];
  const shapes = new Map(officialLayout(config).map((r) => [r.name, r.shape]));
  for (const name of trace.tensors.keys()) {
    const parts = name.split('/');
    let r: E.Either<BoundaryError, Tensor> | null = null;
    if (parts[0] === 'step' && parts.length === 3 && (parts[2] === 'z_H' || parts[2] === 'z_L'))
      r = need(name, state, 'float');
    else if (parts[0] === 'step' && parts.length === 3 && ['steps', 'halted', 'min_halt_steps'].includes(parts[2]!))
      r = need(name, [B], 'int32');
    else if (parts[0] === 'step' && parts[2] === 'data' && parts.length === 4)
      r = need(name, parts[3] === 'puzzle_identifiers' ? [B] : [B, config.seqLen], 'int32');
    else if (trace.mode === 'train-run' && parts[0] === 'grad' && parts.length === 3) {
      const shape = parts[2] === 'inner.puzzle_emb.local_weights' ? [B, config.puzzleEmbNdim] : shapes.get(parts[2]!);
      if (shape === undefined) r = fail(trace.file, name, 'not a parameter of this config');
      else r = need(name, shape, 'float');
    } else if (parts[0] === 'update' && parts.length === 4) {
      const shape = shapes.get(parts[3]!);
      if (shape === undefined) r = fail(trace.file, name, 'not a parameter of this config');
      else r = need(name, shape, 'float');
    }
    if (r !== null && E.isLeft(r)) return r;
  }
  return null;
};

/**
 * Decodes and validates the bytes of a trace file (`file` names it in errors). A trace in a port's
 * own names is read through `layout`, or through the map in its `layout` metadata when no map is
 * given.
 */
export const decodeTraceBytes = (bytes: Uint8Array, file: string, layout?: LayoutMap): E.Either<BoundaryError, Trace> =>
  pipe(
    decodeSafetensors(bytes, file),
    E.mapLeft((se) => boundaryError(file, '(safetensors)', formatBoundaryError(se))),
    E.chain((st) =>
      pipe(
        layout === undefined ? embeddedLayout(st, file) : E.right(layout),
        E.chain((map) =>
          map === undefined
            ? decodeTrace(file, st)
            : pipe(
                applyLayoutMap(st, map, file),
                E.chain((m) => decodeTrace(file, m.file, m.notComparable)),
              ),
        ),
      ),
    ),
  );

/** The layout map a trace written in a port's terms carries (`trm trace --layout`), if any. */
const embeddedLayout = (st: SafetensorsFile, file: string): E.Either<BoundaryError, LayoutMap | undefined> => {
  const text = st.metadata.layout;
  if (text === undefined) return E.right(undefined);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return fail(file, '__metadata__.layout', 'not JSON');
  }
  return decodeLayoutMap(doc, `${file} (__metadata__.layout)`);
};

/**
 * The batch in the bytes of a safetensors file, for recording a trace on given data: `batch/…` (a
 * train or eval trace, or any safetensors file with inputs, labels and puzzle_identifiers under
 * that prefix) or the first batch of a train-run (`batch/0/…`), checked against the config.
 */
export const decodeBatchBytes = (bytes: Uint8Array, file: string, config: TrmConfig): E.Either<BoundaryError, Batch> =>
  pipe(
    decodeSafetensors(bytes, file),
    E.chain((st) =>
      readBatch(file, config, needTensor(file, st), st.tensors.has('batch/0/inputs') ? 'batch/0/' : 'batch/'),
    ),
  );
