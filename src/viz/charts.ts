/**
 * Line and bar charts as standalone SVG strings (no DOM, no dependencies).
 *
 * - Non-finite values (NaN, ±Infinity) are skipped; a gap splits a line into segments.
 * - With `logY`, non-positive y values are skipped too.
 * - Output is deterministic: the same input always gives the same bytes.
 */
import { colorAt, el, hashId, num, points, svgDoc, text, textWidth, title as titleEl } from './svg.js';

export type Point = readonly [number, number];

export interface Series {
  readonly name: string;
  readonly points: readonly Point[];
  /** Optional colour override (any CSS colour); defaults to the palette. */
  readonly color?: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Fixed y range (in data units); points outside are clipped. Default: fitted to the data. */
  readonly yRange?: readonly [number, number];
  /** Logarithmic y axis; non-positive values are skipped. */
  readonly logY?: boolean;
  /** Default 640. */
  readonly width?: number;
  /** Default 360. */
  readonly height?: number;
}

export interface Bar {
  readonly label: string;
  readonly value: number;
}

export interface BarChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly bars: readonly Bar[];
  /** Fixed y range; default: [min(0, data), max(0, data)] rounded to nice ticks. */
  readonly yRange?: readonly [number, number];
  /** Default 640. */
  readonly width?: number;
  /** Default 360. */
  readonly height?: number;
  /** Bar fill colour; default palette blue. */
  readonly color?: string;
}

// ---------------------------------------------------------------------------------------------
// Scales and ticks

/** "Nice" step (1, 2, 2.5 or 5 × 10^k) giving about `target` intervals over `span`. */
export const niceStep = (span: number, target = 5): number => {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  const m = r <= 1 ? 1 : r <= 2 ? 2 : r <= 2.5 ? 2.5 : r <= 5 ? 5 : 10;
  return m * mag;
};

/** Ticks k·step within [lo, hi] (inclusive, with float tolerance). */
export const linearTicks = (lo: number, hi: number, step: number): number[] => {
  const out: number[] = [];
  if (!(step > 0) || !(hi >= lo)) return out;
  const eps = step * 1e-9;
  const first = Math.ceil((lo - eps) / step);
  const last = Math.floor((hi + eps) / step);
  for (let k = first; k <= last && out.length < 1000; k++) {
    const v = k * step;
    out.push(Math.abs(v) < eps ? 0 : v);
  }
  return out;
};

/** Decimals needed to print multiples of `step` exactly. */
const decimalsFor = (step: number): number => {
  if (!(step > 0)) return 0;
  for (let d = 0; d <= 10; d++) {
    const scaled = step * 10 ** d;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, scaled)) return d;
  }
  return 10;
};

/** Tick label for a linear axis: exact multiples of `step`, `k` suffix for big round numbers. */
export const formatTick = (v: number, step: number): string => {
  if (Math.abs(v) >= 10000 && step >= 1000 && Math.abs(v % 1000) < 1e-9)
    return `${num(v / 1000, decimalsFor(step / 1000))}k`;
  return num(v, decimalsFor(step));
};

/** Tick label for a log axis value. */
export const formatLogTick = (v: number): string => {
  if (v >= 1e-3 && v < 1e5) {
    if (v >= 1e4) return `${num(v / 1000, 1)}k`;
    return num(v, 4);
  }
  const e = Math.floor(Math.log10(v) + 1e-9);
  const m = v / 10 ** e;
  return `${Math.abs(m - 1) < 1e-9 ? '' : `${num(m, 2)}×`}1e${e}`;
};

/** Compact general-purpose value label (≤ 3 significant decimals). */
export const formatValue = (v: number): string => {
  if (!Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e5 || a < 1e-3)
    return v
      .toExponential(2)
      .replace(/\.?0+e/, 'e')
      .replace('e+', 'e');
  if (a >= 100) return num(v, 0);
  if (a >= 10) return num(v, 1);
  if (a >= 1) return num(v, 2);
  return num(v, 3);
};

interface Axis {
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
  readonly labels: readonly string[];
  /** Data value → unit interval [0, 1] (may fall outside). */
  readonly unit: (v: number) => number;
}

const linearAxis = (lo0: number, hi0: number, extend: boolean, target: number): Axis => {
  let lo = lo0;
  let hi = hi0;
  if (!(hi > lo)) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, target);
  if (extend) {
    lo = Math.floor(lo / step + 1e-9) * step;
    hi = Math.ceil(hi / step - 1e-9) * step;
  }
  const ticks = linearTicks(lo, hi, step);
  const span = hi - lo;
  return { lo, hi, ticks, labels: ticks.map((t) => formatTick(t, step)), unit: (v) => (v - lo) / span };
};

const logAxis = (lo0: number, hi0: number, fixed: boolean): Axis => {
  let a = Math.log10(lo0);
  let b = Math.log10(hi0);
  if (!(b > a)) {
    a -= 0.5;
    b += 0.5;
  } else if (!fixed) {
    const pad = Math.max(0.02, (b - a) * 0.04);
    a -= pad;
    b += pad;
  }
  const span = b - a;
  const ticks: number[] = [];
  const e0 = Math.floor(a);
  const e1 = Math.ceil(b);
  const mults = span <= 1.2 ? [1, 2, 3, 5] : span <= 3.5 ? [1, 2, 5] : [1];
  const every = span > 8 ? Math.ceil(span / 8) : 1;
  if (span < 0.7) {
    // Less than a decade: plain "nice" linear ticks read better than 1-2-5 multiples.
    const lo = 10 ** a;
    const hi = 10 ** b;
    for (const v of linearTicks(lo, hi, niceStep(hi - lo, 4))) if (v > 0) ticks.push(v);
  }
  for (let e = e0; e <= e1 && span >= 0.7; e++) {
    if (mults.length === 1 && (e - e0) % every !== 0) continue;
    for (const m of mults) {
      const v = m * 10 ** e;
      const l = Math.log10(v);
      if (l >= a - 1e-9 && l <= b + 1e-9) ticks.push(v);
    }
  }
  return { lo: 10 ** a, hi: 10 ** b, ticks, labels: ticks.map(formatLogTick), unit: (v) => (Math.log10(v) - a) / span };
};

// ---------------------------------------------------------------------------------------------
// Shared frame (title, axes, grid, labels)

const FONT = { title: 16, label: 13, tick: 11, legend: 12 } as const;
const INK = '#222222';
const GRID = '#e6e6e6';
const MUTED = '#555555';

interface Frame {
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

const titleBlock = (t: string, width: number): string =>
  text(t, { x: width / 2, y: 24, 'text-anchor': 'middle', 'font-size': FONT.title, 'font-weight': 'bold', fill: INK });

const yAxisBlock = (f: Frame, ax: Axis, yLabel: string, grid: boolean): string[] => {
  const out: string[] = [];
  ax.ticks.forEach((t, i) => {
    const y = f.bottom - ax.unit(t) * (f.bottom - f.top);
    if (grid) out.push(el('line', { x1: f.left, y1: y, x2: f.right, y2: y, stroke: GRID, 'stroke-width': 1 }));
    out.push(el('line', { x1: f.left - 4, y1: y, x2: f.left, y2: y, stroke: INK, 'stroke-width': 1 }));
    out.push(
      text(ax.labels[i] ?? '', { x: f.left - 7, y: y + 4, 'text-anchor': 'end', 'font-size': FONT.tick, fill: MUTED }),
    );
  });
  const cy = (f.top + f.bottom) / 2;
  out.push(
    text(yLabel, {
      x: 16,
      y: cy,
      transform: `rotate(-90 16 ${num(cy)})`,
      'text-anchor': 'middle',
      'font-size': FONT.label,
      fill: INK,
    }),
  );
  return out;
};

const axesLines = (f: Frame): string =>
  el('path', {
    d: `M${num(f.left)},${num(f.top)}V${num(f.bottom)}H${num(f.right)}`,
    fill: 'none',
    stroke: INK,
    'stroke-width': 1,
  });

const xLabelBlock = (f: Frame, xLabel: string, height: number): string =>
  text(xLabel, {
    x: (f.left + f.right) / 2,
    y: height - 10,
    'text-anchor': 'middle',
    'font-size': FONT.label,
    fill: INK,
  });

const maxLabelWidth = (labels: readonly string[], size: number): number =>
  labels.reduce((m, l) => Math.max(m, textWidth(l, size)), 0);

// ---------------------------------------------------------------------------------------------
// Line chart

const validPoint = (p: Point, logY: boolean): boolean =>
  Number.isFinite(p[0]) && Number.isFinite(p[1]) && (!logY || p[1] > 0);

/** Splits a series into runs of valid points (invalid points end a run). */
const segments = (pts: readonly Point[], logY: boolean): Point[][] => {
  const out: Point[][] = [];
  let cur: Point[] = [];
  for (const p of pts) {
    if (validPoint(p, logY)) cur.push(p);
    else if (cur.length > 0) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length > 0) out.push(cur);
  return out;
};

/** Keeps the first, min, max and last point of each pixel column: same picture, bounded size. */
const decimate = (px: readonly Point[]): Point[] => {
  if (px.length <= 4) return [...px];
  const out: Point[] = [];
  let i = 0;
  while (i < px.length) {
    const col = Math.floor(px[i]![0]);
    let j = i;
    let iMin = i;
    let iMax = i;
    while (j < px.length && Math.floor(px[j]![0]) === col) {
      if (px[j]![1] < px[iMin]![1]) iMin = j;
      if (px[j]![1] > px[iMax]![1]) iMax = j;
      j++;
    }
    const keep = [...new Set([i, iMin, iMax, j - 1])].sort((p, q) => p - q);
    for (const k of keep) out.push(px[k]!);
    i = j;
  }
  return out;
};

interface LegendItem {
  readonly label: string;
  readonly color: string;
}

/** Legend rows under the title, starting at `x0`, wrapping at `maxX`. Returns svg and height used. */
const legendBlock = (
  items: readonly LegendItem[],
  x0: number,
  maxX: number,
  y0: number,
): { svg: string[]; height: number } => {
  const svg: string[] = [];
  if (items.length === 0) return { svg, height: 0 };
  const rowH = 18;
  let x = x0;
  let y = y0;
  for (const it of items) {
    const w = 22 + textWidth(it.label, FONT.legend) + 22;
    if (x > x0 && x + w > maxX) {
      x = x0;
      y += rowH;
    }
    svg.push(
      el('line', {
        x1: x,
        y1: y - 4,
        x2: x + 18,
        y2: y - 4,
        stroke: it.color,
        'stroke-width': 3,
        'stroke-linecap': 'round',
      }),
    );
    svg.push(text(it.label, { x: x + 22, y, 'font-size': FONT.legend, fill: INK }));
    x += w;
  }
  return { svg, height: y - y0 + rowH };
};

/** A line chart with axes, ticks, grid, legend and one polyline per series. */
export const lineChart = (opts: LineChartOptions): string => {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const logY = opts.logY === true;

  const segs = opts.series.map((s) => segments(s.points, logY));
  const all = segs.flat(2);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xLo = xs.length > 0 ? Math.min(...xs) : 0;
  const xHi = xs.length > 0 ? Math.max(...xs) : 1;

  const yr = opts.yRange;
  const yFixed =
    yr !== undefined && Number.isFinite(yr[0]) && Number.isFinite(yr[1]) && yr[1] > yr[0] && (!logY || yr[0] > 0);
  let yAxis: Axis;
  if (logY) {
    const lo = yFixed ? yr[0] : ys.length > 0 ? Math.min(...ys) : 0.1;
    const hi = yFixed ? yr[1] : ys.length > 0 ? Math.max(...ys) : 10;
    yAxis = logAxis(lo, hi, yFixed);
  } else if (yFixed) {
    yAxis = linearAxis(yr[0], yr[1], false, 5);
  } else {
    yAxis = linearAxis(ys.length > 0 ? Math.min(...ys) : 0, ys.length > 0 ? Math.max(...ys) : 1, true, 5);
  }

  // Layout.
  const items: LegendItem[] = opts.series.map((s, i) => ({ label: s.name, color: s.color ?? colorAt(i) }));
  const yTickW = maxLabelWidth(yAxis.labels, FONT.tick);
  const left = Math.round(30 + yTickW + 8);
  const right = width - 24;
  const legend = legendBlock(items, left, right, 48);
  const top = 48 + legend.height + (items.length > 0 ? 0 : -10);
  const bottom = height - 46;
  const f: Frame = { left, right, top, bottom };

  const xTarget = Math.max(2, Math.floor((right - left) / 90));
  const xAxis = linearAxis(xLo, xHi, false, xTarget);
  const px = (x: number): number => left + xAxis.unit(x) * (right - left);
  const py = (y: number): number => bottom - yAxis.unit(y) * (bottom - top);

  const out: string[] = [titleEl(opts.title), titleBlock(opts.title, width), ...legend.svg];

  // Grid + ticks.
  out.push(...yAxisBlock(f, yAxis, opts.yLabel, true));
  xAxis.ticks.forEach((t, i) => {
    const x = px(t);
    out.push(el('line', { x1: x, y1: top, x2: x, y2: bottom, stroke: GRID, 'stroke-width': 1 }));
    out.push(el('line', { x1: x, y1: bottom, x2: x, y2: bottom + 4, stroke: INK, 'stroke-width': 1 }));
    out.push(
      text(xAxis.labels[i] ?? '', { x, y: bottom + 17, 'text-anchor': 'middle', 'font-size': FONT.tick, fill: MUTED }),
    );
  });

  // Data, clipped to the plot area.
  const clipId = `clip-${hashId(JSON.stringify([opts.title, width, height, logY, yr ?? null, opts.series]))}`;
  out.push(
    el('defs', {}, [
      el('clipPath', { id: clipId }, [
        el('rect', { x: left, y: top - 2, width: right - left, height: bottom - top + 4 }),
      ]),
    ]),
  );
  const lines: string[] = [];
  segs.forEach((runs, i) => {
    const color = items[i]?.color ?? colorAt(i);
    for (const run of runs) {
      const pix = run.map((p): Point => [px(p[0]), py(p[1])]);
      if (pix.length === 1) {
        const [cx, cy] = pix[0]!;
        lines.push(el('circle', { cx, cy, r: 2.5, fill: color }));
      } else {
        lines.push(
          el('polyline', {
            points: points(decimate(pix)),
            fill: 'none',
            stroke: color,
            'stroke-width': 2,
            'stroke-linejoin': 'round',
            'stroke-linecap': 'round',
          }),
        );
      }
    }
  });
  if (lines.length > 0) out.push(el('g', { 'clip-path': `url(#${clipId})` }, lines));
  else
    out.push(
      text('no data', {
        x: (left + right) / 2,
        y: (top + bottom) / 2,
        'text-anchor': 'middle',
        'font-size': FONT.label,
        fill: '#999999',
      }),
    );

  out.push(axesLines(f));
  out.push(xLabelBlock(f, opts.xLabel, height));
  return svgDoc(width, height, out, { label: opts.title });
};

// ---------------------------------------------------------------------------------------------
// Bar chart

/** A vertical bar chart with a value label above each bar (when it fits). NaN bars show "n/a". */
export const barChart = (opts: BarChartOptions): string => {
  const width = opts.width ?? 640;
  const height = opts.height ?? 360;
  const color = opts.color ?? colorAt(0);
  const vals = opts.bars.map((b) => b.value).filter((v) => Number.isFinite(v));
  const yr = opts.yRange;
  const yFixed = yr !== undefined && Number.isFinite(yr[0]) && Number.isFinite(yr[1]) && yr[1] > yr[0];
  const yAxis = yFixed
    ? linearAxis(yr[0], yr[1], false, 5)
    : linearAxis(Math.min(0, ...vals), Math.max(0, ...vals, vals.length > 0 ? 0 : 1), true, 5);

  const yTickW = maxLabelWidth(yAxis.labels, FONT.tick);
  const left = Math.round(30 + yTickW + 8);
  const right = width - 24;
  const top = 52;
  const bottom = height - 46;
  const f: Frame = { left, right, top, bottom };
  const py = (y: number): number => bottom - Math.min(1, Math.max(0, yAxis.unit(y))) * (bottom - top);

  const out: string[] = [titleEl(opts.title), titleBlock(opts.title, width)];
  out.push(...yAxisBlock(f, yAxis, opts.yLabel, true));

  const n = opts.bars.length;
  const slot = n > 0 ? (right - left) / n : 0;
  const barW = Math.min(60, slot * 0.7);
  const valueFont = FONT.tick;
  const valueLabels = opts.bars.map((b) => formatValue(b.value));
  const showValues = maxLabelWidth(valueLabels, valueFont) <= slot - 2;
  const xLabels = opts.bars.map((b) => b.label);
  const xFont =
    maxLabelWidth(xLabels, FONT.tick) <= slot - 2
      ? FONT.tick
      : Math.max(7, Math.floor((FONT.tick * (slot - 2)) / Math.max(1, maxLabelWidth(xLabels, 1) * FONT.tick)));
  const base = py(Math.min(Math.max(0, yAxis.lo), yAxis.hi));

  opts.bars.forEach((b, i) => {
    const cx = left + slot * (i + 0.5);
    out.push(text(b.label, { x: cx, y: bottom + 17, 'text-anchor': 'middle', 'font-size': xFont, fill: MUTED }));
    if (!Number.isFinite(b.value)) {
      out.push(text('n/a', { x: cx, y: base - 5, 'text-anchor': 'middle', 'font-size': valueFont, fill: '#999999' }));
      return;
    }
    const yv = py(b.value);
    const y0 = Math.min(yv, base);
    const h = Math.abs(base - yv);
    out.push(
      el('rect', { x: cx - barW / 2, y: y0, width: barW, height: h, fill: color }, [
        titleEl(`${b.label}: ${valueLabels[i] ?? ''}`),
      ]),
    );
    if (showValues) {
      const above = b.value >= 0;
      const ty = above ? yv - 5 : yv + 14;
      out.push(
        text(valueLabels[i] ?? '', { x: cx, y: ty, 'text-anchor': 'middle', 'font-size': valueFont, fill: INK }),
      );
    }
  });
  if (n === 0)
    out.push(
      text('no data', {
        x: (left + right) / 2,
        y: (top + bottom) / 2,
        'text-anchor': 'middle',
        'font-size': FONT.label,
        fill: '#999999',
      }),
    );

  out.push(axesLines(f));
  out.push(xLabelBlock(f, opts.xLabel, height));
  return svgDoc(width, height, out, { label: opts.title });
};

// ---------------------------------------------------------------------------------------------
// Training-log conveniences

/** One row of a training log (`log.jsonl`); every metric is optional so partial logs still plot. */
export interface TrainingLogRow {
  readonly step: number;
  readonly loss?: number;
  readonly lm_loss?: number;
  readonly q_halt_loss?: number;
  readonly accuracy?: number;
  readonly exact_accuracy?: number;
  readonly steps?: number;
  readonly lr?: number;
  readonly elapsed_s?: number;
}

/** Parses JSON-lines text (e.g. a run's `log.jsonl`), skipping blank or malformed lines. */
export const parseTrainingLog = (jsonl: string): TrainingLogRow[] => {
  const rows: TrainingLogRow[] = [];
  for (const line of jsonl.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    try {
      const v: unknown = JSON.parse(t);
      if (typeof v === 'object' && v !== null && typeof (v as { step?: unknown }).step === 'number')
        rows.push(v as TrainingLogRow);
    } catch {
      // skip malformed line
    }
  }
  return rows;
};

const col = (rows: readonly TrainingLogRow[], key: keyof TrainingLogRow): Point[] =>
  rows.map((r): Point => [r.step, typeof r[key] === 'number' ? (r[key] as number) : Number.NaN]);

export interface TrainingChartOptions {
  /** Prefix for both titles, e.g. the run name. */
  readonly title?: string;
  readonly width?: number;
  readonly height?: number;
}

/**
 * From a training log: loss curves (log y: loss, lm_loss, q_halt_loss), accuracy curves (0..1),
 * the learning rate, and the mean supervision step at which the rows that halted did so.
 */
export const trainingCharts = (
  rows: readonly TrainingLogRow[],
  opts: TrainingChartOptions = {},
): { loss: string; accuracy: string; lr: string; halting: string } => {
  const prefix = opts.title !== undefined && opts.title !== '' ? `${opts.title}: ` : '';
  const size = {
    ...(opts.width !== undefined ? { width: opts.width } : {}),
    ...(opts.height !== undefined ? { height: opts.height } : {}),
  };
  const loss = lineChart({
    title: `${prefix}training loss`,
    xLabel: 'training step',
    yLabel: 'loss (log scale)',
    logY: true,
    series: [
      { name: 'loss (total)', points: col(rows, 'loss') },
      { name: 'lm_loss', points: col(rows, 'lm_loss') },
      { name: 'q_halt_loss', points: col(rows, 'q_halt_loss') },
    ],
    ...size,
  });
  const accuracy = lineChart({
    title: `${prefix}training accuracy`,
    xLabel: 'training step',
    yLabel: 'accuracy',
    yRange: [0, 1],
    series: [
      { name: 'cell accuracy', points: col(rows, 'accuracy') },
      { name: 'exact (whole puzzle) accuracy', points: col(rows, 'exact_accuracy') },
    ],
    ...size,
  });
  const lr = lineChart({
    title: `${prefix}learning rate`,
    xLabel: 'training step',
    yLabel: 'learning rate',
    series: [{ name: 'lr', points: col(rows, 'lr') }],
    ...size,
  });
  const halting = lineChart({
    title: `${prefix}halting`,
    xLabel: 'training step',
    yLabel: 'supervision steps at halt (mean)',
    series: [{ name: 'steps of the rows that halted', points: col(rows, 'steps') }],
    ...size,
  });
  return { loss, accuracy, lr, halting };
};

/** Bar chart of "exact accuracy if the answer is read after supervision step s", s = 1..N. */
export const stepAccuracyChart = (
  exactByStep: readonly number[],
  opts: { title?: string; width?: number; height?: number } = {},
): string =>
  barChart({
    title: opts.title ?? 'exact accuracy when reading the answer after step s',
    xLabel: 'supervision step s',
    yLabel: 'exact accuracy',
    yRange: [0, 1],
    bars: exactByStep.map((v, i) => ({ label: String(i + 1), value: v })),
    ...(opts.width !== undefined ? { width: opts.width } : {}),
    ...(opts.height !== undefined ? { height: opts.height } : {}),
  });
