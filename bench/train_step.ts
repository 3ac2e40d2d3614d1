/**
 * Milliseconds per training step (forward + backward + optimizer) on a backend: the extension
 * point for issue 8's `train_step` rows. Not wired yet: `benchTrainStep` returns null until a
 * train-step bench is plugged in here (src/train/loop.ts `trainStep` with the configs below).
 */
import type { Backend } from '../src/backend/backend.js';

/** The configs of issue 8: `small` (hidden 64, seq 16, batch 64) and the paper's Sudoku MLP-t
 *  model (hidden 512, T=3, n=6, batch 16). */
export type TrainStepConfig = 'small' | 'sudoku-paper';

export const TRAIN_STEP_CONFIGS: readonly TrainStepConfig[] = ['small', 'sudoku-paper'];

export interface TrainStepResult {
  readonly backend: string;
  readonly config: TrainStepConfig;
  readonly batch: number;
  /** Median milliseconds per step. */
  readonly ms: number;
  /** Peak resident set size of the process during the measurement, MiB. */
  readonly peak_rss_mb: number;
}

export interface TrainStepOptions {
  readonly quick: boolean;
}

/**
 * Measures one config on one backend, or returns null when no train-step bench exists for it yet.
 * To implement: build the model and one batch for `config` with tensors on `backend`, time
 * `trainStep` with `time()` from ./matmul.js, and read peak RSS (process.resourceUsage().maxRSS
 * is in KiB and process-wide: run each config in a fresh process for a per-config peak).
 */
export const benchTrainStep = (
  _backend: Backend,
  _config: TrainStepConfig,
  _opts: TrainStepOptions,
): TrainStepResult | null => null;
