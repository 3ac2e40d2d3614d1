/**
 * Progress for long jobs: a one-line bar redrawn in place on a terminal, plain lines otherwise
 * (CI logs, pipes), never more often than needed.
 */
import type { Progress, ProgressFields } from '../train/run.js';

export type { ProgressFields } from '../train/run.js';

export interface ProgressSink {
  readonly isTTY: boolean;
  write(s: string): void;
}

export const formatDuration = (s: number): string => {
  if (!Number.isFinite(s) || s < 0) return '?';
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
};

export const progressLine = (f: ProgressFields, width = 24): string => {
  const frac = f.total > 0 ? Math.min(1, f.step / f.total) : 0;
  const filled = Math.round(frac * width);
  const bar = `${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}`;
  const eta = f.step > 0 ? (f.elapsedS / f.step) * (f.total - f.step) : NaN;
  const parts = [`[${bar}] ${f.unit ?? 'step'} ${f.step}/${f.total}`];
  if (f.loss !== undefined) parts.push(`loss ${f.loss.toFixed(4)}`);
  if (f.accuracy !== undefined) parts.push(`acc ${f.accuracy.toFixed(3)}`);
  if (f.exact !== undefined) parts.push(`exact ${f.exact.toFixed(3)}`);
  parts.push(`${formatDuration(f.elapsedS)} elapsed, ETA ${formatDuration(eta)}`);
  return parts.join('  ');
};

/** Returns `update` (call every step) and `done`. Plain mode prints every `every` steps. */
export const progressBar = (sink: ProgressSink, every = 25): Progress => {
  let lastDraw = 0;
  let drew = false;
  return {
    update: (f) => {
      if (sink.isTTY) {
        const now = Date.now();
        if (now - lastDraw < 100 && f.step < f.total) return;
        lastDraw = now;
        sink.write(`\r${progressLine(f)}\x1b[K`);
        drew = true;
      } else if (f.step === 1 || f.step % every === 0 || f.step === f.total) {
        sink.write(`${progressLine(f)}\n`);
      }
    },
    done: () => {
      if (sink.isTTY && drew) sink.write('\n');
    },
  };
};

/** A bar on stderr when it is a terminal; undefined (quiet) when it is a pipe or a log. */
export const terminalProgress = (): Progress | undefined =>
  process.stderr.isTTY === true ? progressBar({ isTTY: true, write: (s) => process.stderr.write(s) }) : undefined;

/** A `(done, total)` callback that reports to `progress` in `unit`s, timed from now. */
export const counter = (progress: Progress, unit: string): ((done: number, total: number) => void) => {
  const t0 = performance.now();
  return (done, total) => progress.update({ unit, step: done, total, elapsedS: (performance.now() - t0) / 1000 });
};
