/**
 * The backends the benches can run: the reference always, the WebAssembly one where supported,
 * and gpu.js on request (`--backend gpujs`, mode from TRM_GPUJS_MODE, default cpu): its name
 * carries the kernel class gpu.js actually runs (e.g. gpujs:CPUKernel).
 */
import type { Backend } from '../src/backend/backend.js';
import { reference } from '../src/backend/reference.js';
import { createWasmBackend, wasmSimdSupported } from '../src/backend/wasm/index.js';
import { createGpuJsBackend, parseGpuJsMode } from '../src/backend/gpujs/index.js';

export interface BenchBackend {
  readonly name: string;
  /** Creates the backend; the caller closes it. */
  readonly create: () => Backend;
  /** Only when asked for by name (slow on a CPU). */
  readonly optIn?: boolean;
}

export const benchBackends = (): BenchBackend[] => [
  { name: 'reference', create: () => reference },
  ...(wasmSimdSupported() ? [{ name: 'wasm', create: () => createWasmBackend() }] : []),
  { name: 'gpujs', create: () => createGpuJsBackend({ mode: parseGpuJsMode(process.env.TRM_GPUJS_MODE ?? 'cpu') }), optIn: true },
];
