/**
 * The TRM configuration: decoded from the official field names (arch/trm.yaml, a run's
 * all_config.yaml, a trace's metadata) and mapped ONCE to the paper's names.
 *
 *   official            paper / trm-ts      meaning
 *   H_cycles            T                   deep-recursion cycles (T−1 without gradient, 1 with)
 *   L_cycles            n                   latent updates z ← net(x + y + z) per cycle
 *   L_layers            layers              blocks in the one tiny network
 *   hidden_size         D                   width of x, y, z
 *   halt_max_steps      nSup                supervision steps (N_sup)
 *   z_H / H_init        y / yInit           the answer state
 *   z_L / L_init        z / zInit           the latent
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { type BoundaryError, boundaryError, decode, formatBoundaryError } from '../io/errors.js';

const PosEncodings = t.union([t.literal('rope'), t.literal('learned'), t.literal('none')]);
const ForwardDtype = t.union([t.literal('float32'), t.literal('bfloat16'), t.literal('float16'), t.literal('float64')]);

/** The official config fields. Defaults are those of the official arch/trm.yaml. */
export const OfficialConfig = t.intersection([
  t.type({
    /** Number of token ids. */
    vocab_size: t.Int,
    /** Tokens per puzzle, without the prefix positions. */
    seq_len: t.Int,
  }),
  t.partial({
    /** B: puzzles per batch. */
    batch_size: t.Int,
    /** Rows of the puzzle-embedding table. */
    num_puzzle_identifiers: t.Int,
    /** T: deep-recursion cycles. */
    H_cycles: t.Int,
    /** n: latent updates per cycle. */
    L_cycles: t.Int,
    /** Ignored: TRM has one network, sized by L_layers. */
    H_layers: t.Int,
    /** Blocks in the one tiny network. */
    L_layers: t.Int,
    /** D: width of x, y, z. */
    hidden_size: t.Int,
    /** SwiGLU expansion factor. */
    expansion: t.number,
    /** Attention heads. */
    num_heads: t.Int,
    /** Position encoding: rope, learned or none. */
    pos_encodings: PosEncodings,
    /** true: a SwiGLU over the sequence axis replaces attention. */
    mlp_t: t.boolean,
    /** Width of a puzzle-embedding row; 0 for no puzzle embedding. Default: hidden_size. */
    puzzle_emb_ndim: t.Int,
    /** Prefix positions for the puzzle embedding (0: derived from puzzle_emb_ndim). */
    puzzle_emb_len: t.Int,
    /** N_sup: supervision steps. */
    halt_max_steps: t.Int,
    /** Probability that a training row draws a random minimum step count in [2, N_sup] before it may halt. */
    halt_exploration_prob: t.number,
    /** true: halt on q_halt > 0 with no continue target (the paper); false: Q-learning ACT with a continue target. */
    no_ACT_continue: t.boolean,
    /** Epsilon of the RMS norm. */
    rms_norm_eps: t.number,
    /** Base of the RoPE frequencies. */
    rope_theta: t.number,
    /** The official compute dtype; decoded and kept, while trm-ts computes in its parameters' dtype. */
    forward_dtype: ForwardDtype,
  }),
]);
export type OfficialConfig = t.TypeOf<typeof OfficialConfig>;

/** The same fields as plain TypeScript values (integers unbranded), for configs written in code. */
export type OfficialConfigInput = {
  [K in keyof OfficialConfig]: NonNullable<OfficialConfig[K]> extends number ? number : OfficialConfig[K];
};

/** Everything the model needs, in the paper's names, with the derived sizes precomputed. */
export interface TrmConfig {
  /** Number of token ids (official vocab_size). */
  readonly vocabSize: number;
  /** Tokens per puzzle, without the prefix positions (official seq_len). */
  readonly seqLen: number;
  /** B: puzzles per batch (official batch_size). */
  readonly batchSize: number;
  /** Rows of the puzzle-embedding table (official num_puzzle_identifiers). */
  readonly numPuzzleIdentifiers: number;
  /** T: deep-recursion cycles (official H_cycles). */
  readonly T: number;
  /** n: latent updates per cycle (official L_cycles). */
  readonly n: number;
  /** Blocks in the one tiny network (official L_layers). */
  readonly layers: number;
  /** D: hidden width (official hidden_size). */
  readonly D: number;
  /** SwiGLU expansion factor, from which interD and interT are derived. */
  readonly expansion: number;
  /** Attention heads (official num_heads). */
  readonly numHeads: number;
  /** Width of one attention head: floor(D / numHeads). */
  readonly headDim: number;
  /** Position encoding: RoPE, learned positions, or none. */
  readonly posEncodings: 'rope' | 'learned' | 'none';
  /** true: each block mixes positions with a SwiGLU over the sequence axis instead of attention. */
  readonly mlpT: boolean;
  /** Width of a puzzle-embedding row; 0 for no puzzle embedding (official puzzle_emb_ndim). */
  readonly puzzleEmbNdim: number;
  /** Prefix positions prepended to the sequence (official puzzle_emb_len, derived when 0). */
  readonly puzzleEmbLen: number;
  /** L = puzzleEmbLen + seqLen: the length every state y, z has. */
  readonly totalLen: number;
  /** SwiGLU width of the per-token MLP and (mlp_t) of the sequence-mixing MLP. */
  readonly interD: number;
  /** SwiGLU width of the sequence-mixing MLP (used when mlpT). */
  readonly interT: number;
  /** N_sup: supervision steps (official halt_max_steps). */
  readonly nSup: number;
  /** Probability that a training row draws a random minimum step count in [2, N_sup] before it may halt. */
  readonly haltExplorationProb: number;
  /** true: halt on q_halt > 0 (the paper). false: Q-learning ACT with a continue target (HRM). */
  readonly noActContinue: boolean;
  /** Epsilon of the RMS norm. */
  readonly rmsNormEps: number;
  /** Base of the RoPE frequencies. */
  readonly ropeTheta: number;
  /** The official forward_dtype, kept for writing back; trm-ts computes in its parameters' dtype. */
  readonly forwardDtype: string;
  /** The decoded official fields, defaults filled in, for writing back out. */
  readonly official: Readonly<Required<OfficialConfig>>;
}

/** The values the optional official fields take when a config leaves them out. */
export const OFFICIAL_DEFAULTS = {
  /** B: puzzles per batch. */
  batch_size: 1,
  /** Rows of the puzzle-embedding table. */
  num_puzzle_identifiers: 1,
  /** T: deep-recursion cycles. */
  H_cycles: 3,
  /** n: latent updates per cycle. */
  L_cycles: 6,
  /** Ignored: TRM has one network, sized by L_layers. */
  H_layers: 0,
  /** Blocks in the one tiny network. */
  L_layers: 2,
  /** D: width of x, y, z. */
  hidden_size: 512,
  /** SwiGLU expansion factor. */
  expansion: 4,
  /** Attention heads. */
  num_heads: 8,
  /** Position encoding: rope, learned or none. */
  pos_encodings: 'rope',
  /** true: a SwiGLU over the sequence axis replaces attention. */
  mlp_t: false,
  /** arch/trm.yaml: ${.hidden_size} (decodeConfig follows hidden_size when this is not given). */
  puzzle_emb_ndim: 512,
  /** Prefix positions for the puzzle embedding (0: derived from puzzle_emb_ndim). */
  puzzle_emb_len: 16,
  /** N_sup: supervision steps. */
  halt_max_steps: 16,
  /** Probability that a training row explores a random minimum number of steps. */
  halt_exploration_prob: 0.1,
  /** true: halt on q_halt > 0 with no continue target (the paper). */
  no_ACT_continue: true,
  /** Epsilon of the RMS norm. */
  rms_norm_eps: 1e-5,
  /** Base of the RoPE frequencies. */
  rope_theta: 10000,
  /** The official compute dtype; decoded and kept, while trm-ts computes in float32 or float64. */
  forward_dtype: 'bfloat16',
} as const;

/** Python's round(): halves go to the even neighbour. */
export const pythonRound = (x: number): number => {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
};

/** The official SwiGLU width: ceil to a multiple of 256 of round(expansion · width · 2/3). */
export const swigluWidth = (width: number, expansion: number): number =>
  Math.ceil(pythonRound((expansion * width * 2) / 3) / 256) * 256;

const derive = (c: Required<OfficialConfig>, file: string, prefix: string): E.Either<BoundaryError, TrmConfig> => {
  const fail = (field: string, message: string): E.Either<BoundaryError, never> =>
    E.left(boundaryError(file, prefix === '' ? field : `${prefix}.${field}`, message));
  const positive: (keyof OfficialConfig)[] = [
    'vocab_size',
    'seq_len',
    'batch_size',
    'num_puzzle_identifiers',
    'H_cycles',
    'L_cycles',
    'L_layers',
    'hidden_size',
    'num_heads',
    'halt_max_steps',
  ];
  for (const k of positive) if ((c[k] as number) < 1) return fail(k, `must be ≥ 1, got ${c[k]}`);
  if (c.puzzle_emb_ndim < 0) return fail('puzzle_emb_ndim', `must be ≥ 0, got ${c.puzzle_emb_ndim}`);
  if (c.puzzle_emb_len < 0) return fail('puzzle_emb_len', `must be ≥ 0, got ${c.puzzle_emb_len}`);
  if (!(c.expansion > 0)) return fail('expansion', `must be > 0, got ${c.expansion}`);
  if (!(c.rms_norm_eps > 0)) return fail('rms_norm_eps', `must be > 0, got ${c.rms_norm_eps}`);
  if (!(c.halt_exploration_prob >= 0 && c.halt_exploration_prob <= 1)) {
    return fail('halt_exploration_prob', `must be in [0, 1], got ${c.halt_exploration_prob}`);
  }
  // The official code derives the prefix length from the embedding width when it is 0.
  const puzzleEmbLen = c.puzzle_emb_len === 0 ? Math.ceil(c.puzzle_emb_ndim / c.hidden_size) : c.puzzle_emb_len;
  if (c.puzzle_emb_ndim > puzzleEmbLen * c.hidden_size) {
    return fail(
      'puzzle_emb_ndim',
      `${c.puzzle_emb_ndim} does not fit in puzzle_emb_len·hidden_size = ${puzzleEmbLen}·${c.hidden_size}`,
    );
  }
  if (!c.mlp_t) {
    if (c.hidden_size % c.num_heads !== 0) {
      return fail('num_heads', `hidden_size ${c.hidden_size} is not divisible by num_heads ${c.num_heads}`);
    }
    if (c.pos_encodings === 'rope' && (c.hidden_size / c.num_heads) % 2 !== 0) {
      return fail('num_heads', `RoPE needs an even head dimension, got ${c.hidden_size / c.num_heads}`);
    }
  }
  const totalLen = puzzleEmbLen + c.seq_len;
  return E.right({
    vocabSize: c.vocab_size,
    seqLen: c.seq_len,
    batchSize: c.batch_size,
    numPuzzleIdentifiers: c.num_puzzle_identifiers,
    T: c.H_cycles,
    n: c.L_cycles,
    layers: c.L_layers,
    D: c.hidden_size,
    expansion: c.expansion,
    numHeads: c.num_heads,
    headDim: Math.floor(c.hidden_size / c.num_heads),
    posEncodings: c.pos_encodings,
    mlpT: c.mlp_t,
    puzzleEmbNdim: c.puzzle_emb_ndim,
    puzzleEmbLen,
    totalLen,
    interD: swigluWidth(c.hidden_size, c.expansion),
    interT: swigluWidth(totalLen, c.expansion),
    nSup: c.halt_max_steps,
    haltExplorationProb: c.halt_exploration_prob,
    noActContinue: c.no_ACT_continue,
    rmsNormEps: c.rms_norm_eps,
    ropeTheta: c.rope_theta,
    forwardDtype: c.forward_dtype,
    official: c,
  });
};

/**
 * Decodes a config given with the official field names. Unknown fields are ignored (a run's
 * all_config.yaml carries many); a wrong type or an impossible combination is an error that
 * names the field.
 *
 * Documented deviation: with `puzzle_emb_ndim = 0` and `puzzle_emb_len > 0` the official code
 * builds a sequence of seq_len positions but sizes RoPE / positions / mlp_t for
 * puzzle_emb_len + seq_len and crashes with a shape error. trm-ts prepends puzzle_emb_len
 * all-zero prefix positions instead, which is what the sizes imply.
 */
export const decodeConfig = (input: unknown, file = 'config', fieldPrefix = ''): E.Either<BoundaryError, TrmConfig> =>
  pipe(
    decode(OfficialConfig, file, input, fieldPrefix),
    // arch/trm.yaml sets puzzle_emb_ndim to ${.hidden_size}: follow the hidden size unless given.
    E.chain((c) =>
      derive(
        {
          ...OFFICIAL_DEFAULTS,
          puzzle_emb_ndim: c.hidden_size ?? OFFICIAL_DEFAULTS.hidden_size,
          ...c,
        } as Required<OfficialConfig>,
        file,
        fieldPrefix,
      ),
    ),
  );

/** For code and tests that build configs in TypeScript: throws on a bad config. */
export const makeConfig = (input: OfficialConfigInput): TrmConfig =>
  pipe(
    decodeConfig(input),
    E.getOrElseW((e) => {
      throw new Error(formatBoundaryError(e));
    }),
  );
