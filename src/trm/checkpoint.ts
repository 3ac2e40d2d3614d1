/**
 * Official checkpoints: the official code saves `model.state_dict()` with every key prefixed
 * `_orig_mod.model.inner.` (torch.compile + the loss-head wrapper) or `model.inner.` (without
 * compile). trm-ts reads and writes them as safetensors with the same key names; the prefix is
 * stripped on import and added on export, and the shapes are checked against the config.
 */
import { broadcastTo, mean } from '../ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { TrmConfig } from './config.js';
import type * as E from 'fp-ts/lib/Either.js';
import type { BoundaryError } from '../io/errors.js';
import { type TrmState, fromOfficial, officialLayout } from './params.js';

export const OFFICIAL_PREFIXES = ['_orig_mod.model.', 'model.'] as const;

/** Strips the official prefixes (all keys must agree on one); keys are then `inner.…`. */
export const stripPrefix = (tensors: ReadonlyMap<string, Tensor>): Map<string, Tensor> => {
  const out = new Map<string, Tensor>();
  for (const [k, v] of tensors) {
    const p = OFFICIAL_PREFIXES.find((pre) => k.startsWith(pre));
    out.set(p === undefined ? k : k.slice(p.length), v);
  }
  return out;
};

/**
 * Builds the model state from an official state_dict. A differently sized puzzle embedding is
 * replaced by the row mean broadcast to the new size, as the official `load_checkpoint` does.
 */
export const importOfficial = (
  cfg: TrmConfig,
  tensors: ReadonlyMap<string, Tensor>,
  file = 'weights',
): E.Either<BoundaryError, TrmState> => {
  const stripped = stripPrefix(tensors);
  const name = 'inner.puzzle_emb.weights';
  const emb = stripped.get(name);
  const want = [cfg.numPuzzleIdentifiers, cfg.puzzleEmbNdim];
  if (emb !== undefined && emb.rank === 2 && emb.shape[1] === want[1] && emb.shape[0] !== want[0]) {
    // Stryker disable next-line BooleanLiteral: equivalent (broadcasting [D] or [1, D] to [N, D] gives the same table)
    stripped.set(name, broadcastTo(mean(emb, 0, true), want));
  }
  return fromOfficial(cfg, stripped, file);
};

/** state_dict entries in the official order and naming, ready for the safetensors writer. */
export const exportOfficial = (
  cfg: TrmConfig,
  state: TrmState,
  prefix: string = OFFICIAL_PREFIXES[0],
): { name: string; tensor: Tensor }[] =>
  officialLayout(cfg).map((r) => ({ name: `${prefix}${r.name}`, tensor: r.get(state) }));
