/**
 * Choosing a backend by name (CLI `--backend`) and moving values onto it. The model code never
 * changes: tensors carry their backend, and every op runs on its inputs' backend.
 */
import type { Backend } from './backend.js';
import { reference } from './reference.js';
import { createWasmBackend, wasmSimdSupported } from './wasm/index.js';

export const BACKEND_NAMES = ['reference', 'wasm', 'gpujs'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** `auto` picks the WebAssembly SIMD backend where the engine has SIMD, else the reference. */
export const createBackend = async (name: string): Promise<Backend> => {
  switch (name) {
    case 'reference':
      return reference;
    case 'wasm':
      if (!wasmSimdSupported()) throw new Error('this JavaScript engine has no WebAssembly SIMD; use --backend reference');
      return createWasmBackend();
    case 'auto':
      return wasmSimdSupported() ? createWasmBackend() : reference;
    case 'gpujs': {
      const { createGpuJsBackend } = await import('./gpujs/index.js');
      const { parseGpuJsMode } = await import('./gpujs/index.js');
      return createGpuJsBackend({ mode: parseGpuJsMode(process.env.TRM_GPUJS_MODE ?? 'cpu') });
    }
    default:
      throw new Error(`unknown backend '${name}' (available: auto, ${BACKEND_NAMES.join(', ')})`);
  }
};

export { toBackend } from './move.js';
