/**
 * `trm plot LOG.jsonl [--out DIR] [--json]`: the pictures of any run from its log: loss, accuracy,
 * learning rate and halting steps, each as SVG and PNG. Every line of the log must be a JSON object
 * with a numeric `step`; a line that is not names the file and the line.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { trainingCharts, type TrainingLogRow } from '../viz/index.js';
import { EXIT_OK, UsageError } from './errors.js';
import { writePictures } from './pictures.js';

export interface PlotOptions {
  readonly out?: string;
  readonly json?: boolean;
}

/** The rows of a log.jsonl file, checked line by line. */
export const readTrainingLog = (file: string): E.Either<string, TrainingLogRow[]> => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return E.left(`${file}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? 'unreadable'})`}`);
  }
  const rows: TrainingLogRow[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      return E.left(`${file}: line ${i + 1}: not JSON`);
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v))
      return E.left(`${file}: line ${i + 1}: expected a JSON object`);
    const row = v as Record<string, unknown>;
    if (typeof row.step !== 'number' || !Number.isFinite(row.step))
      return E.left(`${file}: line ${i + 1}: step: expected a number, got ${JSON.stringify(row.step)}`);
    rows.push(row as unknown as TrainingLogRow);
  }
  if (rows.length === 0) return E.left(`${file}: no log rows`);
  return E.right(rows);
};

/** The run's four charts, by file name (without extension). */
export const runPictures = (rows: readonly TrainingLogRow[], title: string): [string, string][] => {
  const c = trainingCharts(rows, { title });
  return [
    ['loss', c.loss],
    ['accuracy', c.accuracy],
    ['lr', c.lr],
    ['halting', c.halting],
  ];
};

export const runPlotCommand = (file: string, o: PlotOptions): number => {
  const rows = readTrainingLog(file);
  if (E.isLeft(rows)) throw new UsageError(rows.left);
  const out = o.out ?? dirname(file);
  const last = rows.right[rows.right.length - 1]!;
  const written = writePictures(
    out,
    runPictures(rows.right, `${rows.right.length} logged steps, last step ${last.step}`),
  );
  if (E.isLeft(written)) throw new UsageError(written.left);
  process.stdout.write(
    o.json === true
      ? `${JSON.stringify({ log: file, rows: rows.right.length, files: written.right })}\n`
      : `wrote ${written.right.length} files to ${out}/: ${written.right.map((f) => f.slice(out.length + 1)).join(', ')}\n`,
  );
  return EXIT_OK;
};
