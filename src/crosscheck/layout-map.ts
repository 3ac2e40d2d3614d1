/**
 * Layout maps: how a port's tensor names and layouts correspond to the official ones, so that a
 * trace written in the port's own terms can be replayed (`trm crosscheck --layout FILE`).
 *
 * A map (YAML or JSON) may declare:
 * - `prefix`: stripped from every parameter name (under `params/`, `grad/<s>/`, `update/<s>/<slot>/`);
 * - `rename`: the port's name → the official one, for parameter names and for step kinds (the
 *   part after `step/<s>/`, e.g. `y: z_H`);
 * - `transpose`: official 2-D parameters the port stores transposed (JAX and Flax Dense kernels
 *   are `[in, out]`; PyTorch's are `[out, in]`);
 * - `fuse`: an official parameter that is the port's parameters concatenated along the first axis,
 *   in order (separate q, k, v projections; separate gate and up);
 * - `rows`: an official parameter of which the port holds only the first rows (a single-logit Q
 *   head: the halt row); the other rows are zeros and the outputs that depend on them are listed
 *   in `missing`;
 * - `missing`: official parameters the port does not have (replayed as zeros) and step outputs
 *   it does not record; each is reported as not comparable.
 *
 * The map is applied to the file's tensors before the trace is decoded; everything after (the
 * replay, the rows, the tolerances) is as for a trace in the official layout.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { type BoundaryError, decode, fail } from '../io/errors.js';
import type { SafetensorsFile } from '../io/safetensors.js';
import { concat, transpose } from '../ops/index.js';
import { type Tensor, zeros } from '../tensor/tensor.js';
import { decodeConfig } from '../trm/config.js';
import { officialLayout } from '../trm/params.js';

export const LayoutMap = t.exact(
  t.partial({
    prefix: t.string,
    rename: t.record(t.string, t.string),
    transpose: t.array(t.string),
    fuse: t.record(t.string, t.array(t.string)),
    rows: t.record(t.string, t.string),
    missing: t.array(t.string),
  }),
);
export type LayoutMap = t.TypeOf<typeof LayoutMap>;

/** Decodes a parsed map document; errors name the file and the field. */
export const decodeLayoutMap = (doc: unknown, file: string): E.Either<BoundaryError, LayoutMap> => {
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc)) {
    const known = Object.keys(LayoutMap.type.props);
    const extra = Object.keys(doc).find((k) => !known.includes(k));
    if (extra !== undefined) return fail(file, extra, `not a layout map field (known: ${known.join(', ')})`);
  }
  return decode(LayoutMap, file, doc);
};

/** `params/`, `grad/<s>/`, `update/<s>/<slot>/`: the part before a parameter name. */
const PARAM_SCOPE = /^(params\/|grad\/\d+\/|update\/\d+\/[a-z_]+\/)(.+)$/;
const STEP_SCOPE = /^(step\/\d+\/)(.+)$/;

/** The file's tensors under official names and layouts, and what is not comparable. */
export interface Mapped {
  readonly file: SafetensorsFile;
  readonly notComparable: readonly string[];
}

export const applyLayoutMap = (st: SafetensorsFile, map: LayoutMap, file: string): E.Either<BoundaryError, Mapped> => {
  const rename = map.rename ?? {};
  const partOf = new Map<string, string>();
  for (const [official, parts] of Object.entries(map.fuse ?? {})) for (const p of parts) partOf.set(p, official);
  const rowsOf = new Map(Object.entries(map.rows ?? {}).map(([official, port]) => [port, official]));
  const out = new Map<string, Tensor>();
  const fused = new Map<string, Map<string, Tensor>>(); // scope + official name → part → tensor
  for (const [name, tensor] of st.tensors) {
    const p = PARAM_SCOPE.exec(name);
    if (p === null) {
      const s = STEP_SCOPE.exec(name);
      out.set(s === null ? name : `${s[1]}${rename[s[2]!] ?? s[2]}`, tensor);
      continue;
    }
    const [, scope, raw] = p as unknown as [string, string, string];
    const local = map.prefix !== undefined && raw.startsWith(map.prefix) ? raw.slice(map.prefix.length) : raw;
    const fuseTarget = partOf.get(local);
    if (fuseTarget !== undefined) {
      const key = `${scope}${fuseTarget}`;
      fused.set(key, (fused.get(key) ?? new Map()).set(local, tensor));
      continue;
    }
    const official = rowsOf.get(local) ?? rename[local] ?? local;
    out.set(`${scope}${official}`, tensor);
  }
  for (const [key, parts] of fused) {
    const official = key.replace(PARAM_SCOPE, '$2');
    const order = map.fuse![official]!;
    const missing = order.find((p) => !parts.has(p));
    if (missing !== undefined) return fail(file, key.replace(official, missing), `missing part of ${official}`);
    out.set(
      key,
      concat(
        order.map((p) => parts.get(p)!),
        0,
      ),
    );
  }
  for (const official of map.transpose ?? []) {
    for (const [name, tensor] of out) {
      if (PARAM_SCOPE.exec(name)?.[2] !== official) continue;
      if (tensor.rank !== 2) return fail(file, name, `transpose: expected a 2-D tensor, got rank ${tensor.rank}`);
      out.set(name, transpose(tensor, 0, 1));
    }
  }
  return fillOfficial(st, out, map, file);
};

/** Parameters the port lacks (`missing`) or holds only the first rows of (`rows`), as zeros. */
const fillOfficial = (
  st: SafetensorsFile,
  out: Map<string, Tensor>,
  map: LayoutMap,
  file: string,
): E.Either<BoundaryError, Mapped> => {
  let doc: unknown;
  try {
    doc = JSON.parse(st.metadata.config ?? 'null');
  } catch {
    return fail(file, '__metadata__.config', 'not JSON');
  }
  const cfg = decodeConfig(doc, file, '__metadata__.config');
  if (E.isLeft(cfg)) return cfg;
  const shapes = new Map(officialLayout(cfg.right).map((r) => [r.name, r.shape]));
  const missing = new Set(map.missing ?? []);
  for (const name of missing) {
    const shape = shapes.get(name);
    if (shape !== undefined && !out.has(`params/${name}`)) out.set(`params/${name}`, zeros(shape as number[]));
  }
  for (const official of Object.keys(map.rows ?? {})) {
    const shape = shapes.get(official);
    if (shape === undefined) return fail(file, `rows.${official}`, 'not an official parameter of this config');
    for (const [name, have] of out) {
      if (PARAM_SCOPE.exec(name)?.[2] !== official) continue;
      if (
        have.rank !== shape.length ||
        have.shape.slice(1).some((d, i) => d !== shape[i + 1]) ||
        have.shape[0]! > shape[0]!
      )
        return fail(file, name, `rows: shape [${have.shape}] is not the first rows of [${shape}]`);
      const rest = zeros([shape[0]! - have.shape[0]!, ...shape.slice(1)], { dtype: have.dtype });
      out.set(name, concat([have, rest], 0));
      missing.add(`${official} (rows ${have.shape[0]} to ${shape[0]! - 1})`);
    }
  }
  const dtypes = new Map([...out.keys()].map((k) => [k, st.dtypes.get(k) ?? ('F32' as const)]));
  return E.right({
    file: { metadata: st.metadata, tensors: out, dtypes },
    notComparable: [...missing],
  });
};
