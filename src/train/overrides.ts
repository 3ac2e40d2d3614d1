/**
 * `key=value` overrides in the official style (`arch.L_cycles=4 lr=1e-3`): values are parsed as
 * YAML scalars (numbers, true/false, null, bare strings). Unknown keys are an error.
 */
import * as E from 'fp-ts/lib/Either.js';
import type { TrainHyper } from './hyper.js';
import type { Preset } from './presets.js';

export interface Overrides {
  readonly arch: Record<string, unknown>;
  readonly hyper: Record<string, unknown>;
  /** data.train_count, data.test_count (built-in Sudoku data). */
  readonly data: Record<string, unknown>;
}

const DATA_KEYS: Readonly<Record<string, string>> = { train_count: 'trainCount', test_count: 'testCount' };

const ARCH_KEYS = new Set([
  'H_cycles',
  'L_cycles',
  'H_layers',
  'L_layers',
  'hidden_size',
  'expansion',
  'num_heads',
  'pos_encodings',
  'mlp_t',
  'puzzle_emb_ndim',
  'puzzle_emb_len',
  'halt_max_steps',
  'halt_exploration_prob',
  'no_ACT_continue',
  'rms_norm_eps',
  'rope_theta',
  'forward_dtype',
  'num_puzzle_identifiers',
  'vocab_size',
  'seq_len',
  'batch_size',
]);

const HYPER_KEYS: ReadonlySet<keyof TrainHyper> = new Set<keyof TrainHyper>([
  'global_batch_size',
  'lr',
  'lr_min_ratio',
  'lr_warmup_steps',
  'total_steps',
  'beta1',
  'beta2',
  'weight_decay',
  'puzzle_emb_lr',
  'puzzle_emb_weight_decay',
  'ema',
  'ema_rate',
  'seed',
  'loss_type',
]);

/** A YAML-ish scalar: 1, 1e-3, true, null, or the string itself. */
export const parseScalar = (s: string): unknown => {
  if (s === 'true' || s === 'True') return true;
  if (s === 'false' || s === 'False') return false;
  if (s === 'null' || s === '~') return null;
  if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return Number(s);
  if (/^(['"]).*\1$/.test(s)) return s.slice(1, -1);
  return s;
};

export const parseOverrides = (args: readonly string[]): E.Either<string, Overrides> => {
  const arch: Record<string, unknown> = {};
  const hyper: Record<string, unknown> = {};
  const data: Record<string, unknown> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) return E.left(`override '${a}' is not key=value`);
    const k = a.slice(0, eq);
    const v = parseScalar(a.slice(eq + 1));
    if (k.startsWith('arch.')) {
      const name = k.slice(5);
      if (!ARCH_KEYS.has(name)) return E.left(`unknown config key '${k}' (arch keys: ${[...ARCH_KEYS].join(', ')})`);
      arch[name] = v;
    } else if (k.startsWith('data.')) {
      const name = DATA_KEYS[k.slice(5)];
      if (name === undefined || typeof v !== 'number' || !Number.isInteger(v) || v < 1)
        return E.left(`'${k}': data keys are data.train_count and data.test_count, positive integers`);
      data[name] = v;
    } else if (HYPER_KEYS.has(k as keyof TrainHyper)) {
      hyper[k] = v;
    } else {
      return E.left(
        `unknown config key '${k}' (training keys: ${[...HYPER_KEYS].join(', ')}; model keys start with arch.)`,
      );
    }
  }
  return E.right({ arch, hyper, data });
};

/** The preset with the overrides applied (validated later by the config and hyper codecs). */
export const applyOverrides = (
  p: Preset,
  o: Overrides,
): { arch: Record<string, unknown>; hyper: Record<string, unknown>; data: Record<string, unknown> } => ({
  arch: { ...p.arch, ...o.arch },
  hyper: { ...p.hyper, ...o.hyper },
  data: o.data,
});
