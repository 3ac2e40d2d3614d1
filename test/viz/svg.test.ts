import { describe, expect, it } from 'vitest';
import { el, esc, num, svgDoc, text } from '../../src/viz/index.js';
import { checkXml } from './xml.js';

describe('svg helpers', () => {
  it('escapes XML special characters', () => {
    expect(esc(`a<b>&"c"'d'`)).toBe('a&lt;b&gt;&amp;&quot;c&quot;&#39;d&#39;');
    expect(text('<&>', { x: 1 })).toBe('<text x="1">&lt;&amp;&gt;</text>');
    expect(el('g', { title: 'x"<' })).toBe('<g title="x&quot;&lt;"/>');
  });

  it('formats numbers compactly', () => {
    expect(num(1)).toBe('1');
    expect(num(1.5)).toBe('1.5');
    expect(num(1.234567)).toBe('1.23');
    expect(num(-0.0001)).toBe('0');
    expect(num(100)).toBe('100');
    expect(num(Number.NaN)).toBe('0');
    expect(num(0.123456, 4)).toBe('0.1235');
  });

  it('builds a well-formed document', () => {
    const doc = svgDoc(10, 20, [text('hi & bye', { x: 1, y: 2 })], { label: 'a <b>' });
    expect(checkXml(doc)).toEqual([]);
    expect(doc.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="20"')).toBe(true);
  });

  it('the checker itself catches broken XML', () => {
    expect(checkXml('<svg><g></svg>')).not.toEqual([]);
    expect(checkXml('<svg>a & b</svg>')).not.toEqual([]);
    expect(checkXml('<svg/><svg/>')).not.toEqual([]);
    expect(checkXml('<svg x="1"><g/></svg>')).toEqual([]);
  });
});
