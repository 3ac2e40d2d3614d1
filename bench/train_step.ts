/**
 * Milliseconds per training step (forward + backward + optimizer) on a backend: the extension
 * point for issue 8's `train_step` rows, timing src/train/loop.ts `trainStep` on the configs below.
 */
import type { Backend } from '../src/backend/backend.js';
import { toBackend } from '../src/tensor/move.js';
import { key } from '../src/random/key.js';
import { randintArray } from '../src/random/sample.js';
import { fromStorage } from '../src/tensor/tensor.js';
import { OFFICIAL_TRAIN_DEFAULTS } from '../src/train/hyper.js';
import { initTrainState, makeSetup, trainStep } from '../src/train/loop.js';
import { stepContext } from '../src/trm/act.js';
import { type OfficialConfigInput, makeConfig } from '../src/trm/config.js';
import { initState } from '../src/trm/params.js';

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

const ARCH: Record<TrainStepConfig, OfficialConfigInput> = {
  // issue 8's small config: hidden 64, seq 16 (4×4 Sudoku), batch 64; the sudoku4 preset's model.
  small: {
    vocab_size: 6,
    seq_len: 16,
    batch_size: 64,
    num_puzzle_identifiers: 1,
    H_cycles: 2,
    L_cycles: 2,
    L_layers: 2,
    hidden_size: 64,
    expansion: 4,
    num_heads: 2,
    pos_encodings: 'none',
    mlp_t: true,
    puzzle_emb_ndim: 64,
    puzzle_emb_len: 1,
    halt_max_steps: 4,
    halt_exploration_prob: 0.1,
    forward_dtype: 'float32',
  },
  // the paper's Sudoku-Extreme MLP-t model (5.0M parameters) at batch 16.
  'sudoku-paper': {
    vocab_size: 11,
    seq_len: 81,
    batch_size: 16,
    num_puzzle_identifiers: 1,
    H_cycles: 3,
    L_cycles: 6,
    L_layers: 2,
    hidden_size: 512,
    expansion: 4,
    num_heads: 8,
    pos_encodings: 'none',
    mlp_t: true,
    puzzle_emb_ndim: 512,
    puzzle_emb_len: 16,
    halt_max_steps: 16,
    halt_exploration_prob: 0.1,
    forward_dtype: 'float32',
  },
};

/**
 * Milliseconds per optimizer step (one supervision step for every row: forward with T−1 no-grad
 * cycles, backward through the last, AdamATan2 + SignSGD) with tensors on `backend`. Median of a
 * few steps after one warm-up step; the paper config gets a single timed step in --quick mode.
 * Peak RSS is process-wide (max RSS so far), so run one backend per process for a clean figure.
 */
export const benchTrainStep = (
  backend: Backend,
  config: TrainStepConfig,
  opts: TrainStepOptions,
): TrainStepResult | null => {
  const cfg = makeConfig(ARCH[config]);
  const hyper = { ...OFFICIAL_TRAIN_DEFAULTS, global_batch_size: cfg.batchSize, lr_warmup_steps: 1 };
  const setup = makeSetup(cfg, stepContext(cfg, backend), hyper);
  let state = initTrainState(setup, initState(cfg, key(0), { backend }), key(1));
  const B = cfg.batchSize;
  const S = cfg.seqLen;
  const tokens = randintArray(key(2), B * S, 1, cfg.vocabSize);
  const batch = toBackend(
    {
      inputs: fromStorage([B, S], tokens),
      labels: fromStorage(
        [B, S],
        Int32Array.from(tokens, (t) => Math.max(2, t)),
      ),
      puzzleIdentifiers: fromStorage([B], new Int32Array(B)),
    },
    backend,
  );
  const reps = config === 'sudoku-paper' ? (opts.quick ? 1 : 3) : opts.quick ? 3 : 5;
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    state = trainStep(setup, state, batch).state;
    if (i > 0) times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return {
    backend: backend.name,
    config,
    batch: B,
    ms: Number(times[Math.floor(times.length / 2)]!.toFixed(1)),
    peak_rss_mb: Number((process.resourceUsage().maxRSS / 1024).toFixed(1)),
  };
};
