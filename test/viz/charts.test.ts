import { describe, expect, it } from 'vitest';
import {
  barChart,
  formatLogTick,
  formatTick,
  formatValue,
  lineChart,
  linearTicks,
  niceStep,
  parseTrainingLog,
  stepAccuracyChart,
  trainingCharts,
  type TrainingLogRow,
} from '../../src/viz/index.js';
import { checkXml } from './xml.js';

const polylines = (svg: string): string[] => [...svg.matchAll(/<polyline points="([^"]*)"/g)].map((m) => m[1] ?? '');
const coords = (pts: string): [number, number][] =>
  pts.split(' ').map((p) => p.split(',').map(Number) as [number, number]);

const rows: TrainingLogRow[] = Array.from({ length: 50 }, (_, i) => ({
  step: i * 10,
  loss: 2 * Math.exp(-i / 10) + 0.01,
  lm_loss: 1.8 * Math.exp(-i / 10) + 0.01,
  q_halt_loss: 0.7 * Math.exp(-i / 20),
  accuracy: 1 - 0.9 * Math.exp(-i / 10),
  exact_accuracy: i / 60,
  steps: 16,
  lr: 1e-4,
  elapsed_s: i,
}));

describe('ticks and formatting', () => {
  it('picks nice steps', () => {
    expect(niceStep(10, 5)).toBe(2);
    expect(niceStep(1, 5)).toBe(0.2);
    expect(niceStep(2000, 6)).toBe(500);
    expect(niceStep(0)).toBe(1);
  });
  it('lists ticks without float noise', () => {
    expect(linearTicks(0, 1, 0.2).map((t) => formatTick(t, 0.2))).toEqual(['0', '0.2', '0.4', '0.6', '0.8', '1']);
    expect(formatTick(20000, 5000)).toBe('20k');
    expect(formatTick(0.30000000000000004, 0.1)).toBe('0.3');
  });
  it('formats log ticks and values compactly', () => {
    expect(formatLogTick(0.01)).toBe('0.01');
    expect(formatLogTick(1e-5)).toBe('1e-5');
    expect(formatLogTick(2e6)).toBe('2×1e6');
    expect(formatValue(0.8123)).toBe('0.812');
    expect(formatValue(Number.NaN)).toBe('n/a');
    expect(formatValue(123456)).toBe('1.23e5');
  });
});

describe('lineChart', () => {
  const base = { title: 'loss', xLabel: 'step', yLabel: 'loss' };

  it('is well-formed and deterministic', () => {
    const a = lineChart({
      ...base,
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, 2],
            [2, 1.5],
          ],
        },
      ],
    });
    const b = lineChart({
      ...base,
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, 2],
            [2, 1.5],
          ],
        },
      ],
    });
    expect(checkXml(a)).toEqual([]);
    expect(a).toBe(b);
    expect(polylines(a)).toHaveLength(1);
    expect(a).toContain('width="640" height="360"');
  });

  it('escapes titles, labels and series names', () => {
    const svg = lineChart({
      title: 'a <b> & c',
      xLabel: 'x<',
      yLabel: '>y',
      series: [{ name: 'n&m', points: [[0, 1]] }],
    });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg).toContain('n&amp;m');
    expect(svg).not.toContain('a <b>');
  });

  it('handles empty input', () => {
    for (const series of [[], [{ name: 'empty', points: [] }]]) {
      const svg = lineChart({ ...base, series });
      expect(checkXml(svg)).toEqual([]);
      expect(svg).toContain('no data');
      expect(svg).not.toContain('NaN');
    }
    expect(checkXml(lineChart({ ...base, logY: true, series: [] }))).toEqual([]);
  });

  it('skips NaN / infinite values, splitting the line', () => {
    const svg = lineChart({
      ...base,
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, 2],
            [2, Number.NaN],
            [3, 2],
            [4, 3],
            [Number.NaN, 1],
            [6, Infinity],
          ],
        },
      ],
    });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const lines = polylines(svg);
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => coords(l).length)).toEqual([2, 2]);
  });

  it('draws an isolated point as a dot', () => {
    const svg = lineChart({
      ...base,
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, Number.NaN],
            [2, 3],
            [3, 4],
          ],
        },
      ],
    });
    expect(svg).toMatch(/<circle /);
    expect(polylines(svg)).toHaveLength(1);
  });

  it('log scale skips non-positive values and labels decades', () => {
    const svg = lineChart({
      ...base,
      logY: true,
      series: [
        {
          name: 's',
          points: [
            [0, 10],
            [1, 0],
            [2, -1],
            [3, 1],
            [4, 0.1],
            [5, 0.01],
          ],
        },
      ],
    });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).not.toMatch(/NaN|Infinity/);
    const lines = polylines(svg);
    expect(lines).toHaveLength(1);
    expect(coords(lines[0] ?? '')).toHaveLength(3); // 1, 0.1, 0.01 (10 is a lone dot)
    expect(svg).toMatch(/<circle /);
    for (const label of ['>0.01<', '>0.1<', '>1<', '>10<']) expect(svg).toContain(label);
  });

  it('log scale with only non-positive values renders "no data"', () => {
    const svg = lineChart({
      ...base,
      logY: true,
      series: [
        {
          name: 's',
          points: [
            [0, 0],
            [1, -2],
          ],
        },
      ],
    });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).toContain('no data');
  });

  it('respects yRange (ticks 0..1) and keeps points inside the plot', () => {
    const svg = lineChart({
      ...base,
      yRange: [0, 1],
      series: [
        {
          name: 's',
          points: [
            [0, 0],
            [1, 0.5],
            [2, 1],
          ],
        },
      ],
    });
    for (const label of ['>0<', '>0.2<', '>0.4<', '>0.6<', '>0.8<', '>1<']) expect(svg).toContain(label);
    const ys = coords(polylines(svg)[0] ?? '').map((p) => p[1]);
    expect(Math.max(...ys)).toBeLessThanOrEqual(360);
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(0);
    expect(ys[0]).toBeGreaterThan(ys[2] ?? Infinity); // y grows downwards
  });

  it('bounds the size of very long series', () => {
    const pts = Array.from({ length: 100_000 }, (_, i): [number, number] => [i, Math.sin(i / 100)]);
    const svg = lineChart({ ...base, series: [{ name: 's', points: pts }] });
    expect(svg.length).toBeLessThan(60_000);
    expect(checkXml(svg)).toEqual([]);
  });

  it('honours width and height', () => {
    const svg = lineChart({
      ...base,
      width: 800,
      height: 200,
      series: [
        {
          name: 's',
          points: [
            [0, 1],
            [1, 2],
          ],
        },
      ],
    });
    expect(svg).toContain('viewBox="0 0 800 200"');
  });
});

describe('barChart', () => {
  it('renders one bar per finite value, n/a for NaN', () => {
    const svg = barChart({
      title: 'exact <acc>',
      xLabel: 's',
      yLabel: 'acc',
      yRange: [0, 1],
      bars: [
        { label: '1', value: 0.5 },
        { label: '2', value: Number.NaN },
        { label: '3', value: 0.9 },
      ],
    });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).toContain('exact &lt;acc&gt;');
    expect(svg.match(/<rect [^>]*fill="#1f77b4"/g)).toHaveLength(2);
    expect(svg).toContain('>n/a<');
    expect(svg).toContain('>0.9<');
    expect(svg).not.toContain('NaN');
  });

  it('handles no bars and negative values', () => {
    expect(checkXml(barChart({ title: 't', xLabel: 'x', yLabel: 'y', bars: [] }))).toEqual([]);
    const svg = barChart({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      bars: [
        { label: 'a', value: -2 },
        { label: 'b', value: 3 },
      ],
    });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).toContain('>-2<');
  });

  it('stepAccuracyChart labels steps 1..N and is deterministic', () => {
    const a = stepAccuracyChart([0.1, 0.5, 0.8]);
    expect(a).toBe(stepAccuracyChart([0.1, 0.5, 0.8]));
    expect(checkXml(a)).toEqual([]);
    expect(a).toContain('supervision step s');
    for (const l of ['>1<', '>2<', '>3<']) expect(a).toContain(l);
  });
});

describe('training log', () => {
  it('trainingCharts renders loss (log) and accuracy charts', () => {
    const { loss, accuracy } = trainingCharts(rows, { title: 'run <1>' });
    expect(checkXml(loss)).toEqual([]);
    expect(checkXml(accuracy)).toEqual([]);
    expect(polylines(loss)).toHaveLength(3);
    expect(polylines(accuracy)).toHaveLength(2);
    expect(loss).toContain('run &lt;1&gt;: training loss');
    expect(loss).toContain('q_halt_loss');
    expect(trainingCharts(rows, { title: 'run <1>' }).loss).toBe(loss);
  });

  it('tolerates missing metrics and empty logs', () => {
    const partial = trainingCharts([{ step: 0, loss: 1 }, { step: 1 }, { step: 2, loss: 0.5, accuracy: 0.3 }]);
    expect(checkXml(partial.loss)).toEqual([]);
    expect(partial.loss).not.toContain('NaN');
    const empty = trainingCharts([]);
    expect(checkXml(empty.loss)).toEqual([]);
    expect(checkXml(empty.accuracy)).toEqual([]);
  });

  it('parseTrainingLog reads JSON lines and skips junk', () => {
    const text = `${JSON.stringify(rows[0])}\n\nnot json\n{"foo":1}\n${JSON.stringify(rows[1])}\n`;
    expect(parseTrainingLog(text)).toEqual([rows[0], rows[1]]);
  });
});
