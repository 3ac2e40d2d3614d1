/**
 * The Pythons the tests that run Python tools can use: TRM_PYTHON, python3 or /usr/bin/python3,
 * the first that has the modules a test needs; the official checkout (TRM_OFFICIAL_REPO) and a
 * checkout of olivkoch/nano-trm (TRM_NANO_REPO).
 * A test that needs what is missing is skipped, with the reason in its name.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A scratch folder for this test file's outputs. */
export const scratch = mkdtempSync(join(tmpdir(), 'trm-py-'));

/** Never leave __pycache__ in tools/. */
export const pyEnv = { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONPYCACHEPREFIX: join(scratch, 'pycache') };

const runs = (cmd: string, args: readonly string[]): boolean =>
  spawnSync(cmd, args, { env: pyEnv, encoding: 'utf8', timeout: 60_000 }).status === 0;

const candidates = [process.env['TRM_PYTHON'], 'python3', '/usr/bin/python3'].filter(
  (c): c is string => c !== undefined && c !== '',
);

export const python = candidates.find((c) => runs(c, ['--version']));
const pythonWith = (mods: string): string | undefined =>
  python === undefined ? undefined : candidates.find((c) => runs(c, ['-c', `import ${mods}`]));
export const numpyPython = pythonWith('numpy');
export const torchPython = pythonWith('numpy, torch');
export const officialRepo = process.env['TRM_OFFICIAL_REPO'];

/** '' when the official code can run here, else why not (for a skipped test's name). */
export const officialSkip =
  officialRepo === undefined
    ? ' (skipped: set TRM_OFFICIAL_REPO to a TinyRecursiveModels checkout)'
    : torchPython === undefined
      ? ' (skipped: no python with numpy and torch; set TRM_PYTHON)'
      : '';

export const nanoRepo = process.env['TRM_NANO_REPO'];

/** '' when nano-trm's code can run here, else why not (for a skipped test's name). */
export const nanoSkip =
  nanoRepo === undefined
    ? ' (skipped: set TRM_NANO_REPO to an olivkoch/nano-trm checkout)'
    : torchPython === undefined
      ? ' (skipped: no python with numpy and torch; set TRM_PYTHON)'
      : '';
