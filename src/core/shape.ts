/** Shapes: plain readonly integer arrays, row-major (C order). */
export type Shape = readonly number[];

export const size = (shape: Shape): number => shape.reduce((a, b) => a * b, 1);

export const strides = (shape: Shape): number[] => {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
};

export const shapeStr = (shape: Shape): string => `[${shape.join(',')}]`;

export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** NumPy broadcasting of two shapes; throws naming `op` and both shapes. */
export const broadcastShapes = (op: string, a: Shape, b: Shape): number[] => {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: ${shapeStr(a)} and ${shapeStr(b)} do not broadcast: axis ${i} has ${da} ≠ ${db}`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
};

/** Normalises a possibly negative axis against `rank`; throws naming `op`. */
export const normAxis = (op: string, axis: number, rank: number, shape: Shape): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`${op}: axis ${axis} out of range for shape ${shapeStr(shape)}`);
  }
  return a;
};

export const assertShape = (op: string, shape: Shape): void => {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${op}: invalid shape ${shapeStr(shape)}`);
  }
};
