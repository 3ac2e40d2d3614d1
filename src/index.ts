/**
 * trm-ts: a functional TypeScript reference implementation of the Tiny Recursive Model (TRM).
 *
 * Everything of `trm-ts/browser` (tensors, autodiff, the model, training, traces on bytes) plus
 * what needs Node: files (safetensors, checkpoints, traces) and the accelerated backends.
 *
 * ```ts
 * import * as E from 'fp-ts/lib/Either.js';
 * import { decodeConfig, initParams, key, loadCheckpoint, parsePuzzle, solvePuzzle } from 'trm-ts';
 * ```
 *
 * @packageDocumentation
 */
export * from './browser.js';

// Files on disk: read and checked, or written atomically (a temporary name, then a rename).
export { readSafetensors, writeSafetensors } from './io/safetensors-file.js';
export { loadCheckpoint, saveCheckpoint } from './train/checkpoint-file.js';
export { readTrace, readBatchFile, writeTrace } from './crosscheck/trace-file.js';

// Backends: reference (default), js (worker threads), wasm (SIMD), gpujs.
export { type BackendName, type BackendChoice, BACKEND_NAMES, createBackend, describeBackend } from './accel/select.js';
