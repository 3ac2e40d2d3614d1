/**
 * `trm plot LOG.jsonl`: a run's pictures from any log, as SVG and PNG; a log that is not one JSON
 * object per line is refused naming the line, with exit 2.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli, trm } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'trm-plot-'));
const log = join(dir, 'log.jsonl');
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

beforeAll(() => {
  buildCli();
  const rows = Array.from({ length: 12 }, (_, i) => ({
    step: i + 1,
    lr: 1e-4 * Math.min(1, (i + 1) / 4),
    loss: 2 / (i + 1),
    lm_loss: 1.9 / (i + 1),
    q_halt_loss: 0.1 / (i + 1),
    accuracy: i / 12,
    exact_accuracy: i / 24,
    steps: 1 + (i % 4),
  }));
  writeFileSync(log, `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`);
}, 120_000);

describe('trm plot', () => {
  it('draws loss, accuracy, learning rate and halting steps as SVG and PNG', () => {
    const out = join(dir, 'pictures');
    const r = trm(['plot', log, '--out', out, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { rows: number; files: string[] };
    expect(doc.rows).toBe(12);
    const names = ['loss', 'accuracy', 'lr', 'halting'];
    expect(doc.files).toEqual(names.flatMap((n) => [join(out, `${n}.svg`), join(out, `${n}.png`)]));
    for (const n of names) {
      expect(readFileSync(join(out, `${n}.svg`), 'utf8')).toMatch(/^<svg/);
      const png = readFileSync(join(out, `${n}.png`));
      expect(Array.from(png.subarray(0, 8)), n).toEqual(PNG);
      // Twice the SVG's 640 × 360: the width and height of the IHDR chunk.
      expect([png.readUInt32BE(16), png.readUInt32BE(20)], n).toEqual([1280, 720]);
    }
    expect(readFileSync(join(out, 'lr.svg'), 'utf8')).toContain('learning rate');
    expect(readFileSync(join(out, 'halting.svg'), 'utf8')).toContain('supervision steps at halt');
    // Without --out, next to the log; without --json, one line.
    const plain = trm(['plot', log]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(
      `wrote 8 files to ${dir}/: loss.svg, loss.png, accuracy.svg, accuracy.png, lr.svg, lr.png, halting.svg, halting.png\n`,
    );
  });

  it('refuses a missing file, a line that is not JSON, and a row without a step, naming the line', () => {
    const bad = join(dir, 'bad.jsonl');
    for (const [content, message] of [
      ['{"step": 1}\nnot json\n', `${bad}: line 2: not JSON`],
      ['{"step": 1}\n[1, 2]\n', `${bad}: line 2: expected a JSON object`],
      ['\n{"loss": 1}\n', `${bad}: line 2: step: expected a number, got undefined`],
      ['\n\n', `${bad}: no log rows`],
    ] as const) {
      writeFileSync(bad, content);
      const r = trm(['plot', bad]);
      expect(r.status, content).toBe(2);
      expect(r.stderr.trim(), content).toBe(`trm: ${message}`);
    }
    const missing = trm(['plot', join(dir, 'nope.jsonl')]);
    expect([missing.status, missing.stderr.trim()]).toEqual([2, `trm: ${join(dir, 'nope.jsonl')}: no such file`]);
  });
});
