/**
 * Replaying a trace: load the recorded weights and batches, run every recorded step with trm-ts,
 * and compare every recorded tensor, in the order the values are computed, so the first failing
 * row is the innermost place where two implementations part.
 *
 * - train / eval traces (replay-steps.ts): supervision steps on one batch, gradients included;
 * - train-run traces (replay-run.ts): optimizer steps of the official training loop, with the
 *   learning rates, the optimizer state, the puzzle-embedding table and the EMA.
 *
 * teacher-forced (default): each step starts from the recorded state of the step before.
 * free-running: trm-ts's own state carries forward, as a user's run would.
 */
import type { FileReport, ReplayOptions } from './compare.js';
import { replayTrainRun } from './replay-run.js';
import { replaySteps } from './replay-steps.js';
import type { Trace } from './trace.js';

export {
  DEFAULT_TOLERANCE,
  type FileReport,
  type Place,
  type ReplayMode,
  type ReplayOptions,
  type Row,
  type Tolerance,
  compareTensor,
  compareUpdate,
  formatPlace,
  formatRow,
} from './compare.js';
export { replaySteps } from './replay-steps.js';
export { replayTrainRun } from './replay-run.js';

/** Replays a trace with trm-ts and compares every recorded tensor (train-run or step traces alike). */
export const replayTrace = (trace: Trace, opts: ReplayOptions = {}): FileReport =>
  trace.mode === 'train-run' ? replayTrainRun(trace, opts) : replaySteps(trace, opts);
