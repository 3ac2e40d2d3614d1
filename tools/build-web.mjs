#!/usr/bin/env node
/**
 * Bundles the browser page (web/main.ts → web/dist/main.js) with esbuild.
 *
 *   node tools/build-web.mjs                 build web/dist/ (a few hundred ms)
 *   node tools/build-web.mjs --demo-checkpoint runs/<ts>/checkpoint.safetensors
 *                                            also rewrite web/assets/sudoku4-demo.safetensors from
 *                                            a training checkpoint, without its ACT carry (needs
 *                                            `npm run build` first: it uses dist/)
 *
 * Two things are checked on every build, and fail it:
 *  - node:* modules: the page bundles src/ modules that also serve the CLI. A node:* import is
 *    an error naming the importer (unless its module is in NODE_IMPORT_ALLOWED, now empty), so a
 *    node-only dependency in the page's import graph cannot slip into the bundle unnoticed.
 *  - gpu.js: its package.json `browser` field points at dist/gpu-browser.js (the UMD build with
 *    the WebGL/WebGL2 kernels and no `gl`/`worker_threads` requires at load); with
 *    `platform: 'browser'` esbuild prefers that field over `main` (./src/index.js, the Node build).
 *    The build asserts that the browser build, and nothing of gpu.js's src/, was bundled.
 *
 * No minification: gpu.js reports its kernel classes by `constructor.name` and builds CPU
 * kernels from function sources, both of which a minifier would change.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const webRoot = join(root, 'web');
export const outDir = join(webRoot, 'dist');

/**
 * Modules allowed to import node:* in the page's graph, and why they are harmless there: none. The
 * page imports only the modules that run anywhere (files on disk live in *-file.ts modules).
 */
const NODE_IMPORT_ALLOWED = new Map();

const nodeStub = (seen) => ({
  name: 'node-stub',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => {
      const importer = relative(root, args.importer).split('\\').join('/');
      if (!NODE_IMPORT_ALLOWED.has(importer)) {
        return {
          errors: [
            {
              text: `${importer} imports ${args.path}, which does not exist in a browser. Keep node-only code out of the page's import graph (web/solve.ts lists what it bundles), or, if the module only calls it from functions the page never uses, add it to NODE_IMPORT_ALLOWED in tools/build-web.mjs.`,
            },
          ],
        };
      }
      seen.push(`${importer} → ${args.path}`);
      return { path: args.path, namespace: 'node-stub' };
    });
    // CommonJS, so that named imports resolve (to undefined) instead of failing the build; any
    // call into it would throw a TypeError, which the page never triggers.
    build.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
});

/** Builds web/dist/main.js (+ .map). Returns what was bundled, for the checks and the log. */
export const buildWeb = async ({ log = true } = {}) => {
  const t0 = performance.now();
  const stubbed = [];
  mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [join(webRoot, 'main.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    sourcemap: true,
    minify: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [nodeStub(stubbed)],
  });
  for (const w of result.warnings) console.warn(`build-web: warning: ${w.text}`);
  const inputs = Object.keys(result.metafile.inputs);
  const gpuInputs = inputs.filter((p) => p.includes('node_modules/gpu.js/'));
  if (!gpuInputs.includes('node_modules/gpu.js/dist/gpu-browser.js') || gpuInputs.some((p) => p.includes('/src/'))) {
    throw new Error(
      `build-web: gpu.js did not resolve to its browser build (bundled: ${gpuInputs.join(', ') || 'nothing'})`,
    );
  }
  const out = join(outDir, 'main.js');
  const bytes = statSync(out).size;
  const info = {
    out,
    bytes,
    inputs: inputs.length,
    stubbed: [...new Set(stubbed)],
    ms: Math.round(performance.now() - t0),
  };
  if (log) {
    console.log(
      `build-web: ${relative(root, out)} ${(bytes / 1024).toFixed(0)} KiB from ${info.inputs} modules in ${info.ms} ms (gpu.js: dist/gpu-browser.js)`,
    );
    for (const s of info.stubbed)
      console.log(`build-web: stubbed ${s} (${NODE_IMPORT_ALLOWED.get(s.split(' → ')[0])})`);
  }
  return info;
};

/** Writes web/assets/sudoku4-demo.safetensors: a checkpoint without its ACT carry (which only a
 *  bit-exact training resume needs), so that the bundled file stays small. */
const makeDemoCheckpoint = async (src) => {
  const distSt = join(root, 'dist', 'src', 'io', 'safetensors.js');
  let st;
  try {
    st = await import(pathToFileURL(distSt).href);
  } catch {
    throw new Error(`build-web: ${relative(root, distSt)} is missing: run \`npm run build\` first`);
  }
  const { formatBoundaryError } = await import(pathToFileURL(join(root, 'dist', 'src', 'io', 'errors.js')).href);
  const decoded = st.decodeSafetensors(readFileSync(src), src);
  if (decoded._tag === 'Left') throw new Error(formatBoundaryError(decoded.left));
  const { metadata, tensors, dtypes } = decoded.right;
  if (metadata.format !== 'trm-checkpoint/1') throw new Error(`${src}: not a trm checkpoint`);
  const entries = [...tensors]
    .filter(([name]) => !name.startsWith('carry/'))
    .map(([name, tensor]) => ({ name, tensor, dtype: dtypes.get(name) }));
  const meta = {};
  for (const [k, v] of Object.entries(metadata)) meta[k] = String(v);
  const bytes = st.encodeSafetensors(entries, meta);
  const dest = join(webRoot, 'assets', 'sudoku4-demo.safetensors');
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, bytes);
  console.log(
    `build-web: ${relative(root, dest)} ${(bytes.length / 1024).toFixed(0)} KiB (from ${src}, step ${metadata.step}, carry dropped)`,
  );
};

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  try {
    const i = args.indexOf('--demo-checkpoint');
    if (i >= 0) {
      const src = args[i + 1];
      if (src === undefined) throw new Error('build-web: --demo-checkpoint needs a file');
      await makeDemoCheckpoint(src);
    } else if (args.length > 0) {
      throw new Error(
        `build-web: unknown arguments ${args.join(' ')} (usage: node tools/build-web.mjs [--demo-checkpoint FILE])`,
      );
    }
    await buildWeb();
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
