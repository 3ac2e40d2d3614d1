/**
 * The npm package as users get it: `npm pack`, then installed into an empty folder the way the CI
 * recipe of docs/crosscheck.md installs it. The tarball holds the compiled code, typings, the
 * `trm` command and the Python tools, and nothing of the tests; `npx trm` works from it; a
 * TypeScript program importing the API type-checks and runs; and the browser entry bundles with
 * esbuild for a browser without any Node built-in. Needs npm and the registry (or npm's cache).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { root } from './helpers/cli.js';

const scratch = mkdtempSync(join(tmpdir(), 'trm-package-'));
const consumer = join(scratch, 'consumer');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const installed = (name: string): string =>
  (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

let tarball = '';
const npm = (args: readonly string[], cwd: string) => {
  const r = spawnSync('npm', args, {
    cwd,
    encoding: 'utf8',
    timeout: 600_000,
    env: { ...process.env, npm_config_yes: 'true' },
  });
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')}: ${r.stderr.slice(-2000)}`);
  return r.stdout;
};
const trm = (args: readonly string[]) =>
  spawnSync(join(consumer, 'node_modules', '.bin', 'trm'), args, { cwd: consumer, encoding: 'utf8', timeout: 300_000 });

beforeAll(() => {
  // npm pack runs prepack (the build) and prints the tarball's name last.
  const out = npm(['pack', '--pack-destination', scratch, '--json'], root);
  tarball = join(scratch, (JSON.parse(out) as { filename: string }[])[0]!.filename);
  mkdirSync(consumer);
  // The recipe's install: no package.json, install scripts off (gpu.js's optional `gl` would
  // compile ANGLE for minutes; the per-platform binaries of esbuild and resvg need none).
  npm(['install', '--no-save', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], consumer);
  // What the API test needs, at the versions this checkout uses (so npm's cache serves them).
  npm(
    [
      'install',
      '--no-save',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
      tarball,
      `typescript@${installed('typescript')}`,
      `@types/node@${installed('@types/node')}`,
      `esbuild@${installed('esbuild')}`,
    ],
    consumer,
  );
}, 900_000);

describe('the npm package', () => {
  it('holds the compiled code, typings, the trm command and the Python tools, and no tests', () => {
    const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'package/dist/src/index.js',
      'package/dist/src/index.d.ts',
      'package/dist/src/browser.js',
      'package/dist/src/cli/main.js',
      'package/bin/trm.js',
      'package/tools/trm_check.py',
      'package/tools/export_trace.py',
      'package/tools/ports/nano-trm.yaml',
      'package/LICENSE',
      'package/README.md',
    ])
      expect(files, f).toContain(f);
    const stray = files.filter(
      (f) => /^package\/(test|spec|src|web|docs|reports)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
    );
    expect(stray).toEqual([]);
  });

  it('npx trm runs from it: --version, solve, crosscheck and plot', () => {
    const v = trm(['--version']);
    expect([v.status, v.stdout.trim()]).toEqual([0, pkg.version]);
    const solved = trm([
      'solve',
      '--checkpoint',
      join(root, 'web', 'assets', 'sudoku4-demo.safetensors'),
      '--puzzle',
      '1..4.4.....3.2..',
      '--json',
    ]);
    expect(solved.status, solved.stderr).toBe(0);
    const doc = JSON.parse(solved.stdout) as { steps: unknown[] };
    expect(doc.steps.length).toBeGreaterThan(0);
    const replay = trm(['crosscheck', join(root, 'test', 'fixtures', 'official', 'arc_attn_rope_eval.safetensors')]);
    expect(replay.status, replay.stderr).toBe(0);
    expect(replay.stdout).toContain('1 file(s) OK');
    // PNG pictures need resvg's per-platform binary, which an install without scripts keeps.
    const log = join(consumer, 'log.jsonl');
    writeFileSync(log, '{"step":1,"loss":2,"lr":0.001}\n{"step":2,"loss":1,"lr":0.001}\n');
    const plot = trm(['plot', log, '--json']);
    expect(plot.status, plot.stderr).toBe(0);
    expect((JSON.parse(plot.stdout) as { files: string[] }).files).toContain(join(consumer, 'loss.png'));
  });

  it('a TypeScript program importing the API type-checks and runs', () => {
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'es2022',
          module: 'nodenext',
          moduleResolution: 'nodenext',
          strict: true,
          outDir: 'out',
          skipLibCheck: false,
          types: ['node'],
        },
        files: ['main.ts'],
      }),
    );
    writeFileSync(
      join(consumer, 'main.ts'),
      `import * as E from 'fp-ts/lib/Either.js';
import {
  type TrmConfig, decodeConfig, decodeTraceBytes, encodeSafetensors, initParams, initialCarry, key, ops, puzzleRows,
  recordTrace, replayTrace, split, startStep, stepContext, stepForward, tensor, toArray, valueAndGrad,
} from 'trm-ts';

const cfg = decodeConfig({ vocab_size: 5, seq_len: 4, batch_size: 2, hidden_size: 8, num_heads: 2, halt_exploration_prob: 0 });
if (E.isLeft(cfg)) throw new Error(cfg.left.message);
const c: TrmConfig = cfg.right;
const [k1] = split(key(0), 2);
const state = initParams(c, k1!);
const batch = {
  inputs: tensor(new Int32Array([1, 2, 3, 4, 4, 3, 2, 1]), [2, 4]),
  labels: tensor(new Int32Array([1, 2, 3, 4, 4, 3, 2, 1]), [2, 4]),
  puzzleIdentifiers: tensor(new Int32Array([0, 0]), [2]),
};
const started = startStep(c, state.buffers, initialCarry(c, batch), batch);
const w = { params: state.params, puzzleRows: puzzleRows(c, state.buffers, started.data) };
const r = stepForward(c, stepContext(c), w, started, { mode: 'eval', lossType: 'stablemax_cross_entropy' });
const g = valueAndGrad((x: ReturnType<typeof tensor>) => ops.sumAll(ops.mul(x, x)))(tensor([1, 2, 3]));
const { entries, metadata } = recordTrace(c, { mode: 'eval', steps: 2, seed: 1 });
const trace = decodeTraceBytes(encodeSafetensors(entries, metadata), 'mine.safetensors');
if (E.isLeft(trace)) throw new Error(trace.left.message);
const report = replayTrace(trace.right);
console.log(JSON.stringify({ logits: r.logits.shape, grad: toArray(g.grad), replay: report.ok }));
`,
    );
    const tsc = spawnSync(
      process.execPath,
      [join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer],
      {
        cwd: consumer,
        encoding: 'utf8',
      },
    );
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const run = spawnSync(process.execPath, [join(consumer, 'out', 'main.js')], { cwd: consumer, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ logits: [2, 4, 5], grad: [2, 4, 6], replay: true });
  });

  it("the README's library example type-checks against the package and solves a puzzle", () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## Use it as a library[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const demo = join(root, 'web', 'assets', 'sudoku4-demo.safetensors');
    writeFileSync(join(consumer, 'readme.ts'), block!.replace('runs/latest/checkpoint.safetensors', demo));
    writeFileSync(
      join(consumer, 'tsconfig.readme.json'),
      JSON.stringify({
        extends: './tsconfig.json',
        files: ['readme.ts'],
      }),
    );
    const tsc = spawnSync(
      process.execPath,
      [join(consumer, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.readme.json'],
      {
        cwd: consumer,
        encoding: 'utf8',
      },
    );
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const run = spawnSync(process.execPath, [join(consumer, 'out', 'readme.js')], { cwd: consumer, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    // console.log of the 16 answer tokens, then whether the answer is a valid Sudoku.
    expect(run.stdout.match(/\d+/g)).toHaveLength(16);
    expect(run.stdout.trim()).toMatch(/(true|false)$/);
  });

  it('the browser entry bundles for a browser with no Node built-in, and runs', () => {
    writeFileSync(
      join(consumer, 'page.js'),
      `import { key, initParams, makeConfig, officialLayout, tensor, toArray, ops } from 'trm-ts/browser';
const c = makeConfig({ vocab_size: 5, seq_len: 4, hidden_size: 8, num_heads: 2 });
globalThis.result = { params: officialLayout(c).length, sum: toArray(ops.sumAll(tensor([1, 2, 3]))), keys: typeof initParams(c, key(3)).params };
`,
    );
    for (const [entry, out] of [
      ['page.js', 'page.bundle.js'],
      ['main.ts', 'main.bundle.js'], // 'trm-ts' resolves to the browser build under the browser condition
    ] as const) {
      const r = spawnSync(
        join(consumer, 'node_modules', '.bin', 'esbuild'),
        [entry, '--bundle', '--platform=browser', '--format=esm', `--outfile=${out}`, '--log-level=error'],
        { cwd: consumer, encoding: 'utf8' },
      );
      expect(r.status, `${entry}: ${r.stderr}`).toBe(0);
      expect(readFileSync(join(consumer, out), 'utf8')).not.toMatch(/from ["']node:|require\(["']node:/);
    }
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(join(consumer, 'page.bundle.js'))}); console.log(JSON.stringify(globalThis.result));`,
      ],
      { cwd: consumer, encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ params: 15, sum: [6], keys: 'object' });
  });
});
