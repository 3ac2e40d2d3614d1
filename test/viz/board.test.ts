import { describe, expect, it } from 'vitest';
import { boardText, defaultBox, refinementBoard } from '../../src/viz/index.js';
import { checkXml } from './xml.js';

const tok = (s: string): number[] => [...s].map((c) => (c === '.' || c === '0' ? 1 : Number(c) + 1));

// 4×4: solution, puzzle and two steps.
const sol4 = tok('1234341221434321');
const puz4 = tok('1..4..1..1..4..1');
const step1 = tok('1234341221434321');
step1[1] = 4; // digit 3, wrong
step1[6] = 5; // digit 4... cell 6 is a given ('1'); predictions on givens are ignored
const step2 = sol4.slice();

const YELLOW = 'fill="#ffe866"';
const countChanged = (svg: string): number => (svg.match(new RegExp(`<rect [^>]*${YELLOW}`, 'g')) ?? []).length - 1; // minus legend swatch

describe('refinementBoard', () => {
  const opts = {
    size: 4,
    box: [2, 2] as const,
    puzzle: puz4,
    steps: [
      { preds: step1, qHaltProb: 0.25 },
      { preds: step2, qHaltProb: 0.9312 },
    ],
    solution: sol4,
  };

  it('is well-formed, deterministic, with captions', () => {
    const svg = refinementBoard(opts);
    expect(checkXml(svg)).toEqual([]);
    expect(refinementBoard(opts)).toBe(svg);
    expect(svg).toContain('step 1 · P(halt)=0.25');
    expect(svg).toContain('step 2 · P(halt)=0.93');
    expect(svg).toContain('>puzzle<');
    expect(svg).toContain('1 wrong');
    expect(svg).toContain('1 changed · all correct');
  });

  it('highlights only non-given cells that changed since the previous step', () => {
    const svg = refinementBoard(opts);
    expect(countChanged(svg)).toBe(1); // cell 1 (cell 6 is a given)
    const three = refinementBoard({ ...opts, steps: [...opts.steps, { preds: step1, qHaltProb: 0.1 }] });
    expect(countChanged(three)).toBe(2);
    expect(three).toContain('step 3 · P(halt)=0.1');
  });

  it('marks wrong cells in red only when a solution is given', () => {
    const svg = refinementBoard(opts);
    const red = /<g text-anchor="middle" font-size="\d+" fill="#d62728">(.*?)<\/g>/.exec(svg);
    expect(red?.[1]?.match(/<text /g)).toHaveLength(1);
    expect(red?.[1]).toContain('>3<');
    const noSol = refinementBoard({ ...opts, solution: undefined });
    expect(noSol).not.toMatch(/fill="#d62728">/);
    expect(noSol).not.toContain('wrong');
  });

  it('draws givens bold and predictions in blue', () => {
    const svg = refinementBoard({ ...opts, showPuzzle: false, steps: [{ preds: sol4, qHaltProb: 1 }] });
    const bold = /<g text-anchor="middle" font-size="\d+" font-weight="bold" fill="#111111">(.*?)<\/g>/.exec(svg);
    expect(bold?.[1]?.match(/<text /g)).toHaveLength(6);
    const blue = /<g text-anchor="middle" font-size="\d+" fill="#1f5fbf">(.*?)<\/g>/.exec(svg);
    expect(blue?.[1]?.match(/<text /g)).toHaveLength(10);
    expect(svg).not.toContain('>puzzle<');
  });

  it('works for 6×6 and 9×9 and escapes the title', () => {
    const s6 = tok('123456456123231564564231312645645312');
    const p6 = s6.map((t, i) => (i % 4 === 0 ? t : 1));
    const svg6 = refinementBoard({
      size: 6,
      box: [2, 3],
      puzzle: p6,
      steps: [{ preds: s6, qHaltProb: 0.5 }],
      title: 'six <&> six',
    });
    expect(checkXml(svg6)).toEqual([]);
    expect(svg6).toContain('six &lt;&amp;&gt; six');
    const s9 = tok('534678912672195348198342567859761423426853791713924856961537284287419635345286179');
    const p9 = s9.map((t, i) => (i % 3 === 0 ? t : 1));
    const steps = Array.from({ length: 16 }, (_, k) => ({
      preds: s9.map((t, i) => (i < 16 - k ? 2 : t)),
      qHaltProb: k / 15,
    }));
    const svg9 = refinementBoard({ size: 9, puzzle: p9, steps, solution: s9 });
    expect(checkXml(svg9)).toEqual([]);
    expect(svg9).toContain('step 16 · P(halt)=1');
    expect(svg9).not.toContain('NaN');
  });

  it('tolerates short arrays and NaN probabilities; rejects a bad box', () => {
    const svg = refinementBoard({ size: 4, puzzle: [], steps: [{ preds: [2, 3], qHaltProb: Number.NaN }] });
    expect(checkXml(svg)).toEqual([]);
    expect(svg).toContain('P(halt)=n/a');
    expect(() => refinementBoard({ size: 6, box: [2, 2], puzzle: [], steps: [] })).toThrow(RangeError);
  });

  it('default box shapes', () => {
    expect(defaultBox(4)).toEqual([2, 2]);
    expect(defaultBox(6)).toEqual([2, 3]);
    expect(defaultBox(9)).toEqual([3, 3]);
  });
});

describe('boardText', () => {
  it('draws box separators and blanks', () => {
    expect(boardText({ size: 4, tokens: puz4 })).toBe(
      ['1  .  | .  4', '.  .  | 1  .', '------+------', '.  1  | .  .', '4  .  | .  1', ''].join('\n'),
    );
  });

  it('marks changed cells with *', () => {
    const out = boardText({ size: 4, tokens: step2, previous: step1 });
    const lines = out.split('\n');
    expect(lines[0]).toBe('1  2* | 3  4');
    expect(out.match(/\*/g)).toHaveLength(2); // cells 1 and 6 differ
  });

  it('marks wrong cells with ! when a solution is given (givens never wrong)', () => {
    const out = boardText({ size: 4, tokens: step1, givens: puz4, solution: sol4 });
    expect(out.split('\n')[0]).toBe('1   3 ! | 3   4');
    expect(out.match(/!/g)).toHaveLength(1);
  });

  it('uses ANSI styles with color: true', () => {
    const out = boardText({ size: 4, tokens: step2, previous: step1, givens: puz4, color: true });
    expect(out).toContain('\u001b[7m2\u001b[0m'); // changed: inverse
    expect(out).toContain('\u001b[1m1\u001b[0m'); // given: bold
    expect(out).not.toContain('*');
    const red = boardText({ size: 4, tokens: step1, solution: sol4, color: true });
    expect(red).toContain('\u001b[31m3\u001b[0m');
  });

  it('handles 6×6 and 9×9 layouts', () => {
    const s6 = tok('123456456123231564564231312645645312');
    const lines6 = boardText({ size: 6, box: [2, 3], tokens: s6 })
      .trimEnd()
      .split('\n');
    expect(lines6).toHaveLength(8);
    expect(lines6[0]).toBe('1  2  3  | 4  5  6');
    expect(lines6[2]).toBe('---------+---------');
    const lines9 = boardText({ size: 9, tokens: tok('.'.repeat(81)) })
      .trimEnd()
      .split('\n');
    expect(lines9).toHaveLength(11);
    expect(lines9[3]).toBe('---------+----------+---------');
  });
});
