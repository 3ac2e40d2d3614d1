/**
 * bench/torch_step.py: our PyTorch TRM training step, the baseline `npm run bench:torch` times.
 *
 * - always (when some python3 exists): the script compiles (`python3 -m py_compile`, cache
 *   redirected to a temp dir so nothing lands in bench/);
 * - with a python that has torch + numpy (Debian: apt-get install python3-torch python3-numpy):
 *   `--check` replays every golden trace in test/fixtures/official/ teacher-forced and must report
 *   OK for each (logits, q logits, carry, losses and gradients within 1e-4 of max-abs).
 * CI has no torch: that test is skipped, with the reason in its name.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const script = join(root, 'bench', 'torch_step.py');
const goldenDir = join(root, 'test', 'fixtures', 'official');
const scratch = mkdtempSync(join(tmpdir(), 'trm-torch-step-'));
const pyEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPYCACHEPREFIX: join(scratch, 'pycache') };

const runs = (cmd: string, args: readonly string[]): boolean =>
  spawnSync(cmd, args, { env: pyEnv, stdio: 'ignore', timeout: 120_000 }).status === 0;

const candidates = [process.env['TRM_PYTHON'], '/usr/bin/python3', 'python3'].filter(
  (c): c is string => c !== undefined && c !== '',
);
const python = candidates.find((c) => runs(c, ['--version']));
const torchPython = python === undefined ? undefined : candidates.find((c) => runs(c, ['-c', 'import torch, numpy']));

const goldens = readdirSync(goldenDir)
  .filter((f) => f.endsWith('.safetensors'))
  .sort()
  .map((f) => join(goldenDir, f));

describe('bench/torch_step.py', () => {
  it.skipIf(python === undefined)(
    python === undefined ? 'compiles (skipped: python3 not found)' : 'compiles (py_compile)',
    () => {
      const r = spawnSync(python ?? 'python3', ['-m', 'py_compile', script], { env: pyEnv, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    },
  );

  it.skipIf(torchPython === undefined)(
    torchPython === undefined
      ? '--check matches every golden trace (skipped: no python with torch + numpy; Debian: apt-get install python3-torch python3-numpy)'
      : '--check matches every golden trace',
    () => {
      expect(goldens.length).toBeGreaterThan(0);
      const r = spawnSync(torchPython ?? 'python3', [script, '--check', ...goldens], {
        env: pyEnv,
        encoding: 'utf8',
        timeout: 280_000,
      });
      const lines = r.stdout.split('\n').filter((l) => l.trim() !== '');
      for (const g of goldens) {
        const name = g.slice(goldenDir.length + 1);
        const line = lines.find((l) => l.startsWith(name));
        expect(line, `${name} reported`).toBeDefined();
        expect(line, r.stdout + r.stderr).toMatch(/ OK \(/);
      }
      expect(r.status, r.stdout + r.stderr).toBe(0);
    },
    300_000,
  );
});
