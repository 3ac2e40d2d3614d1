/**
 * The documentation is tested:
 *
 * 1. Every fenced ```ts block in docs/*.md whose first line is `// run` is written to
 *    test/.docs-run/<doc>-<n>-<pid>.ts and imported; an `assert` that fails inside it fails the test.
 *    Examples import the project by paths relative to test/.docs-run/ (`../../src/...`) and read
 *    files by paths relative to the repository root (vitest's working directory).
 * 2. Every relative link in docs/*.md and README.md points to a file or folder that exists.
 * 3. The Python snippet in docs/crosscheck.md that converts a torch.save checkpoint to safetensors
 *    writes a file trm-ts reads (run with a stand-in `torch` module; skipped without python3 + numpy).
 */
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/io/safetensors.js';

const root = resolve(import.meta.dirname, '..');
const docsDir = join(root, 'docs');
const runDir = join(root, 'test', '.docs-run');
const docs = readdirSync(docsDir)
  .filter((f) => f.endsWith('.md'))
  .sort();

interface Example {
  readonly doc: string;
  readonly index: number;
  readonly line: number;
  readonly code: string;
}

/** Fenced blocks of one language, with the line their first content line is on. */
const fencedBlocks = (text: string, lang: string): { line: number; code: string }[] => {
  const out: { line: number; code: string }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,})(\S*)\s*$/.exec(lines[i]!);
    if (open === null) continue;
    const fence = open[2]!;
    let j = i + 1;
    while (j < lines.length && !new RegExp(`^\\s*${fence}\\s*$`).test(lines[j]!)) j++;
    if (open[3] === lang) out.push({ line: i + 2, code: lines.slice(i + 1, j).join('\n') });
    i = j;
  }
  return out;
};

const examples: Example[] = docs.flatMap((doc) =>
  fencedBlocks(readFileSync(join(docsDir, doc), 'utf8'), 'ts')
    .filter((b) => b.code.split('\n')[0]!.trim() === '// run')
    .map((b, index) => ({ doc, index, line: b.line, code: b.code })),
);

const written: string[] = [];
afterAll(() => {
  for (const f of written) rmSync(f, { force: true });
  try {
    if (readdirSync(runDir).length === 0) rmdirSync(runDir);
  } catch {
    // another run still uses it, or it is already gone
  }
});

describe('runnable examples in docs/*.md', () => {
  it('there are at least three', () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  for (const ex of examples) {
    it(`${ex.doc} example ${ex.index + 1} (line ${ex.line}) runs and its assertions hold`, async () => {
      mkdirSync(runDir, { recursive: true });
      const file = join(runDir, `${ex.doc.replace(/\.md$/, '')}-${ex.index + 1}-${process.pid}.ts`);
      writeFileSync(file, `${ex.code}\n`);
      written.push(file);
      await import(pathToFileURL(file).href);
    });
  }
});

/** Link targets outside code: `[text](target)` and `[text]: target`. */
const relativeLinks = (text: string): string[] => {
  const prose = text.replace(/^(\s*)(`{3,})[^\n]*\n[\s\S]*?^\s*\2\s*$/gm, '').replace(/`[^`\n]*`/g, '');
  const targets = [
    ...[...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
    ...[...prose.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]!),
  ];
  return targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
};

describe('relative links in docs/*.md and README.md', () => {
  const files = [...docs.map((d) => join(docsDir, d)), join(root, 'README.md')].filter(existsSync);
  for (const file of files) {
    it(`${file.slice(root.length + 1)}: every relative link points to an existing file`, () => {
      const missing = relativeLinks(readFileSync(file, 'utf8'))
        .map((t) => decodeURIComponent(t.replace(/#.*$/, '')))
        .filter((t) => t !== '' && !existsSync(resolve(dirname(file), t)));
      expect(missing).toEqual([]);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The torch.save → safetensors snippet of docs/crosscheck.md

const MARKER = '<!-- tested: torch-to-safetensors -->';

/** A stand-in for the few torch calls the snippet makes: load() returns numpy-backed "tensors". */
const FAKE_TORCH = `
import numpy as np
class _T:
    def __init__(self, a): self.a = a
    def detach(self): return self
    def cpu(self): return self
    def float(self): return _T(self.a.astype(np.float32))
    def numpy(self): return self.a
def load(path, map_location=None, weights_only=False):
    assert map_location == "cpu"
    z = np.load(path)
    return {k.replace("__", "."): _T(z[k]) for k in z.files}
`;

const python = process.env.TRM_PYTHON ?? 'python3';
const hasNumpy = spawnSync(python, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe('the checkpoint conversion snippet in docs/crosscheck.md', () => {
  const text = readFileSync(join(docsDir, 'crosscheck.md'), 'utf8');
  const at = text.indexOf(MARKER);
  const snippet = at < 0 ? undefined : fencedBlocks(text.slice(at), 'python')[0]?.code;

  it('is there, marked for this test', () => {
    expect(snippet).toBeDefined();
  });

  it.skipIf(!hasNumpy)(
    `writes a safetensors file trm-ts reads (${hasNumpy ? python : `skipped: no ${python} with numpy`})`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'trm-docs-'));
      try {
        writeFileSync(join(dir, 'torch.py'), FAKE_TORCH);
        writeFileSync(join(dir, 'convert.py'), snippet!);
        // A fake checkpoint: a float64 weight, a float32 bias and a float16 stand-in for the bf16 buffers.
        const make = spawnSync(
          python,
          [
            '-c',
            `import numpy as np; np.savez("${join(dir, 'step_1.npz')}", **{"_orig_mod__model__inner__q_head__weight": np.arange(6, dtype=np.float64).reshape(2, 3) / 4, "_orig_mod__model__inner__q_head__bias": np.array([-5, 0], dtype=np.float32), "_orig_mod__model__inner__H_init": np.array([0.5, -1.25, 2], dtype=np.float16)})`,
          ],
          { encoding: 'utf8' },
        );
        expect(make.stderr).toBe('');
        const out = join(dir, 'step_1.safetensors');
        const run = spawnSync(python, [join(dir, 'convert.py'), join(dir, 'step_1.npz'), out], {
          encoding: 'utf8',
          cwd: dir,
          env: { ...process.env, PYTHONPATH: dir },
        });
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
        const st = readSafetensors(out);
        if (E.isLeft(st)) throw new Error(JSON.stringify(st.left));
        const t = st.right.tensors;
        expect([...t.keys()].sort()).toEqual([
          '_orig_mod.model.inner.H_init',
          '_orig_mod.model.inner.q_head.bias',
          '_orig_mod.model.inner.q_head.weight',
        ]);
        expect(t.get('_orig_mod.model.inner.q_head.weight')!.shape).toEqual([2, 3]);
        expect(Array.from(t.get('_orig_mod.model.inner.q_head.weight')!.data)).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
        expect(Array.from(t.get('_orig_mod.model.inner.q_head.bias')!.data)).toEqual([-5, 0]);
        expect(Array.from(t.get('_orig_mod.model.inner.H_init')!.data)).toEqual([0.5, -1.25, 2]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
