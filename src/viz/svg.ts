/**
 * Tiny, dependency-free SVG string builder helpers.
 *
 * Everything here is pure and deterministic: the same input yields the same bytes.
 * All text and attribute values pass through {@link esc}.
 */

/** XML-escape text or an attribute value (`& < > " '`). */
export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return '&#39;';
    }
  });

/**
 * Compact number formatting for coordinates and labels: at most `digits` decimals,
 * trailing zeros stripped, no `-0`, non-finite values become `0`.
 */
export const num = (x: number, digits = 2): string => {
  if (!Number.isFinite(x)) return '0';
  const s = x.toFixed(digits);
  const t = s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
  return t === '-0' ? '0' : t;
};

export type AttrValue = string | number | undefined;
export type Attrs = Readonly<Record<string, AttrValue>>;

const attrString = (attrs: Attrs): string => {
  let out = '';
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined) continue;
    out += ` ${k}="${typeof v === 'number' ? num(v) : esc(v)}"`;
  }
  return out;
};

/**
 * An element. `children` are already-serialised strings (from other `el` / `text` calls);
 * with no children the element is self-closing.
 */
export const el = (tag: string, attrs: Attrs = {}, children: readonly string[] = []): string =>
  children.length === 0 ? `<${tag}${attrString(attrs)}/>` : `<${tag}${attrString(attrs)}>${children.join('')}</${tag}>`;

/** A `<text>` element whose content is escaped. */
export const text = (content: string, attrs: Attrs = {}): string => `<text${attrString(attrs)}>${esc(content)}</text>`;

/** A `<title>` child (tooltip / accessible name), escaped. */
export const title = (content: string): string => `<title>${esc(content)}</title>`;

/** `points` attribute value for a polyline. */
export const points = (pts: readonly (readonly [number, number])[]): string =>
  pts.map(([x, y]) => `${num(x)},${num(y)}`).join(' ');

/** Wraps children in a root `<svg>` with a white background. */
export const svgDoc = (
  width: number,
  height: number,
  children: readonly string[],
  opts: { label?: string } = {},
): string =>
  el(
    'svg',
    {
      xmlns: 'http://www.w3.org/2000/svg',
      width,
      height,
      viewBox: `0 0 ${num(width)} ${num(height)}`,
      'font-family': 'Helvetica, Arial, sans-serif',
      role: 'img',
      'aria-label': opts.label,
    },
    [el('rect', { x: 0, y: 0, width, height, fill: '#ffffff' }), ...children],
  ) + '\n';

/** Approximate rendered width of `s` at `fontSize` px in a sans-serif font (for layout only). */
export const textWidth = (s: string, fontSize: number): number => {
  let w = 0;
  for (const ch of s) {
    if ("il.,:;|!'`".includes(ch)) w += 0.28;
    else if ('mwMW'.includes(ch)) w += 0.85;
    else if (ch >= 'A' && ch <= 'Z') w += 0.66;
    else if (ch === ' ') w += 0.28;
    else w += 0.56;
  }
  return w * fontSize;
};

/** Small deterministic string hash (FNV-1a, 32 bit) → base-36, used for unique-but-stable ids. */
export const hashId = (s: string): string => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(36);
};

/** Default categorical palette (colour-blind friendly, Okabe–Ito / Tableau-like). */
export const PALETTE: readonly string[] = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
];

export const colorAt = (i: number): string => PALETTE[i % PALETTE.length] ?? '#000000';
