/**
 * Kernel sources for gpu.js, generated as text with every size and stride written in as a literal.
 *
 * Literal bounds matter: gpu.js cuts loops bounded by an *argument* at `loopMaxIterations` (1000 by
 * default) on every mode, and GLSL wants constant loop bounds; a literal bound is both. Each source
 * is therefore specific to one shape, and the backend caches one compiled kernel per source.
 *
 * Index arithmetic stays in small integers (< 2^24, checked by the backend), where float32 and
 * int32 agree; the one division (splitting z into leading axes) is floor((z + 0.5) / d), which is
 * exact for such integers even where the GPU divides approximately.
 */
import type { BinaryOp, UnaryOp } from '../../backend/backend.js';
import type { Layout } from './layout.js';

/** The body of a one-input element-wise kernel: reads `v`, returns the result. Only defined on
 *  the domain the backend checked (finite input, and e.g. v > 0 for log). */
export const unaryBody: Record<UnaryOp, string> = {
  neg: 'return -v;',
  exp: 'return Math.exp(v);',
  log: 'return Math.log(v);',
  sqrt: 'return Math.sqrt(v);',
  rsqrt: 'return 1.0 / Math.sqrt(v);',
  // The same branch-stable forms as the reference: exp never sees a positive argument.
  sigmoid: 'if (v >= 0.0) { return 1.0 / (1.0 + Math.exp(-v)); } const e = Math.exp(v); return e / (1.0 + e);',
  silu: 'if (v >= 0.0) { return v / (1.0 + Math.exp(-v)); } const e = Math.exp(v); return v * e / (1.0 + e);',
  abs: 'return Math.abs(v);',
  sign: 'if (v > 0.0) { return 1.0; } if (v < 0.0) { return -1.0; } return 0.0;',
  sin: 'return Math.sin(v);',
  cos: 'return Math.cos(v);',
};

/** The body of a two-input element-wise kernel: reads `u` (a) and `w` (b). Inputs are finite. */
export const binaryBody: Record<BinaryOp, string> = {
  add: 'return u + w;',
  sub: 'return u - w;',
  mul: 'return u * w;',
  div: 'return u / w;',
  maximum: 'if (u >= w) { return u; } return w;',
  minimum: 'if (u <= w) { return u; } return w;',
  atan2: 'return Math.atan2(u, w);',
  eq: 'if (u === w) { return 1.0; } return 0.0;',
  ne: 'if (u !== w) { return 1.0; } return 0.0;',
  lt: 'if (u < w) { return 1.0; } return 0.0;',
  le: 'if (u <= w) { return 1.0; } return 0.0;',
  gt: 'if (u > w) { return 1.0; } return 0.0;',
  ge: 'if (u >= w) { return 1.0; } return 0.0;',
};

/** `terms` joined into an index expression (`0` when empty). */
const sumOf = (terms: readonly string[]): string => (terms.length === 0 ? '0' : terms.join(' + '));

const term = (v: string, stride: number): string | null =>
  stride === 0 ? null : stride === 1 ? v : `${v} * ${stride}`;

/**
 * Prologue that names one integer per layout axis (`i0` outermost) from the thread ids, and the
 * flat operand index `o<j>` of each operand.
 */
const indexPrologue = (layout: Layout): string => {
  const { dims } = layout;
  const r = dims.length;
  const lines: string[] = [];
  if (r === 1) lines.push(`const i0 = this.thread.x;`);
  else if (r === 2) lines.push(`const i1 = this.thread.x;`, `const i0 = this.thread.y;`);
  else {
    lines.push(`const i${r - 1} = this.thread.x;`, `const i${r - 2} = this.thread.y;`);
    if (r === 3) lines.push(`const i0 = this.thread.z;`);
    else {
      // z = ((i0·d1 + i1)·d2 + …) over the leading r − 2 axes: peel them off from the inside.
      lines.push(`let rz = this.thread.z;`);
      for (let d = r - 3; d >= 1; d--) {
        lines.push(`const q${d} = Math.floor((rz + 0.5) / ${dims[d]});`);
        lines.push(`const i${d} = rz - q${d} * ${dims[d]};`);
        lines.push(`rz = q${d};`);
      }
      lines.push(`const i0 = rz;`);
    }
  }
  layout.strides.forEach((s, j) => {
    const terms = s.map((st, d) => term(`i${d}`, st)).filter((t): t is string => t !== null);
    lines.push(`const o${j} = ${sumOf(terms)};`);
  });
  return lines.join('\n  ');
};

export const unarySource = (op: UnaryOp): string =>
  `function (x) {
  const v = x[this.thread.x];
  ${unaryBody[op]}
}`;

export const binarySource = (op: BinaryOp, layout: Layout): string =>
  `function (a, b) {
  ${indexPrologue(layout)}
  const u = a[o0];
  const w = b[o1];
  ${binaryBody[op]}
}`;

/** `c` is a 0/1 mask. */
export const whereSource = (layout: Layout): string =>
  `function (c, a, b) {
  ${indexPrologue(layout)}
  if (c[o0] > 0.5) { return a[o1]; }
  return b[o2];
}`;

/** Output [inner, outer]: thread.x = i, thread.y = o; x viewed as [outer, n, inner]. */
export const reduceSource = (op: 'sum' | 'max', n: number, inner: number): string => {
  const base = `this.thread.y * ${n * inner} + this.thread.x`;
  return op === 'sum'
    ? `function (x) {
  const base = ${base};
  let acc = 0.0;
  for (let j = 0; j < ${n}; j++) {
    acc += x[base + j * ${inner}];
  }
  return acc;
}`
    : `function (x) {
  const base = ${base};
  let acc = x[base];
  for (let j = 1; j < ${n}; j++) {
    const v = x[base + j * ${inner}];
    if (v > acc) { acc = v; }
  }
  return acc;
}`;
};

/** First index of the maximum, as a float (exact: n < 2^24). */
export const argmaxSource = (n: number, inner: number): string =>
  `function (x) {
  const base = this.thread.y * ${n * inner} + this.thread.x;
  let best = 0.0;
  let bv = x[base];
  for (let j = 1; j < ${n}; j++) {
    const v = x[base + j * ${inner}];
    if (v > bv) { bv = v; best = j; }
  }
  return best;
}`;

/**
 * Output [n, m, batch]: thread.x = j, thread.y = i, thread.z = batch. `offs` holds the per-batch
 * (aOffset, bOffset) pairs; transposes only change the literal strides.
 */
export const matmulSource = (m: number, k: number, n: number, transA: boolean, transB: boolean): string => {
  const [ars, acs] = transA ? [1, m] : [k, 1];
  const [brs, bcs] = transB ? [1, k] : [n, 1];
  return `function (a, b, offs) {
  const j = this.thread.x;
  const i = this.thread.y;
  const z = this.thread.z;
  const ao = offs[z * 2] + i * ${ars};
  const bo = offs[z * 2 + 1] + j * ${bcs};
  let acc = 0.0;
  for (let p = 0; p < ${k}; p++) {
    acc += a[ao + p * ${acs}] * b[bo + p * ${brs}];
  }
  return acc;
}`;
};

/** Output [cols, nIds]: out[i, j] = table[ids[i]·cols + j] (ids checked in range). */
export const gatherSource = (cols: number): string =>
  `function (table, ids) {
  return table[ids[this.thread.y] * ${cols} + this.thread.x];
}`;

/**
 * Output [cols, rows]: row r sums the values rows listed in `order[start_r .. start_r + count_r)`
 * (ids grouped by destination on the host, in input order). The loop is bounded by the row's
 * count, an argument, so the backend sets `loopMaxIterations` above the largest count: GL then
 * unrolls to that bound with an early exit, CPU and WebAssembly stop at the row's count.
 */
export const scatterAddSource = (cols: number): string =>
  `function (values, order, meta) {
  const start = meta[this.thread.y * 2];
  const count = meta[this.thread.y * 2 + 1];
  let acc = 0.0;
  for (let q = 0; q < count; q++) {
    acc += values[order[start + q] * ${cols} + this.thread.x];
  }
  return acc;
}`;

/** silu(v) and silu′(v) in the branch-stable form of `unaryBody.silu`: s = σ(v) without overflow. */
const sigmoidOf = (v: string): string =>
  `let s = 0.0; if (${v} >= 0.0) { s = 1.0 / (1.0 + Math.exp(-${v})); } else { const e = Math.exp(${v}); s = e / (1.0 + e); }`;

/** Output [inter, rows]: h is rows × 2·inter, [a | u] per row; silu(a)·u. */
export const swigluSource = (inter: number): string =>
  `function (h) {
  const at = this.thread.y * ${2 * inter} + this.thread.x;
  const a = h[at];
  ${sigmoidOf('a')}
  return a * s * h[at + ${inter}];
}`;

/** Output [2·inter, rows]: [g·u·silu′(a) | g·silu(a)] for the cotangent g (rows × inter). */
export const swigluGradSource = (inter: number): string =>
  `function (g, h) {
  let j = this.thread.x;
  if (j >= ${inter}) { j = j - ${inter}; }
  const at = this.thread.y * ${2 * inter} + j;
  const a = h[at];
  const gj = g[this.thread.y * ${inter} + j];
  ${sigmoidOf('a')}
  if (this.thread.x >= ${inter}) { return gj * a * s; }
  return gj * h[at + ${inter}] * s * (1.0 + a * (1.0 - s));
}`;

/** A float literal both JS and GLSL read (always with a decimal point). */
const floatLiteral = (v: number): string => (Number.isInteger(v) ? v.toFixed(1) : v.toPrecision(9));

/** The row's Σx² (and Σg·x) as locals ss (and gx): a literal-bounded loop over the row. */
const rowSums = (n: number, withG: boolean): string =>
  `const base = this.thread.y * ${n};
  let ss = 0.0;${withG ? '\n  let gx = 0.0;' : ''}
  for (let q = 0; q < ${n}; q++) {
    const v = x[base + q];
    ss += v * v;${withG ? '\n    gx += g[base + q] * v;' : ''}
  }`;

/** Output [n, rows]: RMS norm of each row of x (no gain). Each thread sums its row again. */
export const rmsNormSource = (n: number, eps: number): string =>
  `function (x) {
  ${rowSums(n, false)}
  return x[base + this.thread.x] * (1.0 / Math.sqrt(ss / ${n.toFixed(1)} + ${floatLiteral(eps)}));
}`;

/** Output [n, rows]: r·g − (r³/n)·(Σg·x)·x per row. */
export const rmsNormGradSource = (n: number, eps: number): string =>
  `function (g, x) {
  ${rowSums(n, true)}
  const r = 1.0 / Math.sqrt(ss / ${n.toFixed(1)} + ${floatLiteral(eps)});
  const c = r * r * r * gx / ${n.toFixed(1)};
  return r * g[base + this.thread.x] - c * x[base + this.thread.x];
}`;
