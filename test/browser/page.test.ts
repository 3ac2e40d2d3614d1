/**
 * The browser page (web/) in Debian's Chromium, driven by playwright-core: it builds the bundle
 * (tools/build-web.mjs), serves web/ on a free 127.0.0.1 port (tools/serve-web.mjs --port 0),
 * solves fixed 4×4 puzzles with the bundled checkpoint through the page's own inputs, and checks
 * every supervision step's board and P(halt) against `solvePuzzle` run here in Node on the
 * reference backend with the same checkpoint file. It does so on WebGL2 (headless Chromium gets it
 * through SwiftShader) and, with WebGL2 and then all WebGL hidden from the page, on the visible
 * fallbacks (WebGLKernel, CPUKernel). Screenshots go to a temporary folder, printed.
 *
 * Needs /usr/bin/chromium (`apt-get install chromium`; never a downloaded browser). Without it the
 * test is skipped, except under CI (CI set), where it fails: .ci/run installs it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reference } from '../../src/backend/reference.js';
import { toBackend } from '../../src/tensor/move.js';
import { type Solution, solvePuzzle } from '../../src/train/solve.js';
import { parsePuzzle, puzzleString } from '../../src/data/sudoku-io.js';
import { loadCheckpoint } from '../../src/train/checkpoint-file.js';
import { evalModel } from '../../src/train/loop.js';

const root = join(import.meta.dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const CHECKPOINT = join(root, 'web', 'assets', 'sudoku4-demo.safetensors');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Three of the page's examples (web/main.ts), typed into the puzzle field. With the bundled
 * checkpoint the boards change between steps (wrong after step 1, then corrected; or never
 * solved), so the comparison covers the recursion, not only a first answer.
 */
const PUZZLES = ['.3.. 1... ..2. 4...', '..2. 1... 3... ..3.', '.... 2.1. .... .4.1'];

/**
 * Hides WebGL2 (and, with ALL, every WebGL context) from the page before its scripts run: an init
 * script (plain JS, run in the page; the root tsconfig has no DOM lib to type it).
 */
const hideWebGl = (all: boolean): string => `(() => {
  const all = ${all};
  const blocked = (type) => type === 'webgl2' || (all && (type === 'webgl' || type === 'experimental-webgl'));
  for (const proto of [HTMLCanvasElement.prototype, OffscreenCanvas.prototype]) {
    const original = proto.getContext;
    proto.getContext = function (type, ...rest) {
      return blocked(type) ? null : original.call(this, type, ...rest);
    };
  }
  delete window.WebGL2RenderingContext;
  if (all) delete window.WebGLRenderingContext;
})();`;

/** The browser globals the page callbacks below touch (declared here: the root tsconfig has no DOM lib). */
interface PageElement {
  readonly dataset: Record<string, string | undefined>;
  readonly textContent: string | null;
}
declare const document: {
  getElementById(id: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};

interface PageStep {
  readonly step: number;
  readonly board: string;
  readonly qHalt: number;
}

interface PageResult {
  readonly steps: PageStep[];
  readonly answer: string;
  readonly valid: boolean;
}

interface Banner {
  readonly kernelClass: string;
  readonly mode: string;
  readonly fallback: string;
  readonly onGpu: string;
  readonly text: string;
}

const nodeSolution = (() => {
  const cache = new Map<string, Solution>();
  return (puzzle: string): Solution => {
    const hit = cache.get(puzzle);
    if (hit !== undefined) return hit;
    const ck = loadCheckpoint(CHECKPOINT);
    if (E.isLeft(ck)) throw new Error(`${ck.left.file}: ${ck.left.message}`);
    const p = parsePuzzle(puzzle);
    if (E.isLeft(p)) throw new Error(p.left);
    const solved = solvePuzzle(
      ck.right.config,
      toBackend(evalModel(ck.right.state), reference),
      ck.right.hyper.loss_type,
      p.right,
      'max',
    );
    if (E.isLeft(solved)) throw new Error(solved.left);
    const sol = solved.right;
    cache.set(puzzle, sol);
    return sol;
  };
})();

const startServer = (): Promise<{ child: ChildProcess; url: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'tools', 'serve-web.mjs'), '--port', '0', '--no-build'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`serve-web did not start in 10 s: ${out}${err}`)), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve-web exited (${code}): ${out}${err}`));
    });
  });

const readBanner = (page: Page): Promise<Banner> =>
  page.evaluate(() => {
    const e = document.getElementById('backend-banner')!;
    return {
      kernelClass: e.dataset.kernelClass ?? '',
      mode: e.dataset.mode ?? '',
      fallback: e.dataset.fallback ?? '',
      onGpu: e.dataset.onGpu ?? '',
      text: e.textContent ?? '',
    };
  });

const readStatus = (page: Page): Promise<string> =>
  page.evaluate(() => {
    const s = document.getElementById('status')!;
    return `${s.dataset.state}: ${s.textContent}`;
  });

/** Opens the page and waits until the bundled checkpoint is loaded. */
const openPage = async (ctx: BrowserContext, url: string, errors: string[], init?: { all: boolean }): Promise<Page> => {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  if (init !== undefined) await page.addInitScript({ content: hideWebGl(init.all) });
  await page.goto(url);
  await page.waitForFunction(
    () => ['ready', 'error'].includes(document.getElementById('status')?.dataset.state ?? ''),
    undefined,
    { timeout: 60_000 },
  );
  const status = await readStatus(page);
  expect(status, 'page status after loading').toMatch(/^ready: /);
  return page;
};

/** Types the puzzle, clicks solve and reads every step off the page. */
const solveOnPage = async (page: Page, puzzle: string): Promise<PageResult> => {
  const compact = puzzleString(E.getOrElseW(() => ({ tokens: [] as number[] }))(parsePuzzle(puzzle)).tokens);
  await page.fill('#puzzle', puzzle);
  await page.click('#solve');
  await page.waitForFunction(
    (c) => {
      const s = document.getElementById('status');
      return s?.dataset.state === 'error' || (s?.dataset.state === 'done' && (s.textContent ?? '').startsWith(c));
    },
    compact,
    { timeout: 60_000 },
  );
  const status = await readStatus(page);
  expect(status).toMatch(/^done: /);
  return page.evaluate(() => {
    const rows = [...document.querySelectorAll('.step-row')];
    const v = document.getElementById('verdict')!;
    return {
      steps: rows.map((r) => ({
        step: Number(r.dataset.step),
        board: r.dataset.board ?? '',
        qHalt: Number(r.dataset.qhalt),
      })),
      answer: v.dataset.answer ?? '',
      valid: v.dataset.valid === 'true',
    };
  });
};

const expectSameAsNode = (puzzle: string, got: PageResult): void => {
  const want = nodeSolution(puzzle);
  expect(got.steps.map((s) => s.step)).toEqual(want.steps.map((s) => s.step));
  for (const [i, w] of want.steps.entries()) {
    const g = got.steps[i]!;
    expect(g.board, `${puzzle}: board after step ${w.step}`).toBe(puzzleString(w.tokens));
    expect(
      Math.abs(g.qHalt - w.qHaltProb),
      `${puzzle}: P(halt) after step ${w.step} (page ${g.qHalt}, node ${w.qHaltProb})`,
    ).toBeLessThanOrEqual(1e-4);
  }
  expect(got.answer).toBe(puzzleString(want.answer));
  expect(got.valid).toBe(want.valid);
};

const haveChromium = existsSync(CHROMIUM);

if (!haveChromium && process.env.CI !== undefined && process.env.CI !== '') {
  it('browser page: /usr/bin/chromium is required under CI', () => {
    throw new Error(
      `${CHROMIUM} is missing. .ci/run must install Debian's Chromium before npm test: ` +
        '`command -v chromium >/dev/null || (apt-get update && apt-get install -y --no-install-recommends chromium)`. ' +
        'Never download a browser with playwright.',
    );
  });
} else if (!haveChromium) {
  it.skip(`browser page (skipped: ${CHROMIUM} is missing; install it with \`apt-get install chromium\`)`, () => {});
} else {
  describe('browser page in headless Chromium', () => {
    let server: { child: ChildProcess; url: string } | null = null;
    let ctx: BrowserContext | null = null;
    let profile = '';
    const shots = mkdtempSync(join(tmpdir(), 'trm-web-shots-'));

    beforeAll(async () => {
      execFileSync(process.execPath, [join(root, 'tools', 'build-web.mjs')], { cwd: root, stdio: 'pipe' });
      server = await startServer();
      profile = mkdtempSync(join(tmpdir(), 'trm-chromium-'));
      ctx = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1100, height: 900 },
      });
    }, 60_000);

    afterAll(async () => {
      await ctx?.close();
      server?.child.kill('SIGTERM');
      if (profile !== '') rmSync(profile, { recursive: true, force: true });
    });

    it('solves fixed puzzles on WebGL2 exactly as the Node reference does, step by step', async () => {
      const errors: string[] = [];
      const page = await openPage(ctx!, server!.url, errors);
      try {
        const banner = await readBanner(page);
        expect(banner, banner.text).toMatchObject({
          kernelClass: 'WebGL2Kernel',
          mode: 'webgl2',
          fallback: 'false',
          onGpu: 'true',
        });
        // The one it corrects at step 2 last, so that the screenshot shows it.
        for (const puzzle of [PUZZLES[1]!, PUZZLES[0]!]) expectSameAsNode(puzzle, await solveOnPage(page, puzzle));
        // Every gpu.js kernel call ran on WebGL2 (none fell back to the CPU kernel at build time).
        const ranOn = JSON.parse(
          await page.evaluate(() => document.getElementById('run-stats')!.dataset.ranOn ?? '{}'),
        ) as Record<string, number>;
        expect(Object.keys(ranOn)).toEqual(['WebGL2Kernel']);
        expect(errors).toEqual([]);
      } finally {
        const shot = join(shots, 'page.png');
        await page.screenshot({ path: shot, fullPage: true });
        console.log(`browser page screenshot (WebGL2): ${shot}`);
        await page.close();
      }
    }, 120_000);

    it('falls back visibly to WebGL, then to the CPU kernel, with the same answers', async () => {
      const errors: string[] = [];
      const noGl2 = await openPage(ctx!, server!.url, errors, { all: false });
      const b1 = await readBanner(noGl2);
      expect(b1, b1.text).toMatchObject({ kernelClass: 'WebGLKernel', mode: 'webgl', fallback: 'true', onGpu: 'true' });
      expect(b1.text).toMatch(/Fallback: 'webgl2' unavailable/);
      expectSameAsNode(PUZZLES[2]!, await solveOnPage(noGl2, PUZZLES[2]!));
      const shot = join(shots, 'fallback-webgl.png');
      await noGl2.screenshot({ path: shot, fullPage: true });
      console.log(`browser page screenshot (WebGL2 hidden): ${shot}`);
      await noGl2.close();

      const noGl = await openPage(ctx!, server!.url, errors, { all: true });
      const b2 = await readBanner(noGl);
      expect(b2, b2.text).toMatchObject({ kernelClass: 'CPUKernel', mode: 'cpu', fallback: 'true', onGpu: 'false' });
      expect(b2.text).toMatch(/'webgl2' unavailable.*'webgl' unavailable/);
      expectSameAsNode(PUZZLES[0]!, await solveOnPage(noGl, PUZZLES[0]!));
      await noGl.close();
      expect(errors).toEqual([]);
    }, 120_000);
  });
}
