/** The backends the benches can run: the reference always, the WebAssembly one where supported. */
import type { Backend } from '../src/backend/backend.js';
import { reference } from '../src/backend/reference.js';
import { createWasmBackend, wasmSimdSupported } from '../src/backend/wasm/index.js';

export interface BenchBackend {
  readonly name: string;
  /** Creates the backend; the caller closes it. */
  readonly create: () => Backend;
}

export const benchBackends = (): BenchBackend[] => [
  { name: 'reference', create: () => reference },
  ...(wasmSimdSupported() ? [{ name: 'wasm', create: () => createWasmBackend() }] : []),
];
