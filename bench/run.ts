/**
 * `npm run bench [-- --json] [--quick] [--backend NAME]...`
 *
 * Matmul GFLOP/s per backend for square products (64³, 256³, 512³, 1024³; --quick stops at 512³)
 * in the plain and transposed forms, and training-step times where a train-step bench exists
 * (bench/train_step.ts). Every backend is measured in the same run on the same data, so the ratios
 * printed are like for like. With --json, stdout is one JSON object:
 *   {"machine": {...}, "matmul": [{"backend","m","k","n","transpose","gflops","cpu_gflops","ms","reps"}],
 *    "train_step": [{"backend","config","batch","ms","peak_rss_mb"}]}
 */
import { generateSudokuSet, BOXES } from '../src/data/sudoku.js';
import { generateMazes } from '../src/data/maze.js';
import { key } from '../src/random/key.js';
import os from 'node:os';
import type { Backend } from '../src/backend/backend.js';
import { benchBackends } from './backends.js';
import {
  DEFAULT_TIMING,
  type MatmulResult,
  QUICK_TIMING,
  TRANSPOSES,
  type Transpose,
  benchMatmul,
  round,
} from './matmul.js';
import { TRAIN_STEP_CONFIGS, type TrainStepResult, benchTrainStep } from './train_step.js';

export interface BenchArgs {
  readonly json: boolean;
  readonly quick: boolean;
  /** Backend names to run; empty means all available. */
  readonly backends: readonly string[];
  readonly sizes: readonly number[] | null;
}

const USAGE = `usage: bench [--json] [--quick] [--backend NAME]... [--sizes 64,256,...]
  --json           print one JSON object instead of a table
  --quick          sizes up to 512, plain/transA/transB only, shorter timing
  --backend NAME   only this backend (repeatable; comma-separated also works)
  --sizes LIST     square sizes to run instead of the defaults`;

export const parseArgs = (argv: readonly string[]): BenchArgs => {
  let json = false;
  let quick = false;
  const backends: string[] = [];
  let sizes: number[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--json') json = true;
    else if (a === '--quick') quick = true;
    else if (a === '--backend') backends.push(...value().split(',').filter((s) => s !== ''));
    else if (a.startsWith('--backend=')) backends.push(...a.slice(10).split(',').filter((s) => s !== ''));
    else if (a === '--sizes') sizes = value().split(',').map(Number);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${a}\n${USAGE}`);
  }
  if (sizes !== null && sizes.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('bench: --sizes wants positive integers');
  return { json, quick, backends, sizes };
};

const machine = (): Record<string, unknown> => ({
  node: process.version,
  cpus: os.cpus().length,
  cpu_model: os.cpus()[0]?.model ?? 'unknown',
  loadavg_1m: round(os.loadavg()[0] ?? 0, 2),
});

/** Dataset generators, puzzles per second (issue 4): 9×9 Sudoku with a unique solution, 30×30 hard mazes. */
export const benchData = (quick: boolean): { generator: string; size: number; count: number; ms: number; per_second: number }[] => {
  const rows: { generator: string; size: number; count: number; ms: number; per_second: number }[] = [];
  const run = (generator: string, size: number, count: number, f: () => unknown) => {
    const t0 = performance.now();
    f();
    const ms = performance.now() - t0;
    rows.push({ generator, size, count, ms: round(ms, 1), per_second: round((count / ms) * 1000, 1) });
  };
  const n = quick ? 20 : 100;
  run('sudoku', 9, n, () => generateSudokuSet(key(1), { box: BOXES[9], count: n }));
  run('sudoku', 4, n * 5, () => generateSudokuSet(key(2), { box: BOXES[4], count: n * 5 }));
  run('maze', 30, n / 2, () => generateMazes(key(3), n / 2, { size: 30 }));
  return rows;
};

export const main = (argv: readonly string[]): void => {
  const args = parseArgs(argv);
  const available = benchBackends();
  const chosen = args.backends.length === 0 ? available.filter((b) => b.optIn !== true) : available.filter((b) => args.backends.includes(b.name));
  const unknown = args.backends.filter((n) => !available.some((b) => b.name === n));
  if (unknown.length > 0) throw new Error(`bench: unknown or unavailable backend ${unknown.join(', ')} (have ${available.map((b) => b.name).join(', ')})`);
  const sizes = args.sizes ?? (args.quick ? [64, 256, 512] : [64, 256, 512, 1024]);
  const transposes: readonly Transpose[] = args.quick ? ['none', 'transA', 'transB'] : TRANSPOSES;
  const timing = args.quick ? QUICK_TIMING : DEFAULT_TIMING;
  const before = machine();

  const matmul: MatmulResult[] = [];
  const trainStep: TrainStepResult[] = [];
  if (!args.json) {
    process.stdout.write(`node ${String(before.node)}, ${String(before.cpus)} cpus (${String(before.cpu_model)}), load ${String(before.loadavg_1m)}\n`);
    process.stdout.write('matmul GFLOP/s (median; wall clock, and CPU time in parentheses)\n');
    process.stdout.write(`${'size'.padEnd(12)}${'transpose'.padEnd(10)}${chosen.map((b) => b.name.padStart(20)).join('')}${chosen.length > 1 ? '   ratio' : ''}\n`);
  }
  const backends: Backend[] = chosen.map((b) => b.create());
  try {
    for (const s of sizes) {
      for (const t of transposes) {
        const row = backends.map((be) => benchMatmul(be, s, s, s, t, timing));
        matmul.push(...row);
        if (!args.json) {
          const cells = row.map((r) => `${r.gflops.toFixed(2)} (${r.cpu_gflops.toFixed(2)})`.padStart(20)).join('');
          const ratio =
            row.length > 1 ? `   ${row.slice(1).map((r) => `${(r.gflops / row[0]!.gflops).toFixed(1)}×`).join(' ')}` : '';
          process.stdout.write(`${`${s}³`.padEnd(12)}${t.padEnd(10)}${cells}${ratio}\n`);
        }
      }
    }
    for (const be of backends) {
      // --quick: the small config only (the paper config takes minutes per step on the slower backends).
      for (const config of args.quick ? TRAIN_STEP_CONFIGS.filter((c) => c === 'small') : TRAIN_STEP_CONFIGS) {
        const r = benchTrainStep(be, config, { quick: args.quick });
        if (r !== null) trainStep.push(r);
      }
    }
  } finally {
    for (const be of backends) be.close();
  }
  const data = benchData(args.quick);
  if (args.json) {
    const out = { machine: { ...before, loadavg_1m_after: machine().loadavg_1m }, matmul, train_step: trainStep, data };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  }
  if (!args.json) {
    process.stdout.write('\ndata generators\n');
    for (const d of data) process.stdout.write(`${d.generator.padEnd(8)}${`${d.size}×${d.size}`.padEnd(8)}${String(d.count).padStart(5)} in ${d.ms.toFixed(0)} ms  (${d.per_second.toFixed(1)}/s)\n`);
  }
  if (args.json) return;
  if (trainStep.length > 0) {
    process.stdout.write('\ntrain step (median ms, peak RSS MiB)\n');
    for (const r of trainStep) {
      process.stdout.write(`${r.backend.padEnd(12)}${r.config.padEnd(14)}batch ${r.batch}  ${r.ms.toFixed(1)} ms  ${r.peak_rss_mb.toFixed(0)} MiB\n`);
    }
  } else {
    process.stdout.write(`\ntrain step: no train-step bench wired yet (bench/train_step.ts)\nload after: ${String(machine().loadavg_1m)}\n`);
  }
};

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
