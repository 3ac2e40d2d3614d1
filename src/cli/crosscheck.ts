/** `trm crosscheck TRACE... [--mode teacher-forced|free-running] [--json] [--backend NAME]` */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend/backend.js';
import { type FileReport, type ReplayMode, formatRow, replayTrace } from '../crosscheck/replay.js';
import { readTrace } from '../crosscheck/trace.js';
import { EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK } from './errors.js';
import { formatBoundaryError } from '../io/errors.js';

export interface CrosscheckOptions {
  readonly mode: ReplayMode;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly backend: Backend;
}

const jsonRow = (r: FileReport['rows'][number]) => ({
  step: r.step,
  tensor: r.tensor,
  shape: r.shape,
  max_abs_err: Number.isFinite(r.maxAbsErr) ? r.maxAbsErr : String(r.maxAbsErr),
  rel_err: Number.isFinite(r.relErr) ? r.relErr : String(r.relErr),
  ok: r.ok,
});

/** Summarises rows per tensor kind and step: one line each, as the issue asks. */
const printReport = (rep: FileReport, out: (s: string) => void, verbose: boolean): void => {
  out(`${rep.file}  (trace mode ${rep.traceMode}, replay ${rep.mode})`);
  const rows = verbose ? rep.rows : rep.rows.filter((r) => !r.tensor.startsWith('grad/'));
  for (const r of rows) out(`  ${formatRow(r)}`);
  if (!verbose) {
    // Gradients: one line per step with the worst parameter.
    const steps = [...new Set(rep.rows.filter((r) => r.tensor.startsWith('grad/')).map((r) => r.step))];
    for (const s of steps) {
      const gs = rep.rows.filter((r) => r.step === s && r.tensor.startsWith('grad/'));
      const worst = gs.reduce((m, r) => (!(r.relErr <= m.relErr) ? r : m));
      const bad = gs.filter((r) => !r.ok).length;
      out(
        `  ${bad === 0 ? 'ok  ' : 'FAIL'} step ${String(s).padStart(2)}  grad/* (${gs.length} tensors, ${bad} failing) worst ${worst.tensor} rel ${worst.relErr.toExponential(2)}`,
      );
    }
  }
  if (rep.maxRelErr)
    out(
      `  largest relative error: ${rep.maxRelErr.relErr.toExponential(2)} (${rep.maxRelErr.tensor}, step ${rep.maxRelErr.step})`,
    );
  const d = rep.firstDivergence;
  out(
    d === null
      ? '  OK: every recorded tensor within tolerance'
      : `  FIRST DIVERGENCE: step ${d.step}, ${d.tensor} (max abs err ${d.maxAbsErr.toExponential(3)}, rel ${d.relErr.toExponential(3)}, at flat index ${d.worstIndex})`,
  );
};

export const runCrosscheck = (files: readonly string[], opts: CrosscheckOptions): number => {
  const reports: FileReport[] = [];
  for (const f of files) {
    const t = readTrace(f);
    if (E.isLeft(t)) {
      process.stderr.write(`trm crosscheck: ${formatBoundaryError(t.left)}\n`);
      return EXIT_BAD_INPUT;
    }
    const rep = replayTrace(t.right, { mode: opts.mode, backend: opts.backend });
    reports.push(rep);
    if (!opts.json) printReport(rep, (s) => process.stdout.write(`${s}\n`), opts.verbose);
  }
  const ok = reports.every((r) => r.ok);
  if (opts.json) {
    const doc = {
      ok,
      mode: opts.mode,
      backend: opts.backend.name,
      files: reports.map((r) => ({
        file: r.file,
        ok: r.ok,
        trace_mode: r.traceMode,
        first_divergence: r.firstDivergence === null ? null : jsonRow(r.firstDivergence),
        max_rel_err:
          r.maxRelErr === null
            ? null
            : { tensor: r.maxRelErr.tensor, step: r.maxRelErr.step, rel_err: r.maxRelErr.relErr },
        rows: r.rows.map(jsonRow),
      })),
    };
    process.stdout.write(`${JSON.stringify(doc)}\n`);
  } else {
    process.stdout.write(
      ok
        ? `crosscheck: ${reports.length} file(s) OK\n`
        : `crosscheck: MISMATCH in ${reports.filter((r) => !r.ok).length} of ${reports.length} file(s)\n`,
    );
  }
  return ok ? EXIT_OK : EXIT_MISMATCH;
};
