/**
 * `node dist/bench/elementwise.js [--json] [--quick] [--sizes 4096,65536,...]`
 *
 * Element-wise throughput per backend, in millions of elements per second (median; wall clock and
 * process CPU time): the unary kernels (exp, sigmoid, silu, neg, rsqrt) on values uniform in
 * [−8, 8], and binary mul in three layouts (equal shapes, a trailing-axis bias, and a size-1 last
 * axis as in RMS norm). Every call returns a fresh array, so the figures include allocating and
 * filling the result, as the model pays it. Same timing as the matmul bench (bench/matmul.ts).
 * With --json, stdout is one JSON object: {"machine": {...}, "elementwise": [{"backend", "op",
 * "layout", "n", "melems", "cpu_melems", "ns_per_elem", "reps"}]}.
 */
import os from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend, UnaryOp } from '../src/backend/backend.js';
import { benchBackends } from './backends.js';
import { DEFAULT_TIMING, QUICK_TIMING, type TimingOptions, benchData, round, time } from './matmul.js';

export interface ElementwiseResult {
  readonly backend: string;
  readonly op: string;
  readonly layout: string;
  readonly n: number;
  /** Million elements per second, wall clock (median). */
  readonly melems: number;
  /** Million elements per second, process CPU time (median). */
  readonly cpu_melems: number;
  /** Wall nanoseconds per element (median). */
  readonly ns_per_elem: number;
  readonly reps: number;
}

export const UNARY_BENCH_OPS: readonly UnaryOp[] = ['exp', 'sigmoid', 'silu', 'neg', 'rsqrt'];

interface Case {
  readonly op: string;
  readonly layout: string;
  readonly run: (be: Backend) => unknown;
}

/** The cases at n elements (n a multiple of 64). */
const cases = (n: number): Case[] => {
  const x = benchData(n, 3).map((v) => 8 * v);
  const pos = x.map((v) => Math.abs(v) + 0.5);
  const y = benchData(n, 4);
  const rows = n / 64;
  const bias = benchData(64, 5);
  const col = benchData(rows, 6);
  return [
    ...UNARY_BENCH_OPS.map((op) => {
      const input = op === 'rsqrt' ? pos : x;
      return { op, layout: 'unary', run: (be: Backend) => be.unary(op, input) };
    }),
    { op: 'mul', layout: 'equal shapes', run: (be) => be.binary('mul', x, [rows, 64], y, [rows, 64], [rows, 64]) },
    { op: 'add', layout: 'bias [R,64]+[64]', run: (be) => be.binary('add', x, [rows, 64], bias, [64], [rows, 64]) },
    {
      op: 'mul',
      layout: 'column [R,64]*[R,1]',
      run: (be) => be.binary('mul', x, [rows, 64], col, [rows, 1], [rows, 64]),
    },
  ];
};

export const benchElementwise = (
  backends: readonly Backend[],
  sizes: readonly number[],
  opts: TimingOptions,
): ElementwiseResult[] => {
  const out: ElementwiseResult[] = [];
  for (const n of sizes) {
    for (const c of cases(n)) {
      for (const be of backends) {
        const t = time(() => c.run(be), opts);
        out.push({
          backend: be.name,
          op: c.op,
          layout: c.layout,
          n,
          melems: round(n / t.ms / 1e3),
          cpu_melems: round(n / Math.max(t.cpuMs, 1e-4) / 1e3),
          ns_per_elem: round((t.ms * 1e6) / n),
          reps: t.reps,
        });
      }
    }
  }
  return out;
};

const USAGE = 'usage: elementwise [--json] [--quick] [--sizes 4096,65536,...] (sizes: multiples of 64)';

export const main = async (argv: readonly string[]): Promise<void> => {
  let json = false;
  let quick = false;
  let sizes: number[] | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') json = true;
    else if (a === '--quick') quick = true;
    else if (a === '--sizes') sizes = (argv[++i] ?? '').split(',').map(Number);
    else throw new Error(`elementwise: unknown argument ${a}\n${USAGE}`);
  }
  const chosen = sizes ?? (quick ? [4096, 262144] : [4096, 65536, 1048576]);
  if (chosen.some((s) => !Number.isInteger(s) || s < 64 || s % 64 !== 0)) throw new Error(USAGE);
  const load0 = os.loadavg()[0] ?? 0;
  // Element-wise work runs on the calling thread: the threaded wasm backend would time the same kernels.
  const backends: Backend[] = [];
  let results: ElementwiseResult[];
  try {
    for (const b of benchBackends().filter((b) => b.optIn !== true && b.name !== 'wasm'))
      backends.push(await b.create());
    results = benchElementwise(backends, chosen, quick ? QUICK_TIMING : DEFAULT_TIMING);
  } finally {
    for (const be of backends) be.close();
  }
  const machine = {
    node: process.version,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    loadavg_1m: round(load0, 2),
    loadavg_1m_after: round(os.loadavg()[0] ?? 0, 2),
  };
  if (json) {
    process.stdout.write(`${JSON.stringify({ machine, elementwise: results })}\n`);
    return;
  }
  const names = backends.map((b) => b.name);
  process.stdout.write(
    `node ${machine.node}, ${machine.cpus} cpus (${machine.cpu_model}), load ${machine.loadavg_1m} → ${machine.loadavg_1m_after}\n`,
  );
  process.stdout.write('element-wise M elements/s (median; wall clock, and CPU time in parentheses)\n');
  process.stdout.write(
    `${'n'.padEnd(9)}${'op'.padEnd(9)}${'layout'.padEnd(22)}${names.map((b) => b.padStart(20)).join('')}${names.length > 1 ? '   ratio' : ''}\n`,
  );
  for (let i = 0; i < results.length; i += names.length) {
    const row = results.slice(i, i + names.length);
    const r0 = row[0]!;
    const cells = row.map((r) => `${r.melems.toFixed(0)} (${r.cpu_melems.toFixed(0)})`.padStart(20)).join('');
    const ratio =
      row.length > 1
        ? `   ${row
            .slice(1)
            .map((r) => `${(r.melems / r0.melems).toFixed(1)}×`)
            .join(' ')}`
        : '';
    process.stdout.write(`${String(r0.n).padEnd(9)}${r0.op.padEnd(9)}${r0.layout.padEnd(22)}${cells}${ratio}\n`);
  }
};

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1]);
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
}
