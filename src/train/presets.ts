/**
 * Named configurations: small ones that learn on a laptop CPU in minutes, and the paper's, for
 * reading and cross-checking (§5.1, §6.1 of the official behaviour notes).
 */
import type { OfficialConfigInput } from '../trm/config.js';
import { type TrainHyper, OFFICIAL_TRAIN_DEFAULTS } from './hyper.js';

export interface SudokuData {
  readonly kind: 'sudoku';
  /** 4, 6 or 9 (box 2×2, 2×3, 3×3). */
  readonly size: 4 | 6 | 9;
  readonly trainCount: number;
  readonly testCount: number;
  readonly augment: 'digits' | 'full' | 'none';
  /** Held-out puzzles are disjoint from training as strings ('puzzle') or up to relabelling. */
  readonly disjointBy: 'puzzle' | 'relabel';
}

export interface Preset {
  readonly name: string;
  readonly description: string;
  readonly arch: Omit<OfficialConfigInput, 'vocab_size' | 'seq_len'> &
    Partial<Pick<OfficialConfigInput, 'vocab_size' | 'seq_len'>>;
  readonly hyper: TrainHyper;
  /** Data the CLI can generate itself; null for the paper's datasets (bring your own, `--data`). */
  readonly data: SudokuData | null;
  /** Steps a user can expect to need (also the default of --steps). */
  readonly steps: number;
}

const sudokuArch = (size: number) => ({ vocab_size: size + 2, seq_len: size * size });

/** The small CPU Sudoku models: MLP-t, 2 layers, expansion 4, one prefix position, float32. */
const cpuSudokuArch = (
  size: number,
  a: Pick<OfficialConfigInput, 'H_cycles' | 'L_cycles' | 'hidden_size' | 'puzzle_emb_ndim' | 'halt_max_steps'>,
): Preset['arch'] => ({
  ...sudokuArch(size),
  batch_size: 64,
  num_puzzle_identifiers: 1,
  L_layers: 2,
  expansion: 4,
  num_heads: 2,
  pos_encodings: 'none',
  mlp_t: true,
  puzzle_emb_len: 1,
  halt_exploration_prob: 0.1,
  no_ACT_continue: true,
  forward_dtype: 'float32',
  ...a,
});

/** Their optimizer settings (cpu-presets.md config C): batch 64, lr 1e-3, wd 0.1, cosine to 0.1×. */
const cpuHyper = (h: Pick<TrainHyper, 'lr_warmup_steps' | 'total_steps' | 'ema'>): TrainHyper => ({
  ...OFFICIAL_TRAIN_DEFAULTS,
  global_batch_size: 64,
  lr: 1e-3,
  lr_min_ratio: 0.1,
  weight_decay: 0.1,
  puzzle_emb_lr: 1e-3,
  puzzle_emb_weight_decay: 0.1,
  ...h,
});

/** The README overrides for Sudoku and Maze (§6.1): lr 1e-4 for both optimizers, weight decay 1.0, EMA. */
const SUDOKU_MAZE_HYPER: TrainHyper = {
  ...OFFICIAL_TRAIN_DEFAULTS,
  lr: 1e-4,
  puzzle_emb_lr: 1e-4,
  weight_decay: 1.0,
  puzzle_emb_weight_decay: 1.0,
  ema: true,
  total_steps: 65_104,
};

/** A paper configuration: the official arch/trm.yaml defaults (D=512, T=3, 2 layers, 8 heads, 16 prefix positions, N_sup=16) plus `arch`. */
const paper = (name: string, description: string, arch: Preset['arch'], hyper: TrainHyper): Preset => ({
  name,
  description,
  arch: {
    batch_size: 768,
    H_cycles: 3,
    L_layers: 2,
    hidden_size: 512,
    num_heads: 8,
    expansion: 4,
    puzzle_emb_ndim: 512,
    puzzle_emb_len: 16,
    halt_max_steps: 16,
    halt_exploration_prob: 0.1,
    no_ACT_continue: true,
    forward_dtype: 'bfloat16',
    num_puzzle_identifiers: 1,
    ...arch,
  },
  hyper,
  data: null,
  steps: hyper.total_steps,
});

export const PRESETS: Readonly<Record<string, Preset>> = {
  sudoku4: {
    name: 'sudoku4',
    description:
      '4×4 Sudoku (2×2 boxes), MLP-t, D=64, T=2, n=2, N_sup=4: the config with which the official code learns fastest on 2 CPU cores',
    arch: cpuSudokuArch(4, { H_cycles: 2, L_cycles: 2, hidden_size: 64, puzzle_emb_ndim: 64, halt_max_steps: 4 }),
    hyper: cpuHyper({ lr_warmup_steps: 50, total_steps: 760, ema: false }),
    data: { kind: 'sudoku', size: 4, trainCount: 3000, testCount: 1000, augment: 'digits', disjointBy: 'puzzle' },
    steps: 760,
  },
  sudoku6: {
    name: 'sudoku6',
    description: '6×6 Sudoku (2×3 boxes), MLP-t, D=128, T=2, n=3, N_sup=6: the honest generalisation test',
    arch: cpuSudokuArch(6, { H_cycles: 2, L_cycles: 3, hidden_size: 128, puzzle_emb_ndim: 128, halt_max_steps: 6 }),
    // 1 500 steps: what fits in 60 minutes on 2 cores (≈ 2.3 s per step), the cosine ending there.
    // No EMA: at rate 0.999 the average would still be mostly the first few hundred steps.
    hyper: cpuHyper({ lr_warmup_steps: 100, total_steps: 1500, ema: false }),
    data: { kind: 'sudoku', size: 6, trainCount: 20000, testCount: 1000, augment: 'full', disjointBy: 'relabel' },
    steps: 1500,
  },
  'sudoku-extreme-mlp': paper(
    'sudoku-extreme-mlp',
    "The paper's Sudoku-Extreme MLP-t model (87.4 %): T=3, n=6, D=512, 5.0M parameters",
    { ...sudokuArch(9), L_cycles: 6, pos_encodings: 'none', mlp_t: true },
    SUDOKU_MAZE_HYPER,
  ),
  'sudoku-extreme-att': paper(
    'sudoku-extreme-att',
    "The paper's Sudoku-Extreme attention model (74.7 %): T=3, n=6, D=512, RoPE",
    { ...sudokuArch(9), L_cycles: 6, pos_encodings: 'rope', mlp_t: false },
    SUDOKU_MAZE_HYPER,
  ),
  'maze-hard': paper(
    'maze-hard',
    "The paper's Maze-Hard 30×30 attention model (85.3 %): T=3, n=4, D=512, RoPE",
    { vocab_size: 6, seq_len: 900, L_cycles: 4, pos_encodings: 'rope', mlp_t: false },
    SUDOKU_MAZE_HYPER,
  ),
  arc1: paper(
    'arc1',
    "The paper's ARC-AGI-1 attention model (44.6 % pass@2): T=3, n=4, D=512, RoPE, one puzzle embedding per augmented puzzle",
    { vocab_size: 12, seq_len: 900, L_cycles: 4, pos_encodings: 'rope', mlp_t: false, num_puzzle_identifiers: 960_961 },
    { ...OFFICIAL_TRAIN_DEFAULTS, ema: true, total_steps: 519_270 },
  ),
};
