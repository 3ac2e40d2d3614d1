/**
 * `npm run bench [-- --json] [--quick] [--backend NAME]...`
 *
 * Matmul GFLOP/s per backend for square products (64³, 256³, 512³, 1024³; --quick stops at 512³)
 * in the plain and transposed forms, and training-step times where a train-step bench exists
 * (bench/train_step.ts). Every backend is measured in the same run on the same data, so the ratios
 * printed are like for like. With --json, stdout is one JSON object:
 *   {"machine": {...}, "matmul": [{"backend","m","k","n","transpose","gflops","cpu_gflops","ms","reps"}],
 *    "matmul_batched": [{"backend","m","k","n","batch","gflops","ms","reps"}],
 *    "train_step": [{"backend","config","batch","ms","peak_rss_mb"}]}
 * `matmul_batched` (threaded backends, sizes ≥ 256): one whole product per thread in one call, the
 * simple way to use the threads, to compare a product split over them with (same run, same minute).
 */
import { generateSudokuSet, BOXES } from '../src/data/sudoku.js';
import { generateMazes } from '../src/data/maze.js';
import { key } from '../src/random/key.js';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/backend.js';
import { type BenchBackend, benchBackends, cores } from './backends.js';
import {
  type BatchedMatmulResult,
  DEFAULT_TIMING,
  type MatmulResult,
  QUICK_TIMING,
  TRANSPOSES,
  type Transpose,
  benchBatchedMatmul,
  benchMatmul,
  round,
} from './matmul.js';
import { TRAIN_STEP_CONFIGS, type TrainStepConfig, type TrainStepResult, benchTrainStep } from './train_step.js';
import { enableRelaxedSimd } from '../src/accel/wasm/relaxed-simd.js';

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
    else if (a === '--backend')
      backends.push(
        ...value()
          .split(',')
          .filter((s) => s !== ''),
      );
    else if (a.startsWith('--backend='))
      backends.push(
        ...a
          .slice(10)
          .split(',')
          .filter((s) => s !== ''),
      );
    else if (a === '--sizes') sizes = value().split(',').map(Number);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${a}\n${USAGE}`);
  }
  if (sizes?.some((s) => !Number.isInteger(s) || s < 1)) throw new Error('bench: --sizes wants positive integers');
  return { json, quick, backends, sizes };
};

const machine = (): Record<string, unknown> => ({
  node: process.version,
  cpus: cores(),
  cpu_model: os.cpus()[0]?.model ?? 'unknown',
  loadavg_1m: round(os.loadavg()[0] ?? 0, 2),
});

/** Dataset generators, puzzles per second (issue 4): 9×9 Sudoku with a unique solution, 30×30 hard mazes. */
export const benchData = (
  quick: boolean,
): { generator: string; size: number; count: number; ms: number; per_second: number }[] => {
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

/**
 * One training-step row, measured in a child process of its own so that `peak_rss_mb` is that
 * backend's and config's peak alone (max RSS is process-wide and never goes down).
 */
const trainStepInChild = (backend: string, config: TrainStepConfig, quick: boolean): TrainStepResult => {
  const args = [fileURLToPath(import.meta.url), '--train-step-child', backend, config, ...(quick ? ['--quick'] : [])];
  const r = spawnSync(process.execPath, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0)
    throw new Error(`bench: the ${backend} ${config} train step failed (exit ${String(r.status ?? r.signal)})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as TrainStepResult;
};

/** The child's side: `--train-step-child BACKEND CONFIG [--quick]` prints one TrainStepResult. */
const trainStepChild = async (argv: readonly string[]): Promise<void> => {
  enableRelaxedSimd(); // as bin/trm.js does for the parent
  const [name, config] = argv;
  const entry = benchBackends().find((b) => b.name === name);
  if (entry === undefined || !TRAIN_STEP_CONFIGS.includes(config as TrainStepConfig))
    throw new Error(`bench: bad child arguments ${argv.join(' ')}`);
  const be = await entry.create();
  try {
    const r = benchTrainStep(be, config as TrainStepConfig, { quick: argv.includes('--quick') });
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    be.close();
  }
};

export const main = async (argv: readonly string[]): Promise<void> => {
  if (argv[0] === '--train-step-child') return trainStepChild(argv.slice(1));
  const args = parseArgs(argv);
  const available = benchBackends();
  const chosen: BenchBackend[] =
    args.backends.length === 0
      ? available.filter((b) => b.optIn !== true)
      : available.filter((b) => args.backends.includes(b.name));
  const unknown = args.backends.filter((n) => !available.some((b) => b.name === n));
  if (unknown.length > 0)
    throw new Error(
      `bench: unknown or unavailable backend ${unknown.join(', ')} (have ${available.map((b) => b.name).join(', ')})`,
    );
  const sizes = args.sizes ?? (args.quick ? [64, 256, 512] : [64, 256, 512, 1024]);
  const transposes: readonly Transpose[] = args.quick ? ['none', 'transA', 'transB'] : TRANSPOSES;
  const timing = args.quick ? QUICK_TIMING : DEFAULT_TIMING;
  const before = machine();

  const matmul: MatmulResult[] = [];
  const matmulBatched: BatchedMatmulResult[] = [];
  const trainStep: TrainStepResult[] = [];
  if (!args.json) {
    process.stdout.write(
      `node ${String(before.node)}, ${String(before.cpus)} cpus (${String(before.cpu_model)}), load ${String(before.loadavg_1m)}\n`,
    );
    process.stdout.write('matmul GFLOP/s (median; wall clock, and CPU time of all threads in parentheses)\n');
    process.stdout.write(
      `${'size'.padEnd(12)}${'transpose'.padEnd(10)}${chosen.map((b) => b.name.padStart(20)).join('')}${chosen.length > 1 ? '   ratio' : ''}\n`,
    );
  }
  const backends: Backend[] = [];
  try {
    for (const b of chosen) backends.push(await b.create());
    for (const s of sizes) {
      for (const t of transposes) {
        const row = backends.map((be) => benchMatmul(be, s, s, s, t, timing));
        matmul.push(...row);
        if (!args.json) {
          const cells = row.map((r) => `${r.gflops.toFixed(2)} (${r.cpu_gflops.toFixed(2)})`.padStart(20)).join('');
          const ratio =
            row.length > 1
              ? `   ${row
                  .slice(1)
                  .map((r) => `${(r.gflops / row[0]!.gflops).toFixed(1)}×`)
                  .join(' ')}`
              : '';
          process.stdout.write(`${`${s}³`.padEnd(12)}${t.padEnd(10)}${cells}${ratio}\n`);
        }
      }
    }
    // What the split products are compared with: one whole product per thread, side by side.
    for (const [i, b] of chosen.entries()) {
      if ((b.threads ?? 1) < 2) continue;
      for (const s of sizes.filter((x) => x >= 256)) {
        const r = benchBatchedMatmul(backends[i]!, s, s, s, b.threads!, timing);
        matmulBatched.push(r);
        if (!args.json)
          process.stdout.write(
            `${`${s}³ ×${r.batch}`.padEnd(12)}${'batched'.padEnd(10)}${r.gflops.toFixed(2).padStart(20)}   (${b.name}: one product per thread)\n`,
          );
      }
    }
  } finally {
    for (const be of backends) be.close();
  }
  // --quick: the small config only; the paper config runs on the fast backends only (the reference
  // and gpu.js take many minutes per step there).
  for (const b of chosen) {
    for (const config of TRAIN_STEP_CONFIGS.filter((c) => c === 'small' || (!args.quick && b.paperStep))) {
      const r = trainStepInChild(b.name, config, args.quick);
      trainStep.push(r);
      if (!args.json) process.stdout.write(`train step ${r.backend} ${r.config}: ${r.ms.toFixed(1)} ms\n`);
    }
  }
  const data = benchData(args.quick);
  if (args.json) {
    const out = {
      machine: { ...before, loadavg_1m_after: machine().loadavg_1m },
      matmul,
      matmul_batched: matmulBatched,
      train_step: trainStep,
      data,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
    return;
  }
  process.stdout.write('\ndata generators\n');
  for (const d of data)
    process.stdout.write(
      `${d.generator.padEnd(8)}${`${d.size}×${d.size}`.padEnd(8)}${String(d.count).padStart(5)} in ${d.ms.toFixed(0)} ms  (${d.per_second.toFixed(1)}/s)\n`,
    );
  process.stdout.write('\ntrain step (median ms, peak RSS MiB, one process per row)\n');
  for (const r of trainStep) {
    process.stdout.write(
      `${r.backend.padEnd(14)}${r.config.padEnd(14)}batch ${r.batch}  ${r.ms.toFixed(1)} ms  ${r.peak_rss_mb.toFixed(0)} MiB\n`,
    );
  }
  process.stdout.write(`load after: ${String(machine().loadavg_1m)}\n`);
};

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
