/**
 * Sudoku boards: an SVG "refinement strip" (one board per supervision step) and a plain-text
 * renderer for terminals.
 *
 * Tokens follow the dataset encoding: 0 = pad, 1 = blank, d + 1 = digit d.
 */
import { el, num, svgDoc, text, textWidth, title as titleEl } from './svg.js';

export type BoxShape = readonly [rows: number, cols: number];

export interface RefinementStep {
  /** Predicted tokens (d + 1 = digit d), length size². */
  readonly preds: readonly number[];
  /** Sigmoid of the halt logit after this step. */
  readonly qHaltProb: number;
}

export interface RefinementBoardOptions {
  /** 4, 6 or 9 (any n with box rows × cols = n works). */
  readonly size: number;
  /** Box shape [rows, cols]; default 4 → [2,2], 6 → [2,3], 9 → [3,3]. */
  readonly box?: BoxShape;
  /** Puzzle tokens (1 = blank, d + 1 = given digit d), length size². */
  readonly puzzle: readonly number[];
  readonly steps: readonly RefinementStep[];
  /** Solution tokens; when given, wrong predictions are drawn in red and counted. */
  readonly solution?: readonly number[];
  /** Optional heading above the strip. */
  readonly title?: string;
  /** Boards per row before wrapping; default min(boards, 8). */
  readonly columns?: number;
  /** Draw the bare puzzle as the first board; default true. */
  readonly showPuzzle?: boolean;
}

/** Default box shape for the usual Sudoku sizes. */
export const defaultBox = (size: number): BoxShape => {
  if (size === 4) return [2, 2];
  if (size === 6) return [2, 3];
  if (size === 9) return [3, 3];
  const r = Math.floor(Math.sqrt(size));
  for (let a = r; a >= 1; a--) if (size % a === 0) return [a, size / a];
  return [1, size];
};

const checkShape = (size: number, box: BoxShape): void => {
  if (!Number.isInteger(size) || size < 1 || size > 36)
    throw new RangeError(`board size must be an integer in 1..36, got ${size}`);
  if (box[0] * box[1] !== size) throw new RangeError(`box ${box[0]}×${box[1]} does not tile a ${size}×${size} board`);
};

/** Token → digit string ('' for blank / pad / missing). */
const digitOf = (t: number | undefined): string =>
  t !== undefined && Number.isInteger(t) && t >= 2 ? String(t - 1) : '';

const isGiven = (t: number | undefined): boolean => t !== undefined && t >= 2;

const COLORS = {
  given: '#111111',
  givenBg: '#eeeeee',
  pred: '#1f5fbf',
  wrong: '#d62728',
  changedBg: '#ffe866',
  thin: '#b0b0b0',
  thick: '#222222',
  caption: '#222222',
  sub: '#666666',
} as const;

const cellPx = (size: number): number => (size <= 4 ? 44 : size <= 6 ? 36 : size <= 9 ? 27 : 20);

interface BoardCell {
  readonly digit: string;
  readonly given: boolean;
  readonly changed: boolean;
  readonly wrong: boolean;
}

const drawBoard = (x0: number, y0: number, size: number, box: BoxShape, cells: readonly BoardCell[]): string[] => {
  const c = cellPx(size);
  const out: string[] = [];
  const fs = Math.round(c * 0.62);
  // Backgrounds.
  cells.forEach((cell, i) => {
    const bg = cell.changed ? COLORS.changedBg : cell.given ? COLORS.givenBg : undefined;
    if (bg === undefined) return;
    const r = Math.floor(i / size);
    const k = i % size;
    out.push(el('rect', { x: x0 + k * c, y: y0 + r * c, width: c, height: c, fill: bg }));
  });
  // Thin grid, then thick box lines on top.
  const w = size * c;
  const thin: string[] = [];
  const thick: string[] = [];
  for (let k = 1; k < size; k++) {
    const v = k % box[1] === 0 ? thick : thin;
    v.push(`M${num(x0 + k * c)},${num(y0)}v${num(w)}`);
    const h = k % box[0] === 0 ? thick : thin;
    h.push(`M${num(x0)},${num(y0 + k * c)}h${num(w)}`);
  }
  if (thin.length > 0) out.push(el('path', { d: thin.join(''), stroke: COLORS.thin, 'stroke-width': 1, fill: 'none' }));
  if (thick.length > 0)
    out.push(el('path', { d: thick.join(''), stroke: COLORS.thick, 'stroke-width': 2.5, fill: 'none' }));
  out.push(el('rect', { x: x0, y: y0, width: w, height: w, fill: 'none', stroke: COLORS.thick, 'stroke-width': 2.5 }));
  // Digits, grouped by style so shared attributes are written once.
  const styles: { key: string; attrs: Record<string, string | number>; items: string[] }[] = [
    { key: 'given', attrs: { 'font-weight': 'bold', fill: COLORS.given }, items: [] },
    { key: 'pred', attrs: { fill: COLORS.pred }, items: [] },
    { key: 'wrong', attrs: { fill: COLORS.wrong }, items: [] },
  ];
  const [givenG, predG, wrongG] = styles as [(typeof styles)[number], (typeof styles)[number], (typeof styles)[number]];
  cells.forEach((cell, i) => {
    const r = Math.floor(i / size);
    const k = i % size;
    const at = { x: x0 + (k + 0.5) * c, y: y0 + (r + 0.5) * c + fs * 0.36 };
    if (cell.given) givenG.items.push(text(cell.digit, at));
    else if (cell.digit !== '') (cell.wrong ? wrongG : predG).items.push(text(cell.digit, at));
    else if (cell.wrong) wrongG.items.push(text('?', at));
  });
  for (const st of styles) {
    if (st.items.length > 0) out.push(el('g', { 'text-anchor': 'middle', 'font-size': fs, ...st.attrs }, st.items));
  }
  return out;
};

const fmtProb = (p: number): string => (Number.isFinite(p) ? num(p, 2) : 'n/a');

/**
 * A strip of Sudoku boards, one per supervision step (optionally preceded by the bare puzzle):
 * givens black bold on grey, predictions blue, cells changed since the previous step on yellow,
 * wrong cells (when `solution` is given) red, captioned "step s · P(halt)=p".
 * Step 1 has no previous answer, so nothing is highlighted as changed there.
 */
export const refinementBoard = (opts: RefinementBoardOptions): string => {
  const { size, puzzle, steps, solution } = opts;
  const box = opts.box ?? defaultBox(size);
  checkShape(size, box);
  const n = size * size;
  const showPuzzle = opts.showPuzzle ?? true;
  const total = steps.length + (showPuzzle ? 1 : 0);
  const columns = Math.max(1, Math.min(total, Math.floor(opts.columns ?? 8)));
  const c = cellPx(size);
  const bw = size * c;
  const gap = 26;
  const margin = 16;
  const captionH = 40;
  const titleH = opts.title !== undefined && opts.title !== '' ? 32 : 0;
  const rows = Math.max(1, Math.ceil(total / columns));
  const legendH = 30;

  const boards: { label: string; sub: string; cells: BoardCell[]; tip: string }[] = [];
  if (showPuzzle) {
    const cells: BoardCell[] = [];
    let givens = 0;
    for (let i = 0; i < n; i++) {
      const g = isGiven(puzzle[i]);
      if (g) givens++;
      cells.push({ digit: digitOf(puzzle[i]), given: g, changed: false, wrong: false });
    }
    boards.push({ label: 'puzzle', sub: `${givens} givens`, cells, tip: 'puzzle' });
  }
  steps.forEach((st, s) => {
    const prev = s > 0 ? steps[s - 1]?.preds : undefined;
    const cells: BoardCell[] = [];
    let changed = 0;
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const g = isGiven(puzzle[i]);
      const p = st.preds[i];
      const ch = !g && prev !== undefined && prev[i] !== p;
      const wr = !g && solution !== undefined && p !== solution[i];
      if (ch) changed++;
      if (wr) wrong++;
      cells.push({ digit: g ? digitOf(puzzle[i]) : digitOf(p), given: g, changed: ch, wrong: wr });
    }
    const parts: string[] = [];
    if (s > 0) parts.push(`${changed} changed`);
    if (solution !== undefined) parts.push(wrong === 0 ? 'all correct' : `${wrong} wrong`);
    boards.push({
      label: `step ${s + 1} · P(halt)=${fmtProb(st.qHaltProb)}`,
      sub: parts.join(' · '),
      cells,
      tip: `supervision step ${s + 1}`,
    });
  });

  // Legend entries (only those that can occur).
  const legend: { swatch: 'given' | 'pred' | 'changed' | 'wrong'; label: string }[] = [
    { swatch: 'given', label: 'given' },
    { swatch: 'pred', label: 'predicted' },
    ...(steps.length > 1 ? [{ swatch: 'changed' as const, label: 'changed since previous step' }] : []),
    ...(solution !== undefined ? [{ swatch: 'wrong' as const, label: 'wrong' }] : []),
  ];
  const legendW = legend.reduce((a, l) => a + 26 + textWidth(l.label, 12) + 16, 0);

  const gridW = columns * bw + (columns - 1) * gap;
  const width = Math.ceil(
    margin * 2 + Math.max(gridW, legendW, opts.title !== undefined ? textWidth(opts.title, 16) : 0),
  );
  const height = Math.ceil(margin + titleH + rows * (bw + captionH) + (rows - 1) * 10 + legendH + margin / 2);
  const out: string[] = [];
  if (opts.title !== undefined && opts.title !== '') {
    out.push(titleEl(opts.title));
    out.push(
      text(opts.title, { x: margin, y: margin + 16, 'font-size': 16, 'font-weight': 'bold', fill: COLORS.caption }),
    );
  }
  boards.forEach((b, j) => {
    const r = Math.floor(j / columns);
    const k = j % columns;
    const x0 = margin + k * (bw + gap);
    const y0 = margin + titleH + r * (bw + captionH + 10);
    const labelSize = textWidth(b.label, 13) > bw + gap - 4 ? 11 : 13;
    out.push(
      el('g', {}, [
        titleEl(b.tip),
        ...drawBoard(x0, y0, size, box, b.cells),
        text(b.label, {
          x: x0 + bw / 2,
          y: y0 + bw + 17,
          'text-anchor': 'middle',
          'font-size': labelSize,
          fill: COLORS.caption,
        }),
        ...(b.sub !== ''
          ? [
              text(b.sub, {
                x: x0 + bw / 2,
                y: y0 + bw + 32,
                'text-anchor': 'middle',
                'font-size': 11,
                fill: COLORS.sub,
              }),
            ]
          : []),
      ]),
    );
  });
  // Legend.
  let lx = margin;
  const ly = height - margin / 2 - 10;
  for (const l of legend) {
    const sw = 16;
    const sy = ly - 12;
    if (l.swatch === 'changed') {
      out.push(el('rect', { x: lx, y: sy, width: sw, height: sw, fill: COLORS.changedBg, stroke: COLORS.thin }));
    } else {
      const isG = l.swatch === 'given';
      out.push(
        el('rect', {
          x: lx,
          y: sy,
          width: sw,
          height: sw,
          fill: isG ? COLORS.givenBg : '#ffffff',
          stroke: COLORS.thin,
        }),
      );
      out.push(
        text('5', {
          x: lx + sw / 2,
          y: sy + 12.5,
          'text-anchor': 'middle',
          'font-size': 12,
          'font-weight': isG ? 'bold' : undefined,
          fill: isG ? COLORS.given : l.swatch === 'wrong' ? COLORS.wrong : COLORS.pred,
        }),
      );
    }
    out.push(text(l.label, { x: lx + sw + 6, y: ly, 'font-size': 12, fill: COLORS.caption }));
    lx += 26 + textWidth(l.label, 12) + 16;
  }
  return svgDoc(width, height, out, { label: opts.title ?? 'refinement over supervision steps' });
};

// ---------------------------------------------------------------------------------------------
// Terminal text

export interface BoardTextOptions {
  readonly size: number;
  /** Box shape [rows, cols]; default as {@link defaultBox}. */
  readonly box?: BoxShape;
  /** Tokens to show (1 = blank → '.', d + 1 = digit d). */
  readonly tokens: readonly number[];
  /** Previous step's tokens: cells that differ are marked ('*' after the digit, or inverse video). */
  readonly previous?: readonly number[];
  /** Puzzle tokens: non-blank cells are givens (bold with `color`). */
  readonly givens?: readonly number[];
  /** Solution tokens: wrong cells are marked ('!' after the digit, or red). */
  readonly solution?: readonly number[];
  /** ANSI styling instead of marker characters. Default false. */
  readonly color?: boolean;
}

const SGR = (codes: readonly number[]): string => (codes.length === 0 ? '' : `\u001b[${codes.join(';')}m`);
const RESET = '\u001b[0m';

/**
 * The board as text with box separators, e.g. for 4×4:
 * ```
 * 1  2* | 3  4
 * 3  4  | .  2
 * ------+------
 * ...
 * ```
 * Without `color`, each cell is the digit ('.' for blank) followed by '*' when it changed since
 * `previous` (and, when `solution` is given, by '!' when it is wrong). With `color`, changed
 * cells are in inverse video, wrong cells red, givens bold. Lines end with '\n'.
 */
export const boardText = (opts: BoardTextOptions): string => {
  const { size, tokens, previous, givens, solution } = opts;
  const box = opts.box ?? defaultBox(size);
  checkShape(size, box);
  const color = opts.color === true;
  const wide = size > 9;
  const lines: string[] = [];
  let sep = '';
  for (let r = 0; r < size; r++) {
    const groups: string[] = [];
    for (let g = 0; g < size / box[1]; g++) {
      const cells: string[] = [];
      for (let k = g * box[1]; k < (g + 1) * box[1]; k++) {
        const i = r * size + k;
        const t = tokens[i];
        const d = digitOf(t);
        const ch = (d === '' ? '.' : d).padStart(wide ? 2 : 1, ' ');
        const given = givens !== undefined && isGiven(givens[i]);
        const changed = previous !== undefined && previous[i] !== t;
        const wrong = solution !== undefined && !given && t !== solution[i];
        if (color) {
          const codes = [...(given ? [1] : []), ...(wrong ? [31] : []), ...(changed ? [7] : [])];
          cells.push(codes.length > 0 ? `${SGR(codes)}${ch}${RESET}` : ch);
        } else {
          cells.push(`${ch}${changed ? '*' : ' '}${solution !== undefined ? (wrong ? '!' : ' ') : ''}`);
        }
      }
      groups.push(cells.join(' '));
    }
    if (sep === '') {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes (ESC [ … m)
      const plain = groups[0]?.replace(/\u001b\[[0-9;]*m/g, '') ?? '';
      sep = Array.from({ length: groups.length }, () => '-'.repeat(plain.length)).join('-+-');
    }
    if (r > 0 && r % box[0] === 0) lines.push(sep);
    lines.push(groups.join(' | ').trimEnd());
  }
  return `${lines.join('\n')}\n`;
};
