#!/usr/bin/env node
// `npm run bench:torch -- [--json] [--quick] [--check FILES...]`: runs bench/torch_step.py (our
// PyTorch TRM training step) with the first python that can import torch: $TRM_PYTHON,
// /usr/bin/python3 (Debian's python3-torch lives there), then python3 on PATH.
// Exit 2 with one line on how to install it when none can.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(root, 'bench', 'torch_step.py');
const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };

const candidates = [process.env.TRM_PYTHON, '/usr/bin/python3', 'python3'].filter(
  (c, i, all) => typeof c === 'string' && c !== '' && all.indexOf(c) === i,
);
const hasTorch = (py) =>
  spawnSync(py, ['-c', 'import torch, numpy'], { env, stdio: 'ignore', timeout: 120_000 }).status === 0;
const python = candidates.find(hasTorch);

if (python === undefined) {
  console.error(
    `bench:torch: no python with PyTorch and numpy found (tried ${candidates.join(', ')}); ` +
      'on Debian: sudo apt-get install python3-torch python3-numpy libopenblas0-pthread ' +
      '(or set TRM_PYTHON to a python that has torch)',
  );
  process.exit(2);
}

const r = spawnSync(python, [script, ...process.argv.slice(2)], { env, stdio: 'inherit' });
if (r.error !== undefined) {
  console.error(`bench:torch: could not run ${python}: ${r.error.message}`);
  process.exit(2);
}
process.exit(r.status ?? 1);
