/**
 * trm-ts, the parts that run anywhere (a browser, a worker, Node): no Node built-ins are imported
 * from here. `trm-ts` in Node adds the file and backend helpers of `index.ts`.
 *
 * ```ts
 * import { decodeConfig, initParams, key, initialCarry, startStep, stepForward, stepContext } from 'trm-ts';
 * ```
 *
 * The model reads like the paper: `stepForward` is one supervision step (n latent updates
 * `z ← net(x + y + z)`, then `y ← net(y + z)`, T times, the first T − 1 without gradient), and
 * `valueAndGrad` differentiates any function of tensor trees.
 *
 * @packageDocumentation
 */

// Tensors: immutable n-dimensional arrays (float32 by default, float64, int32).
export {
  Tensor,
  type TensorOptions,
  tensor,
  zeros,
  ones,
  full,
  scalar,
  arange,
  item,
  toArray,
  toNested,
  toTypedArray,
  format,
} from './tensor/tensor.js';
export type { Nested, Node, ReadonlyStorage } from './tensor/tensor.js';
export type { DType, TypedArray } from './core/dtype.js';
export type { Shape } from './core/shape.js';
/** Every differentiable op (matmul, softmax, rmsNorm, …), as pure functions of tensors. */
export * as ops from './ops/index.js';
export type { Backend, BinaryOp, MatmulSpec, ReduceOp, UnaryOp } from './backend/backend.js';
/** The reference backend: plain JavaScript loops, float64 accumulation where the official code does. */
export { reference } from './backend/reference.js';

// Automatic differentiation.
export { type ValueAndGrad, valueAndGrad, valueAndGradWithAux, stopGradient } from './autodiff/grad.js';

// Randomness: explicit, splittable keys (threefry2x32, as JAX's).
export { type Key, key, split, foldIn, keyToString, keyFromString } from './random/key.js';

// The model.
export {
  type TrmConfig,
  type OfficialConfigInput,
  OFFICIAL_DEFAULTS,
  decodeConfig,
  makeConfig,
} from './trm/config.js';
export type { OfficialConfig } from './trm/config.js';
export {
  type TrmParams,
  type TrmBuffers,
  type TrmState,
  type InitOptions,
  initState as initParams,
  officialLayout,
  toOfficial,
  fromOfficial,
} from './trm/params.js';
export type {
  AttentionParams,
  BlockParams,
  FusedPart,
  Init,
  Layout,
  NamedTensor,
  SwiGluParams,
} from './trm/params.js';
export {
  type Batch,
  type Carry,
  type Mode,
  type Trainable,
  type StepOptions,
  type StepResult,
  type StepProbe,
  stepContext,
  initialCarry,
  startStep,
  puzzleRows,
  stepForward,
} from './trm/act.js';
export { type LossType, type LossResult, type Metrics, IGNORE_LABEL_ID } from './trm/loss.js';
export type { Probe, RecursionContext } from './trm/recursion.js';
export type { RopeTables } from './trm/rope.js';

// Training.
export { TrainHyper, OFFICIAL_TRAIN_DEFAULTS } from './train/hyper.js';
export {
  type TrainSetup,
  type TrainState,
  type TrainMetrics,
  type TrainStepOutcome,
  type TrainStepDetail,
  type TrainStepOptions,
  NonFiniteError,
  makeSetup,
  initTrainState,
  trainStep,
  evalModel,
} from './train/loop.js';
export type { Optimizer, OptimizerStep, AdamState } from './train/optim.js';
export { type EvalResult, type HaltMode, evaluate } from './train/evaluate.js';
export {
  type CheckpointMeta,
  type LoadedCheckpoint,
  checkpointEntries,
  checkpointMetadata,
  encodeCheckpoint,
  decodeCheckpoint,
} from './train/checkpoint.js';

// Solving a Sudoku, step by step.
export { type ParsedPuzzle, parsePuzzle, puzzleString, isSolution } from './data/sudoku-io.js';
export type { Box } from './data/sudoku-solver.js';
export { type Solution, type SolveStep, solvePuzzle } from './train/solve.js';

// Safetensors bytes, and traces: recording, reading and replaying them.
export { type SafetensorsFile, decodeSafetensors } from './io/safetensors-read.js';
export type { StDtype } from './io/safetensors-format.js';
export { type StWriteEntry, encodeSafetensors, tryEncodeSafetensors } from './io/safetensors-write.js';
export { type BoundaryError, formatBoundaryError } from './io/errors.js';
export { type Trace, type TraceMode, decodeTrace, decodeTraceBytes, decodeBatchBytes } from './crosscheck/trace.js';
export {
  type LayoutMap,
  type Mapped,
  type PortEntries,
  decodeLayoutMap,
  applyLayoutMap,
  toPortLayout,
} from './crosscheck/layout-map.js';
export { type RecordOptions, type Recorded, recordTrace } from './crosscheck/record.js';
export { replayTrace } from './crosscheck/replay.js';
export {
  type FileReport,
  type Row,
  type Tolerance,
  type ReplayMode,
  type ReplayOptions,
  DEFAULT_TOLERANCE,
  formatPlace,
  formatRow,
} from './crosscheck/compare.js';
