/** `trm crosscheck TRACE... [--mode teacher-forced|free-running] [--json] [--backend NAME]` */
import * as E from 'fp-ts/lib/Either.js';
import type { Backend } from '../backend/backend.js';
import { pipe } from 'fp-ts/lib/function.js';
import { type LayoutMap, decodeLayoutMap } from '../crosscheck/layout-map.js';
import {
  type FileReport,
  type ReplayMode,
  type Row,
  type Tolerance,
  formatPlace,
  formatRow,
  replayTrace,
} from '../crosscheck/replay.js';
import { readTrace } from '../crosscheck/trace-file.js';
import { readDocArg } from './config-file.js';
import { EXIT_BAD_INPUT, EXIT_MISMATCH, EXIT_OK } from './errors.js';
import { formatBoundaryError } from '../io/errors.js';

export interface CrosscheckOptions {
  readonly mode: ReplayMode;
  /** A layout map file (YAML or JSON) for traces written in a port's own names and layouts. */
  readonly layout?: string;
  readonly tolerance?: Tolerance;
  readonly json: boolean;
  readonly verbose: boolean;
  readonly backend: Backend;
}

const jsonRow = (r: Row) => ({
  step: r.step,
  cycle: r.cycle,
  update: r.update,
  tensor: r.tensor,
  shape: r.shape,
  max_abs_err: Number.isFinite(r.maxAbsErr) ? r.maxAbsErr : String(r.maxAbsErr),
  rel_err: Number.isFinite(r.relErr) ? r.relErr : String(r.relErr),
  ok: r.ok,
});

/** The groups a step's rows are summarised in without --verbose (null: a line of its own). */
const groupOf = (r: Row): string | null => {
  if (r.tensor === 'x' || r.cycle !== null) return 'recursion';
  if (r.tensor.startsWith('grad/')) return 'grad/*';
  if (/^(params|exp_avg|exp_avg_sq|ema)\//.test(r.tensor)) return 'optimizer step';
  if (r.tensor.startsWith('metrics/') || r.tensor.startsWith('data/')) return 'metrics, data';
  return null;
};

/** One line per tensor kind and step; the recursion, gradients and optimizer writes one line per step each. */
const printReport = (rep: FileReport, out: (s: string) => void, verbose: boolean): void => {
  out(`${rep.file}  (trace mode ${rep.traceMode}, replay ${rep.mode})`);
  if (verbose) for (const r of rep.rows) out(`  ${formatRow(r)}`);
  else {
    let i = 0;
    while (i < rep.rows.length) {
      const r = rep.rows[i]!;
      const g = groupOf(r);
      if (g === null) {
        out(`  ${formatRow(r)}`);
        i++;
        continue;
      }
      let j = i;
      while (j < rep.rows.length && rep.rows[j]!.step === r.step && groupOf(rep.rows[j]!) === g) j++;
      const rows = rep.rows.slice(i, j);
      const worst = rows.reduce((m, x) => (!(x.relErr <= m.relErr) ? x : m));
      const bad = rows.filter((x) => !x.ok).length;
      out(
        `  ${bad === 0 ? 'ok  ' : 'FAIL'} step ${r.step}  ${g} (${rows.length} tensors, ${bad} failing) worst ${formatPlace(worst)} rel ${worst.relErr.toExponential(2)}`,
      );
      i = j;
    }
  }
  if (rep.notComparable.length > 0)
    out(`  not comparable (the layout map says the recording lacks them): ${rep.notComparable.join(', ')}`);
  if (rep.maxRelErr)
    out(
      `  largest relative error: ${rep.maxRelErr.relErr.toExponential(2)} (${rep.maxRelErr.tensor}, step ${rep.maxRelErr.step})`,
    );
  const d = rep.firstDivergence;
  out(
    d === null
      ? '  OK: every recorded tensor within tolerance'
      : `  FIRST DIVERGENCE: ${formatPlace(d)} (max abs err ${d.maxAbsErr.toExponential(3)}, rel ${d.relErr.toExponential(3)}, at flat index ${d.worstIndex})`,
  );
};

export const runCrosscheck = (files: readonly string[], opts: CrosscheckOptions): number => {
  let layout: LayoutMap | undefined;
  if (opts.layout !== undefined) {
    const m = pipe(
      readDocArg(opts.layout, '--layout'),
      E.chain(({ doc, source }) => pipe(decodeLayoutMap(doc, source), E.mapLeft(formatBoundaryError))),
    );
    if (E.isLeft(m)) {
      process.stderr.write(`trm crosscheck: ${m.left}\n`);
      return EXIT_BAD_INPUT;
    }
    layout = m.right;
  }
  const reports: FileReport[] = [];
  for (const f of files) {
    const t = readTrace(f, layout);
    if (E.isLeft(t)) {
      process.stderr.write(`trm crosscheck: ${formatBoundaryError(t.left)}\n`);
      return EXIT_BAD_INPUT;
    }
    const rep = replayTrace(t.right, {
      mode: opts.mode,
      backend: opts.backend,
      ...(opts.tolerance ? { tolerance: opts.tolerance } : {}),
    });
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
        not_comparable: r.notComparable,
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
