#!/usr/bin/env node
// `npm run bench:torch -- [--json] [--quick] [--config NAME] [--check FILES...] [--torch-only]`: runs
// bench/torch_step.py (our PyTorch TRM training step) with the first python that can import torch:
// $TRM_PYTHON, /usr/bin/python3 (Debian's python3-torch lives there), then python3 on PATH; then
// times trm-ts's step (dist/bench/run.js, `wasm` and `wasm-1thread`) on the same configs and prints
// the ratios. JSON: {"train_step": [torch rows], "trm_ts": [our rows], "ratio": [{config, backend,
// ms_ratio, rss_ratio}]}. --check (golden traces) and --torch-only only run the python script.
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

const args = process.argv.slice(2);
// --check (the golden-trace replay) and --help only pass through.
if (args.includes('--check') || args.includes('--help') || args.includes('-h') || args.includes('--torch-only')) {
  const r = spawnSync(python, [script, ...args.filter((a) => a !== '--torch-only')], { env, stdio: 'inherit' });
  if (r.error !== undefined) {
    console.error(`bench:torch: could not run ${python}: ${r.error.message}`);
    process.exit(2);
  }
  process.exit(r.status ?? 1);
}

// Timing: PyTorch first (its own JSON), then trm-ts's step on the same configs, one process per
// row (bench/run.ts --train-step-child), and the ratio — all in this one run, on this machine.
const json = args.includes('--json');
const quick = args.includes('--quick');
const torchArgs = [...args.filter((a) => a !== '--json'), '--json'];
const t = spawnSync(python, [script, ...torchArgs], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (t.error !== undefined || t.status !== 0) {
  console.error(`bench:torch: ${python} ${script} failed (${t.error?.message ?? `exit ${t.status}`})`);
  process.exit(t.status === 2 ? 2 : 1);
}
const torch = JSON.parse(t.stdout.trim().split('\n').pop()).train_step;
const runJs = join(root, 'dist', 'bench', 'run.js');
const ours = [];
for (const backend of ['wasm', 'wasm-1thread']) {
  for (const row of torch) {
    const r = spawnSync(
      process.execPath,
      [runJs, '--train-step-child', backend, row.config, ...(quick ? ['--quick'] : [])],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    if (r.status !== 0) {
      console.error(`bench:torch: trm-ts ${backend} ${row.config} failed (build first: npm run build)`);
      process.exit(1);
    }
    ours.push(JSON.parse(r.stdout.trim().split('\n').pop()));
  }
}
const ratio = ours.map((o) => {
  const p = torch.find((x) => x.config === o.config);
  return {
    config: o.config,
    backend: o.backend,
    ms_ratio: Number((o.ms / p.ms).toFixed(3)),
    rss_ratio: Number((o.peak_rss_mb / p.peak_rss_mb).toFixed(3)),
  };
});
if (json) {
  process.stdout.write(`${JSON.stringify({ train_step: torch, trm_ts: ours, ratio })}\n`);
} else {
  process.stdout.write(
    'train step: PyTorch (' + torch.map((x) => x.blas).join(', ') + ') against trm-ts, same configs, same run\n',
  );
  process.stdout.write(
    `${'config'.padEnd(14)}${'torch ms'.padStart(10)}${'torch MiB'.padStart(11)}  ${'trm-ts backend'.padEnd(14)}${'ms'.padStart(9)}${'MiB'.padStart(8)}${'time ×'.padStart(9)}${'memory ×'.padStart(10)}\n`,
  );
  ours.forEach((o, i) => {
    const p = torch.find((x) => x.config === o.config);
    const q = ratio[i];
    process.stdout.write(
      `${o.config.padEnd(14)}${p.ms.toFixed(1).padStart(10)}${p.peak_rss_mb.toFixed(0).padStart(11)}  ${o.backend.padEnd(14)}${o.ms.toFixed(1).padStart(9)}${o.peak_rss_mb.toFixed(0).padStart(8)}${q.ms_ratio.toFixed(2).padStart(9)}${q.rss_ratio.toFixed(2).padStart(10)}\n`,
    );
  });
}
