/**
 * Layout maps: how a port's tensor names and layouts correspond to the official ones, so that a
 * trace written in the port's own terms can be replayed (`trm crosscheck --layout FILE`).
 *
 * A map (YAML or JSON) may declare:
 * - `prefix`: stripped from every parameter name (under `params/`, `grad/<s>/`, `update/<s>/<slot>/`);
 * - `rename`: the port's name → the official one, for parameter names and for step kinds (the
 *   part after `step/<s>/`, e.g. `y: z_H`); a pair of names ending in `.` renames a module path
 *   (`lenet.: inner.L_level.`), an exact name taking precedence over a path and a longer path over
 *   a shorter one;
 * - `transpose`: official 2-D parameters the port stores transposed (JAX and Flax Dense kernels
 *   are `[in, out]`; PyTorch's are `[out, in]`);
 * - `fuse`: an official parameter that is the port's parameters concatenated along the first axis,
 *   in order (separate q, k, v projections; separate gate and up);
 * - `rows`: an official parameter of which the port holds only the first rows (a single-logit Q
 *   head: the halt row), as the port's name or `{name, count}`; the other rows are zeros and the
 *   outputs that depend on them are listed in `missing`;
 * - `missing`: official parameters the port does not have (replayed as zeros) and step outputs
 *   it does not record; each is reported as not comparable.
 *
 * The map is applied to the file's tensors before the trace is decoded; everything after (the
 * replay, the rows, the tolerances) is as for a trace in the official layout. `toPortLayout` runs
 * it backwards: a trace in the official layout written in the port's terms (`trm trace --layout`),
 * so that a port loads the weights and batch under its own names.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { type BoundaryError, decode, fail } from '../io/errors.js';
import type { SafetensorsFile, StWriteEntry } from '../io/safetensors.js';
import { concat, slice, transpose } from '../ops/index.js';
import { type Tensor, zeros } from '../tensor/tensor.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';
import { officialLayout } from '../trm/params.js';

const PositiveInt = t.refinement(t.number, (n) => Number.isInteger(n) && n > 0, 'PositiveInt');

/** `{name, count}` and nothing else. */
const RowsCount = t.refinement(
  t.type({
    /** The port's parameter name. */
    name: t.string,
    /** The number of first rows the port holds; `toPortLayout` cuts the official tensor to them. */
    count: PositiveInt,
  }),
  (o) => Object.keys(o).every((k) => k === 'name' || k === 'count'),
  '{name, count}',
);

/** A layout map: every field optional, no others (see the module comment). */
export const LayoutMap = t.exact(
  t.partial({
    /** Stripped from every parameter name (under `params/`, `grad/<s>/`, `update/<s>/<slot>/`). */
    prefix: t.string,
    /**
     * The port's name → the official one, for parameter names and step kinds (the part after
     * `step/<s>/`, e.g. `y: z_H`). A pair of names ending in `.` renames a module path; an exact
     * name takes precedence over a path, a longer path over a shorter one.
     */
    rename: t.record(t.string, t.string),
    /** Official 2-D parameters the port stores transposed (JAX and Flax Dense kernels are [in, out]). */
    transpose: t.array(t.string),
    /**
     * An official parameter → the port's parameters that, concatenated along the first axis in
     * this order, make it (separate q, k, v projections; separate gate and up).
     */
    fuse: t.record(t.string, t.array(t.string)),
    /**
     * An official parameter → the port's parameter that holds only its first rows (a single-logit
     * Q head: the halt row), as a name or `{name, count}`. The other rows are replayed as zeros.
     */
    // Stryker disable next-line ArrayDeclaration: t.union([]) throws when the module loads, so no test file runs and the runner reports no failure
    rows: t.record(t.string, t.union([t.string, RowsCount])),
    /**
     * Official parameters the port does not have (replayed as zeros) and step outputs it does not
     * record; each is reported as not comparable.
     */
    missing: t.array(t.string),
  }),
);
/** A decoded layout map (see the module comment). */
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

/** `name` under a rename table: its exact entry, else its longest renamed module path, else itself. */
const renamed = (table: Readonly<Record<string, string>>, name: string): string => {
  const exact = table[name];
  if (exact !== undefined) return exact;
  let best = '';
  // Stryker disable next-line EqualityOperator: equivalent (two matching paths of one length are the same key)
  for (const from of Object.keys(table))
    if (from.endsWith('.') && name.startsWith(from) && from.length > best.length) best = from;
  return best === '' ? name : `${table[best]}${name.slice(best.length)}`;
};

type RowsEntry = NonNullable<LayoutMap['rows']>[string];
const rowsName = (r: RowsEntry): string => (typeof r === 'string' ? r : r.name);

/** `params/`, `grad/<s>/`, `update/<s>/<slot>/`: the part before a parameter name. */
// Stryker disable next-line Regex: equivalent for trace names (no scope word inside another name; `.+` reaches the end)
const PARAM_SCOPE = /^(params\/|grad\/\d+\/|update\/\d+\/[a-z_]+\/)(.+)$/;
// Stryker disable next-line Regex: equivalent for trace names (as above)
const STEP_SCOPE = /^(step\/\d+\/)(.+)$/;

/** The file's tensors under official names and layouts, and what is not comparable. */
export interface Mapped {
  /** The file's metadata and tensors, parameters the port lacks or holds in part filled with zeros. */
  readonly file: SafetensorsFile;
  /** The `missing` names and the rows that `rows` leaves out, reported and never compared. */
  readonly notComparable: readonly string[];
}

/**
 * Applies `map` to a file's tensors: parameter names (under `params/`, `grad/<s>/`,
 * `update/<s>/<slot>/`) are stripped of the prefix, renamed, fused and transposed to the official
 * names and layouts, step kinds are renamed, and parameters listed in `missing` or `rows` are
 * filled with zeros to the official shapes of the config in the file's metadata. Errors name
 * `file` and the tensor or field.
 */
export const applyLayoutMap = (st: SafetensorsFile, map: LayoutMap, file: string): E.Either<BoundaryError, Mapped> => {
  const rename = map.rename ?? {};
  const partOf = new Map<string, string>();
  for (const [official, parts] of Object.entries(map.fuse ?? {})) for (const p of parts) partOf.set(p, official);
  const rowsOf = new Map(Object.entries(map.rows ?? {}).map(([official, port]) => [rowsName(port), official]));
  // Stryker disable next-line ArrayDeclaration: equivalent (a name no tensor has is never transposed)
  const transposed = new Set(map.transpose ?? []);
  const out = new Map<string, Tensor>();
  /** Places a parameter under its official key, transposed back where the map says so. */
  const place = (key: string, official: string, tensor: Tensor): E.Either<BoundaryError, void> => {
    if (!transposed.has(official)) return E.right(void out.set(key, tensor));
    if (tensor.rank !== 2) return fail(file, key, `transpose: expected a 2-D tensor, got rank ${tensor.rank}`);
    return E.right(void out.set(key, transpose(tensor, 0, 1)));
  };
  const fused = new Map<string, Map<string, Tensor>>(); // scope + official name → part → tensor
  for (const [name, tensor] of st.tensors) {
    const p = PARAM_SCOPE.exec(name);
    if (p === null) {
      const s = STEP_SCOPE.exec(name);
      out.set(s === null ? name : `${s[1]}${renamed(rename, s[2]!)}`, tensor);
      continue;
    }
    const [, scope, raw] = p as unknown as [string, string, string];
    // Stryker disable next-line ConditionalExpression: equivalent (no name starts with the string 'undefined' in a map without prefix)
    const local = map.prefix !== undefined && raw.startsWith(map.prefix) ? raw.slice(map.prefix.length) : raw;
    const fuseTarget = partOf.get(local);
    if (fuseTarget !== undefined) {
      const key = `${scope}${fuseTarget}`;
      fused.set(key, (fused.get(key) ?? new Map()).set(local, tensor));
      continue;
    }
    const official = rowsOf.get(local) ?? renamed(rename, local);
    const placed = place(`${scope}${official}`, official, tensor);
    if (E.isLeft(placed)) return placed;
  }
  for (const [key, parts] of fused) {
    const official = key.replace(PARAM_SCOPE, '$2');
    const order = map.fuse![official]!;
    const missing = order.find((p) => !parts.has(p));
    if (missing !== undefined) return fail(file, key.replace(official, missing), `missing part of ${official}`);
    const placed = place(
      key,
      official,
      concat(
        order.map((p) => parts.get(p)!),
        0,
      ),
    );
    if (E.isLeft(placed)) return placed;
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
      if (have.shape[0]! < shape[0]!) missing.add(`${official} (rows ${have.shape[0]} to ${shape[0]! - 1})`);
    }
  }
  const dtypes = new Map([...out.keys()].map((k) => [k, st.dtypes.get(k) ?? ('F32' as const)]));
  return E.right({
    file: { metadata: st.metadata, tensors: out, dtypes },
    notComparable: [...missing],
  });
};

/** A trace in the port's terms, and the official tensors and outputs the port does not hold. */
export interface PortEntries {
  /** The entries under the port's names and layouts. */
  readonly entries: readonly StWriteEntry[];
  /** The official tensors and step outputs left out (`missing`), and the rows `rows` cuts off. */
  readonly dropped: readonly string[];
}

/**
 * The map run backwards: entries in the official names and layouts (as `recordTrace` writes them)
 * renamed, transposed, split and cut to the port's, so that `applyLayoutMap` gives them back (what
 * `missing` and `rows` leave out aside). A fused tensor is split at the official parts' rows, so
 * `fuse` must list as many parts as the official tensor fuses; `rows` needs `{name, count}`.
 */
export const toPortLayout = (
  entries: readonly StWriteEntry[],
  map: LayoutMap,
  cfg: TrmConfig,
  file: string,
): E.Either<BoundaryError, PortEntries> => {
  const layouts = new Map(officialLayout(cfg).map((r) => [r.name, r.layout]));
  const portOf: Record<string, string> = {};
  for (const [port, official] of Object.entries(map.rename ?? {})) {
    const taken = portOf[official];
    if (taken !== undefined)
      return fail(file, `rename.${port}`, `${official} is already the rename of ${taken}, so the map has no inverse`);
    if (port.endsWith('.') !== official.endsWith('.'))
      return fail(file, `rename.${port}`, 'a module path (ending in ".") must be renamed to a module path');
    portOf[official] = port;
  }
  // Stryker disable next-line ArrayDeclaration: equivalent (a name no tensor has is never dropped)
  const missing = new Set(map.missing ?? []);
  // Stryker disable next-line ArrayDeclaration: equivalent (a name no tensor has is never transposed)
  const transposed = new Set(map.transpose ?? []);
  const prefix = map.prefix ?? '';
  const out: StWriteEntry[] = [];
  const dropped = new Set<string>();
  for (const e of entries) {
    const p = PARAM_SCOPE.exec(e.name);
    if (p === null) {
      const s = STEP_SCOPE.exec(e.name);
      if (s === null) out.push(e);
      else if (missing.has(s[2]!)) dropped.add(s[2]!);
      else out.push({ ...e, name: `${s[1]}${renamed(portOf, s[2]!)}` });
      continue;
    }
    const [, scope, official] = p as unknown as [string, string, string];
    if (missing.has(official)) {
      dropped.add(official);
      continue;
    }
    let tensor = e.tensor;
    const rows = map.rows?.[official];
    if (rows !== undefined) {
      if (typeof rows === 'string')
        return fail(file, `rows.${official}`, 'give {name, count} to write a trace in this layout');
      if (tensor.rank === 0 || rows.count > tensor.shape[0]!)
        return fail(file, `rows.${official}.count`, `${rows.count} rows of a tensor of shape [${tensor.shape}]`);
      if (rows.count < tensor.shape[0]!) dropped.add(`${official} (rows ${rows.count} to ${tensor.shape[0]! - 1})`);
      tensor = slice(tensor, [0], [rows.count]);
    }
    if (transposed.has(official)) {
      if (tensor.rank !== 2) return fail(file, e.name, `transpose: expected a 2-D tensor, got rank ${tensor.rank}`);
      tensor = transpose(tensor, 0, 1);
    }
    const parts = map.fuse?.[official];
    if (parts !== undefined) {
      if (rows !== undefined)
        return fail(file, `fuse.${official}`, 'also cut by rows: a tensor is either fused or cut');
      if (transposed.has(official))
        return fail(file, `fuse.${official}`, 'a fused tensor that is also transposed cannot be split back');
      const fused = layouts.get(official)?.fused ?? [];
      if (fused.length !== parts.length)
        return fail(
          file,
          `fuse.${official}`,
          `${parts.length} parts, but the official tensor fuses ${fused.length} (${fused.map((f) => f.part).join(', ') || 'none'})`,
        );
      parts.forEach((part, i) =>
        out.push({
          ...e,
          name: `${scope}${prefix}${part}`,
          tensor: slice(tensor, [fused[i]!.rows[0]], [fused[i]!.rows[1]]),
        }),
      );
      continue;
    }
    const name = rows === undefined ? renamed(portOf, official) : rows.name;
    out.push({ ...e, name: `${scope}${prefix}${name}`, tensor });
  }
  return E.right({ entries: out, dropped: [...dropped] });
};
