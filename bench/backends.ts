/**
 * The backends the benches can run: the reference (the plain definition) and the tuned plain-JS
 * kernels (`js`, what `--backend auto` falls back to) always; the WebAssembly one where supported, as
 * `wasm` (matrix products split over every core, what `--backend auto` gives) and `wasm-1thread`
 * (no workers); and gpu.js on request (`--backend gpujs`, mode from TRM_GPUJS_MODE, default cpu),
 * whose name carries the kernel class gpu.js actually runs (e.g. gpujs:CPUKernel).
 */
import os from 'node:os';
import type { Backend } from '../src/backend/backend.js';
import { reference } from '../src/backend/reference.js';
import { jsBackend } from '../src/accel/js/index.js';
import { createThreadedWasmBackend, createWasmBackend, wasmSimdSupported } from '../src/accel/wasm/index.js';
import { createGpuJsBackend, parseGpuJsMode } from '../src/accel/gpujs/index.js';

export interface BenchBackend {
  readonly name: string;
  /** Creates the backend, its `name` set to the bench's; the caller closes it. */
  readonly create: () => Promise<Backend>;
  /** Only when asked for by name (slow on a CPU). */
  readonly optIn?: boolean;
  /** Also timed on the paper's Sudoku training step (minutes per step on the slow backends). */
  readonly paperStep: boolean;
  /** Threads its products are split over, when more than one. */
  readonly threads?: number;
}

/** The same backend under the bench's name (rows say `wasm-1thread`, not `wasm`). */
const named = (name: string, be: Backend): Backend => Object.freeze({ ...be, name });

/** Every core the process may use (the calling thread included). */
export const cores = (): number => os.availableParallelism?.() ?? os.cpus().length;

export const benchBackends = (): BenchBackend[] => [
  { name: 'reference', create: async () => reference, paperStep: false },
  { name: 'js', create: async () => jsBackend, paperStep: false },
  ...(wasmSimdSupported()
    ? [
        {
          name: 'wasm',
          create: async () => named('wasm', await createThreadedWasmBackend({ threads: cores() })),
          paperStep: true,
          threads: cores(),
        },
        { name: 'wasm-1thread', create: async () => named('wasm-1thread', createWasmBackend()), paperStep: true },
      ]
    : []),
  {
    name: 'gpujs',
    create: async () => createGpuJsBackend({ mode: parseGpuJsMode(process.env.TRM_GPUJS_MODE ?? 'cpu') }),
    optIn: true,
    paperStep: false,
  },
];
