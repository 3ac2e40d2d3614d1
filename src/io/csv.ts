/**
 * The official puzzle CSV (`source,q,a,rating`, one header row; §1, §2), as shipped for
 * Sudoku-Extreme and Maze-Hard. Quoted fields (RFC 4180) are accepted; every row must have the four
 * columns. Errors name the file, the 1-based line and the column.
 */
import * as E from 'fp-ts/lib/Either.js';
import { type BoundaryError, fail } from './errors.js';

export interface CsvRow {
  /** 1-based line number in the file (the header is line 1). */
  readonly line: number;
  readonly source: string;
  readonly q: string;
  readonly a: string;
  readonly rating: number;
}

const splitRecord = (file: string, line: number, text: string): E.Either<BoundaryError, string[]> => {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      out.push(field);
      field = '';
    } else field += ch;
  }
  if (quoted) return fail(file, `line ${line}`, 'unterminated quoted field');
  out.push(field);
  return E.right(out);
};

export const COLUMNS = ['source', 'q', 'a', 'rating'] as const;

/** Parses the text of an official CSV. */
export const parsePuzzleCsv = (file: string, text: string): E.Either<BoundaryError, CsvRow[]> => {
  const lines = text.split(/\r?\n/);
  const header = splitRecord(file, 1, lines[0] ?? '');
  if (E.isLeft(header)) return header;
  const names = header.right.map((s) => s.trim());
  if (names.length !== 4 || COLUMNS.some((c, i) => names[i] !== c)) {
    return fail(file, 'line 1 (header)', `expected columns ${COLUMNS.join(',')}, got ${names.join(',')}`);
  }
  const rows: CsvRow[] = [];
  for (const [i, raw] of lines.slice(1).entries()) {
    const line = i + 2;
    if (raw.trim() === '') continue;
    const split = splitRecord(file, line, raw);
    if (E.isLeft(split)) return split;
    const f = split.right;
    if (f.length !== 4) return fail(file, `line ${line}`, `expected 4 columns (${COLUMNS.join(',')}), got ${f.length}`);
    const rating = Number(f[3]);
    if (f[3]!.trim() === '' || !Number.isFinite(rating)) {
      return fail(file, `line ${line} column rating`, `not a number: ${JSON.stringify(f[3])}`);
    }
    rows.push({ line, source: f[0]!, q: f[1]!, a: f[2]!, rating });
  }
  return E.right(rows);
};
