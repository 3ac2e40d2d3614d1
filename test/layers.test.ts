/**
 * The layer order of src/, enforced: every relative import of every source file is read, and an
 * import that runs against the order below fails the test, naming the file, the line and the rule.
 *
 *   core → backend → tensor → (random, io, autodiff) → ops → trm → (data, train) → crosscheck → cli / web
 *
 * The accelerated backends (src/accel) sit on the backend interface only: nothing in the spec tree
 * imports them; the CLI, the web page and the benches pick one.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** What the entry points (the CLI and the web page) may use: every layer of the spec tree and the accelerators. */
const ENTRY_POINTS = [
  'core',
  'backend',
  'tensor',
  'random',
  'io',
  'autodiff',
  'ops',
  'trm',
  'viz',
  'data',
  'train',
  'crosscheck',
  'accel',
];

/** The layers each layer may import from (besides itself). A layer not named may not be imported. */
const LAYER_RULES: Readonly<Record<string, readonly string[]>> = {
  core: [],
  backend: ['core'],
  tensor: ['core', 'backend'],
  random: ['core', 'backend', 'tensor'],
  io: ['core', 'tensor'],
  autodiff: ['core', 'tensor'],
  ops: ['core', 'backend', 'tensor', 'autodiff'],
  trm: ['core', 'backend', 'tensor', 'random', 'io', 'autodiff', 'ops'],
  viz: ['core'],
  data: ['core', 'tensor', 'random', 'io'],
  train: ['core', 'backend', 'tensor', 'random', 'io', 'autodiff', 'ops', 'trm', 'data'],
  crosscheck: ['core', 'backend', 'tensor', 'random', 'io', 'autodiff', 'ops', 'trm', 'train'],
  accel: ['core', 'backend'],
  cli: ENTRY_POINTS,
  web: ENTRY_POINTS,
  // The package's entries: src/browser.ts (everything that runs anywhere, no accelerators) and
  // src/index.ts (that, plus files and accelerators).
  browser: ENTRY_POINTS.filter((l) => l !== 'accel'),
  package: [...ENTRY_POINTS, 'browser'],
};

interface Violation {
  readonly file: string;
  readonly line: number;
  readonly from: string;
  readonly to: string;
  readonly spec: string;
}

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'dist' || name === 'node_modules' ? [] : sourceFiles(p);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [p] : [];
  });

/** The layer of a file: `web` for web/, the first folder under src/, or a package entry (src/*.ts). */
const layerOf = (file: string): string | null => {
  const rel = relative(root, file).split(sep);
  if (rel[0] === 'web') return 'web';
  if (rel[0] === 'src' && rel.length > 2) return rel[1]!;
  if (rel[0] === 'src' && rel.length === 2) return rel[1] === 'browser.ts' ? 'browser' : 'package';
  return null;
};

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;

/** Every relative import of every file under src/ and web/ that runs against `rules`. */
const violations = (rules: Readonly<Record<string, readonly string[]>>): Violation[] => {
  const out: Violation[] = [];
  for (const file of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'web'))]) {
    const from = layerOf(file);
    if (from === null) continue;
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((text, i) => {
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[2]!;
        const to = layerOf(resolve(dirname(file), spec));
        if (to === null || to === from) continue;
        if (!(rules[from] ?? []).includes(to)) out.push({ file: relative(root, file), line: i + 1, from, to, spec });
      }
    });
  }
  return out;
};

const describeViolation = (v: Violation): string =>
  `${v.file}:${v.line}: ${v.from}/ may not import ${v.to}/ ('${v.spec}')`;

describe('layers', () => {
  it('every import runs down the layer order', () => {
    expect(violations(LAYER_RULES).map(describeViolation)).toEqual([]);
  });

  it('every folder of src/ has a rule', () => {
    const folders = readdirSync(join(root, 'src')).filter((n) => statSync(join(root, 'src', n)).isDirectory());
    expect(folders.filter((f) => !(f in LAYER_RULES))).toEqual([]);
  });

  it('the rules form no cycle', () => {
    const seen = new Set<string>();
    const visit = (layer: string, path: readonly string[]): void => {
      expect(path, `cycle ${[...path, layer].join(' → ')}`).not.toContain(layer);
      if (seen.has(layer)) return;
      for (const dep of LAYER_RULES[layer] ?? []) visit(dep, [...path, layer]);
      seen.add(layer);
    };
    for (const layer of Object.keys(LAYER_RULES)) visit(layer, []);
  });

  it('a forbidden import is reported with its file and line', () => {
    const rules = { ...LAYER_RULES, trm: LAYER_RULES.trm!.filter((d) => d !== 'ops') };
    const found = violations(rules).filter((v) => v.from === 'trm' && v.to === 'ops');
    expect(found.length).toBeGreaterThan(0);
    expect(describeViolation(found[0]!)).toMatch(
      /^src\/trm\/[\w-]+\.ts:\d+: trm\/ may not import ops\/ \('\.\.\/ops\//,
    );
  });
});
