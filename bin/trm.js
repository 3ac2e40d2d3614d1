#!/usr/bin/env node
// Entry point of the `trm` command: runs the compiled CLI from dist/ (built by `npm ci` via the
// `prepare` script, or by `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const entry = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write('trm: the compiled CLI is missing (dist/). Run `npm run build` (npm ci does it).\n');
  process.exit(2);
}
// `trm … | head` closes the pipe early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
// Node 20 keeps WebAssembly relaxed SIMD (the fused multiply-add matrix product) behind a V8 flag;
// set it before any kernel module is compiled. Newer Node has it on already.
const { enableRelaxedSimd } = await import(
  pathToFileURL(fileURLToPath(new URL('../dist/src/accel/wasm/relaxed-simd.js', import.meta.url))).href
);
enableRelaxedSimd();
const { main } = await import(pathToFileURL(entry).href);
process.exitCode = await main(process.argv.slice(2));
