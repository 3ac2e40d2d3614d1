/**
 * Turning on WebAssembly relaxed SIMD in Node 20, for the fused multiply-add build of the product.
 *
 * V8 ships relaxed SIMD on by default from 11.4 (Chrome 114, Node 22). Node 20's V8 (11.3) has it
 * behind --experimental-wasm-relaxed-simd, a V8 flag that NODE_OPTIONS does not accept. The
 * application entry points (bin/trm.js, the bench children) call this once at start-up, before any
 * module is compiled; the library itself only asks `relaxedSimdSupported()` and builds the plain
 * mul + add kernel where the answer is no. Setting the flag is a process-wide engine setting, which
 * is why library code never does it.
 */
import { setFlagsFromString } from 'node:v8';

/** Sets V8's relaxed-SIMD flag (harmless where it is already on). */
export const enableRelaxedSimd = (): void => {
  setFlagsFromString('--experimental-wasm-relaxed-simd');
};
