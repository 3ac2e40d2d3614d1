/**
 * TRM parameters and buffers, and their one-to-one mapping to the official module names.
 *
 * Trainable parameters (what AdamATan2 updates and what gradients are taken for) live in
 * `TrmParams`. Buffers that are never trained by gradient descent of the main optimizer live in
 * `TrmBuffers`: y_init / z_init (official H_init / L_init, fixed random) and the sparse puzzle
 * embedding table (trained by SignSGD on the rows a batch uses).
 */
import type { Key } from '../random/key.js';
import { split } from '../random/key.js';
import { truncatedNormal } from '../random/sample.js';
import type { DType } from '../core/dtype.js';
import { Tensor, full, zeros } from '../tensor/tensor.js';
import { shapeStr } from '../core/shape.js';
import type { Backend } from '../backend/backend.js';
import type { TrmConfig } from './config.js';
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, boundaryError } from '../io/errors.js';

/** A linear layer's weight in PyTorch layout [out, in]: y = x · Wᵀ. */
export type Weight = Tensor;

/**
 * The weights of a SwiGLU MLP (official `SwiGLU`) over an axis of size `width`:
 * down(silu(gate(x)) ⊙ up(x)), of inner width `inter`.
 */
export interface SwiGluParams {
  /** The gate and up projections fused, [2·inter, width]: first half gate, second half up. */
  readonly gateUp: Weight;
  /** The down projection, [width, inter]. */
  readonly down: Weight;
}

/** The weights of one self-attention layer (no biases). */
export interface AttentionParams {
  /** The q, k and v projections fused, [3·heads·headDim, D]: the heads of q, then k, then v. */
  readonly qkv: Weight;
  /** The output projection, [D, heads·headDim]. */
  readonly o: Weight;
}

/** One block of the tiny network: a sequence mixer (attention or mlp_t), then the per-token MLP. */
export interface BlockParams {
  /** Self-attention (attention variant) or null. */
  readonly attn: AttentionParams | null;
  /** Sequence-mixing SwiGLU over the L axis (mlp_t variant) or null. */
  readonly mlpT: SwiGluParams | null;
  /** The per-token SwiGLU over the D axis. */
  readonly mlp: SwiGluParams;
}

/** The trainable parameters: what the main optimizer updates and gradients are taken for. */
export interface TrmParams {
  /** [vocab, D] */
  readonly embedTokens: Tensor;
  /** [L, D] with learned positions, else null. */
  readonly embedPos: Tensor | null;
  /** The one tiny network: `layers` blocks. */
  readonly blocks: readonly BlockParams[];
  /** [vocab, D], no bias. */
  readonly lmHead: Weight;
  /** The Q head on the first position of y: row 0 gives q_halt, row 1 q_continue. */
  readonly qHead: {
    /** The weight, [2, D]. */
    readonly weight: Weight;
    /** The bias, [2]. */
    readonly bias: Tensor;
  };
}

/** The state not trained by the main optimizer: the fixed y_0, z_0 and the sparse puzzle embedding table. */
export interface TrmBuffers {
  /** y_0, official H_init [D]. */
  readonly yInit: Tensor;
  /** z_0, official L_init [D]. */
  readonly zInit: Tensor;
  /** The sparse puzzle embedding table [num_puzzle_identifiers, puzzle_emb_ndim]. */
  readonly puzzleEmb: Tensor;
}

/** A model: its trainable parameters and its buffers. */
export interface TrmState {
  /** The trainable parameters. */
  readonly params: TrmParams;
  /** y_0, z_0 and the puzzle embedding table. */
  readonly buffers: TrmBuffers;
}

/** Options of `initParams`: the dtype and backend of the new tensors. */
export interface InitOptions {
  /** The dtype of every tensor; default float32. */
  readonly dtype?: DType;
  /** The backend the tensors live on; default the reference backend. */
  readonly backend?: Backend;
}

/**
 * The official initialisation: truncated LeCun normal (std 1/√fan_in) for linear layers, std
 * 1/√D for the token and position embeddings, q_head weight 0 and bias −5 (so the model starts by
 * never halting), puzzle embedding 0, H_init/L_init truncated normal with std 1.
 */
export const initState = (cfg: TrmConfig, k: Key, opts: InitOptions = {}): TrmState => {
  const o = { dtype: opts.dtype ?? 'float32', ...(opts.backend ? { backend: opts.backend } : {}) } as const;
  const keys = split(k, 4 + cfg.layers);
  const lecun = (kk: Key, out: number, inp: number): Tensor => truncatedNormal(kk, [out, inp], 1 / Math.sqrt(inp), o);
  const swiglu = (kk: Key, width: number, inter: number): SwiGluParams => {
    const [a, b] = split(kk, 2) as [Key, Key];
    return { gateUp: lecun(a, 2 * inter, width), down: lecun(b, width, inter) };
  };
  const blocks = Array.from({ length: cfg.layers }, (_, i): BlockParams => {
    const [ka, kt, km] = split(keys[4 + i]!, 3) as [Key, Key, Key];
    const [kq, ko] = split(ka, 2) as [Key, Key];
    return {
      attn: cfg.mlpT
        ? null
        : { qkv: lecun(kq, 3 * cfg.numHeads * cfg.headDim, cfg.D), o: lecun(ko, cfg.D, cfg.numHeads * cfg.headDim) },
      mlpT: cfg.mlpT ? swiglu(kt, cfg.totalLen, cfg.interT) : null,
      mlp: swiglu(km, cfg.D, cfg.interD),
    };
  });
  const [kEmb, kPos, kHead, kInit] = keys as [Key, Key, Key, Key];
  const [kY, kZ] = split(kInit, 2) as [Key, Key];
  const embStd = 1 / Math.sqrt(cfg.D);
  return {
    params: {
      embedTokens: truncatedNormal(kEmb, [cfg.vocabSize, cfg.D], embStd, o),
      embedPos: cfg.posEncodings === 'learned' ? truncatedNormal(kPos, [cfg.totalLen, cfg.D], embStd, o) : null,
      blocks,
      lmHead: lecun(kHead, cfg.vocabSize, cfg.D),
      qHead: { weight: zeros([2, cfg.D], o), bias: full([2], -5, o) },
    },
    buffers: {
      yInit: truncatedNormal(kY, [cfg.D], 1, o),
      zInit: truncatedNormal(kZ, [cfg.D], 1, o),
      puzzleEmb: zeros([cfg.numPuzzleIdentifiers, cfg.puzzleEmbNdim], o),
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Official names (without the `_orig_mod.model.` / `model.` prefix of a checkpoint)

/**
 * How the official code initialises a tensor: `trunc_normal` is the official
 * `trunc_normal_init_` (a normal of standard deviation `std`, truncated at ±2 of its own
 * compensated std so that the result has std `std`).
 */
export type Init =
  | {
      /** A truncated normal. */
      readonly dist: 'trunc_normal';
      /** Its standard deviation. */
      readonly std: number;
    }
  | {
      /** All zeros. */
      readonly dist: 'zeros';
    }
  | {
      /** Every element `value`. */
      readonly dist: 'constant';
      /** The constant. */
      readonly value: number;
    };

/**
 * Rows [start, end) of axis 0 that one fused projection computes; `within` splits those rows
 * further (attention: the heads one after another, each head_dim rows).
 */
export interface FusedPart {
  /** The part's name, e.g. `q`, `gate`, `halt`. */
  readonly part: string;
  /** The rows of axis 0 it occupies: [start, end). */
  readonly rows: readonly [number, number];
  /** How its rows split further, if they do. */
  readonly within?: {
    /** The meaning of each sub-axis, e.g. `head`, `head_dim`. */
    readonly axes: readonly string[];
    /** The sub-axes' sizes; their product is the part's row count. */
    readonly shape: readonly number[];
  };
}

/**
 * Memory layout, as a port author needs it: the meaning of each axis (row-major, PyTorch
 * order: a linear weight is [out, in] and computes y = x · Wᵀ), and for fused projections which
 * rows of axis 0 belong to which part.
 */
export interface Layout {
  /** The meaning of each axis, outermost first, e.g. `out`, `in`. */
  readonly axes: readonly string[];
  /** The parts of axis 0 of a fused projection, in order; empty when it is not fused. */
  readonly fused: readonly FusedPart[];
}

/** One official tensor: its name, shape, place in a `TrmState`, layout and initialisation. */
export interface NamedTensor {
  /** The official name, e.g. `inner.lm_head.weight`. */
  readonly name: string;
  /** Its shape under the config. */
  readonly shape: readonly number[];
  /** Where it lives in a `TrmState`. */
  readonly get: (s: TrmState) => Tensor;
  /** Trainable parameter (true) or buffer (false). */
  readonly trainable: boolean;
  /** The meaning of its axes and fused parts. */
  readonly layout: Layout;
  /** How the official code initialises it. */
  readonly init: Init;
}

/** Consecutive parts of axis 0, each `size` rows. */
const fusedParts = (size: number, names: readonly string[], within?: FusedPart['within']): FusedPart[] =>
  names.map((part, i) => ({ part, rows: [i * size, (i + 1) * size] as const, ...(within ? { within } : {}) }));

/** A linear layer without bias: PyTorch layout [out, in], LeCun init (std 1/√in). */
const linear = (
  name: string,
  out: number,
  inp: number,
  get: (s: TrmState) => Tensor,
  fused: readonly FusedPart[] = [],
): NamedTensor => ({
  name,
  shape: [out, inp],
  get,
  trainable: true,
  layout: { axes: ['out', 'in'], fused },
  init: { dist: 'trunc_normal', std: 1 / Math.sqrt(inp) },
});

/** SwiGLU's two weights: gate_up [2·inter, width] (first half gate, second half up), down. */
const swigluRows = (prefix: string, width: number, inter: number, get: (s: TrmState) => SwiGluParams) => [
  linear(`${prefix}.gate_up_proj.weight`, 2 * inter, width, (s) => get(s).gateUp, fusedParts(inter, ['gate', 'up'])),
  linear(`${prefix}.down_proj.weight`, width, inter, (s) => get(s).down),
];

/** The official names, shapes and where each lives in a TrmState, in state_dict order. */
export const officialLayout = (cfg: TrmConfig): NamedTensor[] => {
  const L = 'inner.L_level.layers';
  const D = cfg.D;
  const embedding = (name: string, rows: number, get: (s: TrmState) => Tensor, axis: string): NamedTensor => ({
    name,
    shape: [rows, D],
    get,
    trainable: true,
    layout: { axes: [axis, 'D'], fused: [] },
    init: { dist: 'trunc_normal', std: 1 / Math.sqrt(D) },
  });
  const initVector = (name: string, get: (s: TrmState) => Tensor): NamedTensor => ({
    name,
    shape: [D],
    get,
    trainable: false,
    layout: { axes: ['D'], fused: [] },
    init: { dist: 'trunc_normal', std: 1 },
  });
  const rows: NamedTensor[] = [
    initVector('inner.H_init', (s) => s.buffers.yInit),
    initVector('inner.L_init', (s) => s.buffers.zInit),
    embedding('inner.embed_tokens.embedding_weight', cfg.vocabSize, (s) => s.params.embedTokens, 'token'),
    linear('inner.lm_head.weight', cfg.vocabSize, D, (s) => s.params.lmHead),
    {
      ...linear('inner.q_head.weight', 2, D, (s) => s.params.qHead.weight, fusedParts(1, ['halt', 'continue'])),
      init: { dist: 'zeros' },
    },
    {
      name: 'inner.q_head.bias',
      shape: [2],
      get: (s) => s.params.qHead.bias,
      trainable: true,
      layout: { axes: ['out'], fused: fusedParts(1, ['halt', 'continue']) },
      init: { dist: 'constant', value: -5 },
    },
  ];
  if (cfg.puzzleEmbNdim > 0) {
    rows.push({
      name: 'inner.puzzle_emb.weights',
      shape: [cfg.numPuzzleIdentifiers, cfg.puzzleEmbNdim],
      get: (s) => s.buffers.puzzleEmb,
      trainable: false,
      layout: { axes: ['puzzle', 'puzzle_emb_ndim'], fused: [] },
      init: { dist: 'zeros' },
    });
  }
  if (cfg.posEncodings === 'learned') {
    rows.push(embedding('inner.embed_pos.embedding_weight', cfg.totalLen, (s) => s.params.embedPos!, 'position'));
  }
  for (let i = 0; i < cfg.layers; i++) {
    const b = (s: TrmState): BlockParams => s.params.blocks[i]!;
    const heads = cfg.numHeads * cfg.headDim;
    if (!cfg.mlpT) {
      rows.push(
        linear(
          `${L}.${i}.self_attn.qkv_proj.weight`,
          3 * heads,
          D,
          (s) => b(s).attn!.qkv,
          fusedParts(heads, ['q', 'k', 'v'], { axes: ['head', 'head_dim'], shape: [cfg.numHeads, cfg.headDim] }),
        ),
        linear(`${L}.${i}.self_attn.o_proj.weight`, D, heads, (s) => b(s).attn!.o),
      );
    } else {
      rows.push(...swigluRows(`${L}.${i}.mlp_t`, cfg.totalLen, cfg.interT, (s) => b(s).mlpT!));
    }
    rows.push(...swigluRows(`${L}.${i}.mlp`, D, cfg.interD, (s) => b(s).mlp));
  }
  return rows;
};

/** Official-name → tensor, for writing a checkpoint or a trace. */
export const toOfficial = (cfg: TrmConfig, s: TrmState): Map<string, Tensor> =>
  new Map(officialLayout(cfg).map((r) => [r.name, r.get(s)]));

/**
 * Builds a TrmState from official-name tensors. Every expected name must be present with its
 * exact shape; extra names are an error too (a config/checkpoint mismatch should never pass
 * silently). Returns the first problem found.
 */
export const fromOfficial = (
  cfg: TrmConfig,
  tensors: ReadonlyMap<string, Tensor>,
  file = 'weights',
  fieldPrefix = '',
): E.Either<BoundaryError, TrmState> => {
  const bad = (name: string, message: string) => E.left(boundaryError(file, `${fieldPrefix}${name}`, message));
  const layout = officialLayout(cfg);
  const expected = new Set(layout.map((r) => r.name));
  for (const r of layout) {
    const t = tensors.get(r.name);
    if (t === undefined) return bad(r.name, `missing tensor (expected shape ${shapeStr(r.shape)})`);
    if (t.shape.length !== r.shape.length || t.shape.some((d, i) => d !== r.shape[i])) {
      return bad(r.name, `shape ${shapeStr(t.shape)} does not match the config's ${shapeStr(r.shape)}`);
    }
    if (t.dtype === 'int32') return bad(r.name, 'expected a float tensor, got int32');
  }
  for (const name of tensors.keys()) {
    if (!expected.has(name)) return bad(name, 'unexpected tensor for this config');
  }
  const g = (name: string): Tensor => tensors.get(name)!;
  const L = 'inner.L_level.layers';
  const blocks = Array.from(
    { length: cfg.layers },
    (_, i): BlockParams => ({
      attn: cfg.mlpT
        ? null
        : { qkv: g(`${L}.${i}.self_attn.qkv_proj.weight`), o: g(`${L}.${i}.self_attn.o_proj.weight`) },
      mlpT: cfg.mlpT
        ? { gateUp: g(`${L}.${i}.mlp_t.gate_up_proj.weight`), down: g(`${L}.${i}.mlp_t.down_proj.weight`) }
        : null,
      mlp: { gateUp: g(`${L}.${i}.mlp.gate_up_proj.weight`), down: g(`${L}.${i}.mlp.down_proj.weight`) },
    }),
  );
  const dtype = g('inner.embed_tokens.embedding_weight').dtype;
  return E.right({
    params: {
      embedTokens: g('inner.embed_tokens.embedding_weight'),
      embedPos: cfg.posEncodings === 'learned' ? g('inner.embed_pos.embedding_weight') : null,
      blocks,
      lmHead: g('inner.lm_head.weight'),
      qHead: { weight: g('inner.q_head.weight'), bias: g('inner.q_head.bias') },
    },
    buffers: {
      yInit: g('inner.H_init'),
      zInit: g('inner.L_init'),
      puzzleEmb:
        cfg.puzzleEmbNdim > 0 ? g('inner.puzzle_emb.weights') : zeros([cfg.numPuzzleIdentifiers, 0], { dtype }),
    },
  });
};

/** Number of trainable parameters (the official `num_params`, puzzle embedding excluded). */
export const countParams = (cfg: TrmConfig): number =>
  officialLayout(cfg)
    .filter((r) => r.trainable)
    .reduce((acc, r) => acc + r.shape.reduce((a, b) => a * b, 1), 0);

export { Tensor };
