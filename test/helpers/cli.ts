/**
 * The compiled `trm` command as users run it, in a child process.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');

export const trm = (args: readonly string[], timeout = 300_000) =>
  spawnSync(process.execPath, [join(root, 'bin', 'trm.js'), ...args], { cwd: root, encoding: 'utf8', timeout });

/** The CLI runs from dist/ (built by `npm ci` through `prepare`); rebuild so a test sees this tree. */
export const buildCli = (): void => {
  execFileSync(
    process.execPath,
    [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    {
      cwd: root,
    },
  );
};
