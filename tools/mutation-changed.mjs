#!/usr/bin/env node
/**
 * Mutation testing of what changed: the lines of the mutated source files (stryker.config.json's
 * `mutate` list) that differ between BASE and the working tree are handed to Stryker as line
 * ranges, so a run costs what the change costs. CI runs it for the last commit.
 *
 *   node tools/mutation-changed.mjs [BASE]          BASE defaults to HEAD~1
 *   node tools/mutation-changed.mjs --min-score 80  fail (exit 1) below this score on the changed lines
 *   node tools/mutation-changed.mjs --list          print the changed ranges and stop
 *
 * Exit codes: 0 nothing to mutate or the score is met, 1 below --min-score, 2 bad usage or Stryker failed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
let minScore = 0;
let base = 'HEAD~1';
let listOnly = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--list') listOnly = true;
  else if (args[i] === '--min-score') {
    minScore = Number(args[++i]);
    if (!(minScore >= 0 && minScore <= 100)) {
      process.stderr.write('mutation-changed: --min-score takes a number in [0, 100]\n');
      process.exit(2);
    }
  } else base = args[i];
}

const git = (...a) => execFileSync('git', a, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
try {
  git('rev-parse', '--verify', `${base}^{commit}`);
} catch {
  process.stdout.write(`mutation-changed: no commit ${base} to compare with; nothing to mutate\n`);
  process.exit(0);
}

// The mutate globs of the config, as plain prefixes and files (they are `dir/**/*.ts` or files).
const config = JSON.parse(readFileSync(join(root, 'stryker.config.json'), 'utf8'));
const targets = config.mutate.map((g) => g.replace(/\*\*\/\*\.ts$/, ''));
const isTarget = (f) => f.endsWith('.ts') && targets.some((t) => (t.endsWith('/') ? f.startsWith(t) : f === t));

// Changed line ranges per file: the `+` side of each hunk of a zero-context diff.
const ranges = [];
let file = null;
for (const line of git('diff', '-U0', '--no-color', base, '--', 'src').split('\n')) {
  if (line.startsWith('+++ ')) file = line.startsWith('+++ b/') ? line.slice(6) : null;
  const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
  if (m && file !== null && isTarget(file) && existsSync(join(root, file))) {
    const start = Number(m[1]);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (count > 0) ranges.push(`${file}:${start}-${start + count - 1}`);
  }
}
if (ranges.length === 0) {
  process.stdout.write(`mutation-changed: no mutated source line changed since ${base}\n`);
  process.exit(0);
}
process.stdout.write(`mutation-changed: ${ranges.length} changed range(s) since ${base}\n`);
if (listOnly) {
  for (const r of ranges) process.stdout.write(`  ${r}\n`);
  process.exit(0);
}

const r = spawnSync(
  process.execPath,
  [
    join(root, 'node_modules', '@stryker-mutator', 'core', 'bin', 'stryker.js'),
    'run',
    '--mutate',
    ranges.join(','),
    '--reporters',
    'json,clear-text,progress-append-only',
  ],
  { cwd: root, stdio: 'inherit' },
);
if (r.status !== 0) {
  process.stderr.write(`mutation-changed: Stryker exited with ${r.status}\n`);
  process.exit(2);
}

// Score: killed + timeout over all valid mutants (no coverage counts as survived), as Stryker does.
const json = JSON.parse(readFileSync(join(root, 'reports', 'mutation', 'mutation.json'), 'utf8'));
let detected = 0;
let valid = 0;
const survivors = [];
for (const [path, f] of Object.entries(json.files)) {
  for (const m of f.mutants) {
    if (m.status === 'CompileError' || m.status === 'RuntimeError' || m.status === 'Ignored') continue;
    valid++;
    if (m.status === 'Killed' || m.status === 'Timeout') detected++;
    else survivors.push(`${path}:${m.location.start.line} ${m.mutatorName} (${m.status})`);
  }
}
const score = valid === 0 ? 100 : (100 * detected) / valid;
process.stdout.write(`mutation-changed: score ${score.toFixed(1)} % on the changed lines (${detected} of ${valid})\n`);
for (const s of survivors) process.stdout.write(`  survived: ${s}\n`);
process.exit(score + 1e-9 < minScore ? 1 : 0);
