/**
 * The browser page: load a TRM checkpoint, type or pick a Sudoku, and watch the model refine its
 * answer over the supervision steps, computed with gpu.js on WebGL2 (falling back, visibly, to
 * WebGL and then to gpu.js's CPU kernels).
 *
 * Everything the test reads is in the DOM: #backend-banner (data-mode, data-kernel-class,
 * data-fallback), #status (data-state: loading | ready | solving | done | error) and one
 * `.step-row` per supervision step (data-step, data-board, data-qhalt).
 */
import * as E from 'fp-ts/lib/Either.js';
import { type GpuJsBackend, type GpuJsMode, createGpuJsBackend, parseGpuJsMode } from '../src/accel/gpujs/index.js';
import { reference } from '../src/backend/reference.js';
import { parsePuzzle, puzzleString } from '../src/data/sudoku-io.js';
import type { LoadedCheckpoint } from '../src/train/checkpoint.js';
import type { HaltMode } from '../src/train/evaluate.js';
import { countParams } from '../src/trm/params.js';
import type { TrmState } from '../src/trm/params.js';
import { refinementBoard } from '../src/viz/board.js';
import { type WebSolution, checkpointFromBytes, solveOn, solvingModel } from './solve.js';

const DEMO_CHECKPOINT = 'assets/sudoku4-demo.safetensors';

/** Tried in this order; `?mode=webgl` (or cpu, webasm) starts further down. */
const FALLBACK_CHAIN: readonly GpuJsMode[] = ['webgl2', 'webgl', 'cpu'];

/**
 * 4×4 puzzles with unique solutions (rows left to right, '.' for a blank). With the bundled
 * checkpoint: the first is solved at once; the next two are wrong after step 1 and corrected at
 * step 2 (P(halt) rising as the answer settles); the last it does not solve.
 */
const EXAMPLES4: readonly { readonly name: string; readonly puzzle: string }[] = [
  { name: 'easy (8 givens)', puzzle: '1.3. .4.2 2.4. .3.1' },
  { name: 'refined at step 2', puzzle: '.3.. 1... ..2. 4...' },
  { name: 'refined, then halts', puzzle: '.... 2.1. .... .4.1' },
  { name: 'too hard for it', puzzle: '..2. 1... 3... ..3.' },
];

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`page: #${id} is missing`);
  return e as T;
};

const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
};

const setStatus = (state: 'loading' | 'ready' | 'solving' | 'done' | 'error', message: string): void => {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = message;
};

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Lets the browser paint (e.g. "solving…") before a long synchronous computation. */
const nextPaint = (): Promise<void> => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));

// ---------------------------------------------------------------------------------------------
// The gpu.js backend, with the fallback chain

interface GlInfo {
  readonly webgl2: boolean;
  readonly webgl: boolean;
  /** The unmasked renderer string where the browser exposes it (e.g. SwiftShader, a GPU name). */
  readonly renderer: string | null;
}

const glInfo = (): GlInfo => {
  const probe = (kind: 'webgl2' | 'webgl'): WebGLRenderingContext | WebGL2RenderingContext | null => {
    try {
      return document.createElement('canvas').getContext(kind) as WebGLRenderingContext | WebGL2RenderingContext | null;
    } catch {
      return null;
    }
  };
  const g2 = probe('webgl2');
  const g1 = g2 ?? probe('webgl');
  let renderer: string | null = null;
  if (g1 !== null) {
    const ext = g1.getExtension('WEBGL_debug_renderer_info');
    renderer = String(g1.getParameter(ext !== null ? ext.UNMASKED_RENDERER_WEBGL : g1.RENDERER));
  }
  for (const g of [g2, g1]) g?.getExtension('WEBGL_lose_context')?.loseContext();
  return { webgl2: g2 !== null, webgl: g1 !== null, renderer };
};

/** A matmul and an exp on small exact values, against the reference kernels. */
const selfTest = (be: GpuJsBackend): void => {
  const a = Float32Array.from({ length: 15 }, (_, i) => (i % 7) - 3);
  const b = Float32Array.from({ length: 10 }, (_, i) => (i % 5) - 2);
  const spec = { m: 3, k: 5, n: 2, transA: false, transB: false, aOffsets: [0], bOffsets: [0] };
  const got = be.matmul(a, b, spec);
  const want = reference.matmul(a, b, spec);
  const e1 = be.unary('exp', a);
  const e0 = reference.unary('exp', a);
  for (let i = 0; i < want.length; i++)
    if (got[i] !== want[i]) throw new Error(`self-test: matmul gave ${got[i]} instead of ${want[i]}`);
  for (let i = 0; i < e0.length; i++) {
    if (!(Math.abs(e1[i]! - e0[i]!) <= 1e-5 * Math.abs(e0[i]!)))
      throw new Error(`self-test: exp gave ${e1[i]} instead of ${e0[i]}`);
  }
};

/** gpu.js's refusal of a mode, said plainly (the backend's message is written for Node). */
const whyUnavailable = (mode: GpuJsMode, message: string): string => {
  const refused = /A requested mode of "[^"]*" and is not supported/.exec(message);
  if (refused === null) return message;
  const api = mode === 'webgl2' ? 'WebGL2' : mode === 'webgl' ? 'WebGL' : mode;
  return `this browser gives no ${api} context (gpu.js: ${refused[0]})`;
};

interface Chosen {
  readonly backend: GpuJsBackend;
  /** The first mode tried (WebGL2 unless ?mode= said otherwise). */
  readonly wanted: GpuJsMode;
  /** Modes that failed before the one used, and why. */
  readonly failed: readonly { readonly mode: GpuJsMode; readonly reason: string }[];
}

const chooseBackend = (wanted: GpuJsMode): Chosen => {
  const at = FALLBACK_CHAIN.indexOf(wanted);
  const chain: GpuJsMode[] = at >= 0 ? FALLBACK_CHAIN.slice(at) : [wanted, 'cpu'];
  const failed: { mode: GpuJsMode; reason: string }[] = [];
  for (const mode of chain) {
    let be: GpuJsBackend | null = null;
    try {
      be = createGpuJsBackend({ mode });
      selfTest(be);
      return { backend: be, wanted, failed };
    } catch (e) {
      failed.push({ mode, reason: whyUnavailable(mode, errorText(e)) });
      try {
        be?.close();
      } catch {
        // a backend that failed its self-test may fail to close too; nothing else holds it
      }
    }
  }
  throw new Error(`no gpu.js mode works here: ${failed.map((f) => `${f.mode}: ${f.reason}`).join('; ')}`);
};

const renderBanner = (c: Chosen, gl: GlInfo): void => {
  const b = $('backend-banner');
  const be = c.backend;
  const fellBack = be.mode !== c.wanted;
  b.dataset.mode = be.mode;
  b.dataset.kernelClass = be.kernelClass;
  b.dataset.onGpu = String(be.onGpu);
  b.dataset.fallback = String(fellBack);
  b.className = fellBack ? 'banner fallback' : be.onGpu ? 'banner ok' : 'banner cpu';
  b.replaceChildren();
  const head = h('strong', {}, `gpu.js kernel class: ${be.kernelClass}`);
  const where = be.onGpu
    ? `on the graphics device through ${be.kernelClass === 'WebGL2Kernel' ? 'WebGL2' : 'WebGL'}`
    : 'on the CPU (JavaScript): no GPU involved';
  b.append(head, ` (mode '${be.mode}', ${where})`);
  if (gl.renderer !== null && be.onGpu) b.append(h('br'), `renderer: ${gl.renderer}`);
  if (fellBack) {
    const why = c.failed.map((f) => `'${f.mode}' unavailable: ${f.reason}`).join('; ');
    b.append(
      h('br'),
      h('span', { class: 'why' }, `Fallback: ${why}. The model and its results are the same; only the kernels differ.`),
    );
  }
};

// ---------------------------------------------------------------------------------------------
// Page state

interface Loaded {
  readonly ck: LoadedCheckpoint;
  readonly name: string;
  readonly model: TrmState;
}

let chosen: Chosen | null = null;
let loaded: Loaded | null = null;

const boardSide = (ck: LoadedCheckpoint): number => Math.round(Math.sqrt(ck.config.seqLen));

const describeCheckpoint = (l: Loaded): string => {
  const c = l.ck.config;
  const n = boardSide(l.ck);
  return `${l.name}: preset ${l.ck.preset}, trained ${l.ck.state.step} steps · ${n}×${n} boards · D=${c.D}, ${c.layers} layers, T=${c.T}, n=${c.n}, N_sup=${c.nSup} · ${countParams(c).toLocaleString('en')} parameters${l.ck.state.ema !== null ? ' (EMA weights)' : ''}`;
};

const showExamples = (): void => {
  const box = $('examples');
  box.replaceChildren();
  if (loaded === null || boardSide(loaded.ck) !== 4) {
    box.append(h('span', { class: 'muted' }, 'examples are 4×4; type a puzzle of the size this checkpoint solves'));
    return;
  }
  for (const ex of EXAMPLES4) {
    const btn = h('button', { type: 'button', class: 'example', 'data-puzzle': ex.puzzle }, ex.name);
    btn.addEventListener('click', () => {
      $<HTMLInputElement>('puzzle').value = ex.puzzle;
      void solveNow();
    });
    box.append(btn);
  }
};

const useCheckpoint = (bytes: Uint8Array, name: string): void => {
  if (chosen === null) throw new Error('no backend');
  const ck = checkpointFromBytes(bytes, name);
  if (E.isLeft(ck)) throw new Error(ck.left);
  loaded = { ck: ck.right, name, model: solvingModel(ck.right, chosen.backend) };
  $('checkpoint-info').textContent = describeCheckpoint(loaded);
  $('results').replaceChildren();
  showExamples();
  $<HTMLButtonElement>('solve').disabled = false;
};

// ---------------------------------------------------------------------------------------------
// Solving and showing the steps

const renderSolution = (puzzle: number[], size: number, sol: WebSolution, ms: number): void => {
  const out = $('results');
  out.replaceChildren();
  const svg = refinementBoard({
    size,
    puzzle,
    steps: sol.steps.map((s) => ({ preds: s.tokens, qHaltProb: s.qHaltProb })),
    title: `after each supervision step (the answer counts at step ${sol.haltedAt})`,
    columns: Math.min(sol.steps.length + 1, 7),
  });
  const strip = h('div', { class: 'strip', id: 'strip' });
  strip.innerHTML = svg;
  const verdict = h(
    'p',
    {
      id: 'verdict',
      class: sol.valid ? 'verdict good' : 'verdict bad',
      'data-valid': String(sol.valid),
      'data-answer': puzzleString(sol.answer),
    },
    sol.valid
      ? `Solved: ${puzzleString(sol.answer)} is a valid Sudoku that keeps every given.`
      : `Not solved: ${puzzleString(sol.answer)} breaks a Sudoku rule or a given.`,
  );
  const table = h('table', { id: 'steps' });
  table.append(
    h(
      'thead',
      {},
      h('tr', {}, h('th', {}, 'step'), h('th', {}, 'P(halt)'), h('th', {}, 'changed'), h('th', {}, 'board')),
    ),
  );
  const body = h('tbody');
  for (const st of sol.steps) {
    const row = h(
      'tr',
      {
        class: st.step === sol.haltedAt ? 'step-row answer' : 'step-row',
        'data-step': String(st.step),
        'data-board': puzzleString(st.tokens),
        'data-qhalt': String(st.qHaltProb),
      },
      h('td', {}, String(st.step)),
      h('td', {}, st.qHaltProb.toFixed(4)),
      h('td', {}, st.step === 1 ? '—' : String(st.changed)),
      h('td', { class: 'mono' }, puzzleString(st.tokens) + (st.step === sol.haltedAt ? '  ← answer' : '')),
    );
    body.append(row);
  }
  table.append(body);
  const be = chosen!.backend;
  const stats = be.stats();
  const ran =
    Object.entries(stats.ranOn)
      .map(([k, v]) => `${k} ×${v}`)
      .join(', ') || 'none';
  const gpuCalls = Object.values(stats.gpujs).reduce((a, b) => a + b, 0);
  const delegated = Object.values(stats.delegated).reduce((a, b) => a + b, 0);
  const note = h(
    'p',
    { class: 'muted', id: 'run-stats', 'data-ran-on': JSON.stringify(stats.ranOn) },
    `The boards draw the givens as given; the table lists the model's raw prediction for every cell, givens included. ${sol.steps.length} supervision steps in ${ms.toFixed(0)} ms. Since the page loaded: ${gpuCalls} gpu.js kernel calls (ran on: ${ran}), ${delegated} handed to the plain-JS reference (copies, casts, int32 work), ${stats.compiled} kernels compiled.`,
  );
  out.append(verdict, strip, table, note);
};

const solveNow = async (): Promise<void> => {
  if (loaded === null || chosen === null) return;
  const text = $<HTMLInputElement>('puzzle').value;
  const p = parsePuzzle(text);
  if (E.isLeft(p)) {
    setStatus('error', p.left);
    return;
  }
  const n = boardSide(loaded.ck);
  if (p.right.size !== n) {
    setStatus('error', `this checkpoint solves ${n}×${n} puzzles; this one is ${p.right.size}×${p.right.size}`);
    return;
  }
  const halt = $<HTMLSelectElement>('halt').value as HaltMode;
  $<HTMLButtonElement>('solve').disabled = true;
  setStatus('solving', `solving on ${chosen.backend.kernelClass}…`);
  await nextPaint();
  try {
    const t0 = performance.now();
    const sol = solveOn(loaded.ck, loaded.model, p.right, halt);
    const ms = performance.now() - t0;
    renderSolution(p.right.tokens, p.right.size, sol, ms);
    setStatus(
      'done',
      `${puzzleString(p.right.tokens)} → ${puzzleString(sol.answer)} (${sol.valid ? 'solved' : 'not solved'}) in ${ms.toFixed(0)} ms`,
    );
  } catch (e) {
    setStatus('error', `solving failed: ${errorText(e)}`);
  } finally {
    $<HTMLButtonElement>('solve').disabled = false;
  }
};

// ---------------------------------------------------------------------------------------------
// Start-up

const start = async (): Promise<void> => {
  setStatus('loading', 'choosing the gpu.js mode…');
  const params = new URLSearchParams(location.search);
  const wanted = parseGpuJsMode(params.get('mode') ?? 'webgl2');
  const gl = glInfo();
  chosen = chooseBackend(wanted);
  renderBanner(chosen, gl);

  $('solve').addEventListener('click', () => void solveNow());
  $('puzzle').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') void solveNow();
  });
  $<HTMLInputElement>('checkpoint-file').addEventListener('change', async (ev) => {
    const f = (ev.target as HTMLInputElement).files?.[0];
    if (f === undefined) return;
    setStatus('loading', `reading ${f.name}…`);
    try {
      useCheckpoint(new Uint8Array(await f.arrayBuffer()), f.name);
      setStatus('ready', `loaded ${f.name}`);
    } catch (e) {
      setStatus('error', errorText(e));
    }
  });
  $('use-demo').addEventListener('click', () => void loadDemo());
  await loadDemo();
};

const loadDemo = async (): Promise<void> => {
  setStatus('loading', `fetching ${DEMO_CHECKPOINT}…`);
  try {
    const res = await fetch(DEMO_CHECKPOINT);
    if (!res.ok) throw new Error(`${DEMO_CHECKPOINT}: HTTP ${res.status}`);
    useCheckpoint(new Uint8Array(await res.arrayBuffer()), 'sudoku4-demo.safetensors');
    setStatus('ready', 'ready: pick an example or type a puzzle');
  } catch (e) {
    setStatus('error', errorText(e));
  }
};

start().catch((e: unknown) => {
  setStatus('error', errorText(e));
  const b = $('backend-banner');
  b.className = 'banner fallback';
  b.dataset.kernelClass = 'none';
  b.textContent = errorText(e);
});
