/**
 * Choosing a backend by name (CLI `--backend`) and moving values onto it. The model code never
 * changes: tensors carry their backend, and every op runs on its inputs' backend.
 */
import type { Backend } from '../backend/backend.js';
import { reference } from '../backend/reference.js';
import { jsBackend } from './js/index.js';
import { type WasmBackend, createThreadedWasmBackend, createWasmBackend, wasmSimdSupported } from './wasm/index.js';

/** The backends `createBackend` accepts by name (besides `auto`). */
export const BACKEND_NAMES = ['reference', 'js', 'wasm', 'gpujs'] as const;
/** One of {@link BACKEND_NAMES}. */
export type BackendName = (typeof BACKEND_NAMES)[number];

/** Options of `createBackend`. */
export interface BackendChoice {
  /** Threads for the WebAssembly backend's matrix products (the calling thread included);
   *  default: TRM_THREADS, else every available core. 1 runs without workers. */
  readonly threads?: number;
}

/** Parses a thread count (a CLI flag or TRM_THREADS): a whole number from 1 to 256. */
export const parseThreads = (s: string, from = 'threads'): number => {
  const n = Number(s);
  if (!/^\d+$/.test(s.trim()) || !Number.isInteger(n) || n < 1 || n > 256) {
    throw new Error(`${from}: expected a whole number of threads from 1 to 256, got '${s}'`);
  }
  return n;
};

/** TRM_THREADS when set; otherwise undefined, and the threaded backend takes every core. */
const envThreads = (): number | undefined => {
  const env = typeof process === 'undefined' ? undefined : process.env.TRM_THREADS;
  return env === undefined || env === '' ? undefined : parseThreads(env, 'TRM_THREADS');
};

const wasmBackend = async (choice: BackendChoice): Promise<Backend> => {
  const threads = choice.threads ?? envThreads();
  return threads === 1 ? createWasmBackend() : createThreadedWasmBackend(threads === undefined ? {} : { threads });
};

/** `auto` picks the WebAssembly SIMD backend (on every core) where the engine has SIMD, else the tuned JS kernels. */
export const createBackend = async (name: string, choice: BackendChoice = {}): Promise<Backend> => {
  switch (name) {
    case 'reference':
      return reference;
    case 'js':
      return jsBackend;
    case 'wasm':
      if (!wasmSimdSupported())
        throw new Error('this JavaScript engine has no WebAssembly SIMD; use --backend reference');
      return wasmBackend(choice);
    case 'auto':
      return wasmSimdSupported() ? wasmBackend(choice) : jsBackend;
    case 'gpujs': {
      const { createGpuJsBackend } = await import('./gpujs/index.js');
      const { parseGpuJsMode } = await import('./gpujs/index.js');
      return createGpuJsBackend({ mode: parseGpuJsMode(process.env.TRM_GPUJS_MODE ?? 'cpu') });
    }
    default:
      throw new Error(`unknown backend '${name}' (available: auto, ${BACKEND_NAMES.join(', ')})`);
  }
};

/**
 * The backend in a few words for a run's log: its name, and for the WebAssembly backend its threads
 * and which build of the product runs, e.g. `wasm (2 threads, fma)`.
 */
export const describeBackend = (backend: Backend): string => {
  const stats = (backend as Partial<WasmBackend>).stats;
  if (backend.name !== 'wasm' || stats === undefined) return backend.name;
  const s = stats();
  return `wasm (${s.threads} thread${s.threads === 1 ? '' : 's'}, ${s.fma ? 'fma' : 'mul + add'})`;
};
