/**
 * How `trm crosscheck` and `tools/trm_check.py` judge a tensor (src/crosscheck/compare.ts): the
 * tolerance of each tensor class at its exact boundary, NaN, the worst index, the relative error
 * against zero, the update rule of what an optimizer wrote, float32's ulp, the report's first
 * divergence and largest error, and the places rows print.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TOLERANCE,
  NO_PLACE,
  type Row,
  type Tolerance,
  compareTensor,
  compareUpdate,
  fileReport,
  formatPlace,
  formatRow,
  int32Of,
  missingRow,
  onBackend,
  ulp32,
} from '../src/crosscheck/compare.js';
import type { Trace } from '../src/crosscheck/trace.js';
import { reference } from '../src/backend/reference.js';
import { type Tensor, storage, tensor } from '../src/tensor/tensor.js';

const f64 = (values: readonly number[]): Tensor => tensor(Float64Array.from(values), [values.length]);

/** Tolerances that are powers of two, so the boundary values are exact in float64. */
const TOL: Tolerance = { rel: 2 ** -4, abs: 2 ** -6, lossRel: 2 ** -5, updateRel: 2 ** -3, updateUlps: 2 };

/** Small dyadic values: sums and products of them are exact. */
const dyadic = fc.integer({ min: -64, max: 64 }).map((k) => k / 8);
const refArb = fc.array(dyadic, { minLength: 1, maxLength: 6 }).filter((v) => v.some((x) => x !== 0));

describe('compareTensor', () => {
  it('tensors pass at |ours − ref| = rel · max|ref| + abs, and fail just past it', () => {
    fc.assert(
      fc.property(refArb, fc.nat(), fc.boolean(), (ref, at, grad) => {
        const i = at % ref.length;
        const refMax = Math.max(...ref.map(Math.abs));
        const bound = TOL.rel * refMax + TOL.abs;
        const name = grad ? 'grad/inner.lm_head.weight' : 'z_H';
        const ours = ref.map((v, j) => (j === i ? v + bound : v));
        const onEdge = compareTensor(3, name, f64(ours), f64(ref), TOL);
        expect(onEdge.ok).toBe(true);
        expect(onEdge.exact).toBe(false);
        expect(onEdge.maxAbsErr).toBe(bound);
        expect(onEdge.relErr).toBe(bound / refMax);
        expect(onEdge.refMaxAbs).toBe(refMax);
        expect(onEdge.worstIndex).toBe(i);
        const past = ref.map((v, j) => (j === i ? v - bound - 2 ** -10 : v));
        expect(compareTensor(3, name, f64(past), f64(ref), TOL).ok).toBe(false);
      }),
    );
  });

  it('losses, learning rates and accuracy sums are relative to themselves, with no absolute slack', () => {
    for (const kind of [
      'loss',
      'lm_loss',
      'q_halt_loss',
      'q_continue_loss',
      'metrics/accuracy',
      'lr',
      'puzzle_emb_lr',
    ]) {
      const ref = f64([4]);
      expect(compareTensor(0, kind, f64([4 + 4 * TOL.lossRel]), ref, TOL).ok, kind).toBe(true);
      expect(compareTensor(0, kind, f64([4 + 4 * TOL.lossRel + 2 ** -20]), ref, TOL).ok, kind).toBe(false);
      // The tensor tolerance would accept it: these kinds are not judged by it.
      expect(compareTensor(0, kind, f64([4 + TOL.abs / 2 + 4 * TOL.lossRel]), ref, TOL).ok, kind).toBe(false);
      expect(compareTensor(0, kind, f64([2 ** -30]), f64([0]), TOL).ok, kind).toBe(false);
    }
  });

  it('halting, step counts and integer metric sums must match exactly', () => {
    for (const kind of [
      'halted',
      'steps',
      'metrics/count',
      'metrics/exact_accuracy',
      'metrics/q_halt_accuracy',
      'metrics/steps',
    ]) {
      const r = compareTensor(1, kind, f64([1, 2, 3]), f64([1, 2, 3]), TOL);
      expect([r.ok, r.exact, r.maxAbsErr], kind).toEqual([true, true, 0]);
      const off = compareTensor(1, kind, f64([1, 2, 3 + 2 ** -40]), f64([1, 2, 3]), TOL);
      expect([off.ok, off.exact], kind).toEqual([false, true]);
    }
    // Not exact: the metric sum 'accuracy', the data rows (compared as tensors), everything else.
    expect(compareTensor(1, 'metrics/accuracy', f64([1]), f64([1]), TOL).exact).toBe(false);
    expect(compareTensor(1, 'logits', f64([1]), f64([1]), TOL).exact).toBe(false);
  });

  it('a NaN on one side fails; NaN on both sides at the same place is no error', () => {
    // compareUpdate alike: a NaN the recording has where ours has one too.
    const upd = compareUpdate(0, 'w', f64([Number.NaN, 2]), f64([Number.NaN, 2]), f64([0, 1]), f64([0, 1]), TOL);
    expect([upd.ok, upd.maxAbsErr, upd.refMaxAbs, upd.relErr]).toEqual([true, 0, 2, 0]);
    const one = compareTensor(0, 'z_L', f64([1, Number.NaN]), f64([1, 2]), TOL);
    expect(one.ok).toBe(false);
    expect(Number.isNaN(one.maxAbsErr)).toBe(true);
    expect(Number.isNaN(one.relErr)).toBe(true);
    const other = compareTensor(0, 'halted', f64([1, 2]), f64([1, Number.NaN]), TOL);
    expect(other.ok).toBe(false);
    const both = compareTensor(0, 'z_L', f64([1, Number.NaN]), f64([1, Number.NaN]), TOL);
    expect([both.ok, both.maxAbsErr, both.relErr]).toEqual([true, 0, 0]);
  });

  it('the worst index is the first of the largest errors; the relative error against zero is 0 or ∞', () => {
    const r = compareTensor(0, 'x', f64([0, 1.5, 0, 1.5]), f64([0, 1, 0, 1]), TOL);
    expect([r.worstIndex, r.maxAbsErr]).toEqual([1, 0.5]);
    const later = compareTensor(0, 'x', f64([0, 1.25, 3, 1.5]), f64([0, 1, 2, 1]), TOL);
    expect(later.worstIndex).toBe(2);
    const zero = compareTensor(0, 'x', f64([0, 0]), f64([0, 0]), TOL);
    expect([zero.relErr, zero.refMaxAbs, zero.ok]).toEqual([0, 0, true]);
    const fromZero = compareTensor(0, 'x', f64([0, 2 ** -8]), f64([0, 0]), TOL);
    expect([fromZero.relErr, fromZero.ok]).toEqual([Number.POSITIVE_INFINITY, true]); // within abs
    // The scale is the largest |ref|, negative values included.
    expect(compareTensor(0, 'x', f64([-4, 1]), f64([-8, 1]), TOL).relErr).toBe(0.5);
  });

  it('a tensor of another size is a failing row with the recorded shape', () => {
    const ref = tensor([1, 2, 3, 4], [2, 2]);
    const r = compareTensor(2, 'z_H', f64([1, 2, 3]), ref, TOL, { cycle: 1, update: 'answer' });
    expect(r).toEqual({ ...missingRow(2, 'z_H', ref, { cycle: 1, update: 'answer' }) });
    expect([r.ok, r.maxAbsErr, r.relErr, r.shape, r.cycle, r.update]).toEqual([
      false,
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
      [2, 2],
      1,
      'answer',
    ]);
    expect(missingRow(0, 'q', ref)).toMatchObject({ ...NO_PLACE, exact: false, worstIndex: 0, refMaxAbs: 0 });
  });

  it('carries the step, the place and the recorded shape', () => {
    const r = compareTensor(5, 'z_L', f64([1]), tensor([1], [1, 1, 1]), TOL, { cycle: 2, update: 3 });
    expect([r.step, r.tensor, r.shape, r.cycle, r.update]).toEqual([5, 'z_L', [1, 1, 1], 2, 3]);
    expect(compareTensor(0, 'x', f64([1]), f64([1]), TOL)).toMatchObject(NO_PLACE);
  });
});

describe('compareUpdate', () => {
  it('judges the update against the recorded update: updateRel · max|ref − before| + updateUlps · ulp32(max|ref|)', () => {
    fc.assert(
      fc.property(refArb, refArb, fc.nat(), (before, step, at) => {
        const n = Math.min(before.length, step.length);
        const b = before.slice(0, n);
        const ref = b.map((v, i) => v + step[i]!);
        const i = at % n;
        const delta = Math.max(...ref.map((v, j) => Math.abs(v - b[j]!)));
        const refMax = Math.max(...ref.map(Math.abs));
        const bound = TOL.updateRel * delta + TOL.updateUlps * ulp32(refMax);
        const ours = ref.map((v, j) => (j === i ? v + bound : v));
        const r = compareUpdate(1, 'params/w', f64(ours), f64(ref), f64(b), f64(b), TOL);
        expect(r.ok).toBe(true);
        expect(r.maxAbsErr).toBeCloseTo(bound, 12);
        expect(r.worstIndex).toBe(bound === 0 ? 0 : i);
        expect(r.refMaxAbs).toBe(refMax);
        expect(r.relErr).toBe(delta === 0 ? (r.maxAbsErr === 0 ? 0 : Number.POSITIVE_INFINITY) : r.maxAbsErr / delta);
        const past = ref.map((v, j) => (j === i ? v + bound * 1.5 + 2 ** -20 : v));
        expect(compareUpdate(1, 'params/w', f64(past), f64(ref), f64(b), f64(b), TOL).ok).toBe(false);
      }),
    );
  });

  it('the worst index is the first of the largest update errors', () => {
    const r = compareUpdate(0, 'w', f64([1.5, 2, 3.5]), f64([1, 2, 3]), f64([0, 0, 0]), f64([0, 0, 0]), TOL);
    expect([r.worstIndex, r.maxAbsErr]).toEqual([0, 0.5]);
  });

  it('free-running, each side is judged from its own starting point', () => {
    // ours moved 1 from 10, the recording moved 1 from 20: the same update.
    const r = compareUpdate(0, 'params/w', f64([11]), f64([21]), f64([10]), f64([20]), TOL);
    expect([r.ok, r.maxAbsErr, r.relErr]).toEqual([true, 0, 0]);
    // The scale is the recorded update, not the weights.
    const wrong = compareUpdate(0, 'params/w', f64([10.5]), f64([21]), f64([10]), f64([20]), TOL);
    expect([wrong.ok, wrong.maxAbsErr, wrong.relErr]).toEqual([false, 0.5, 0.5]);
    expect(compareUpdate(0, 'ema/w', f64([1]), f64([1]), f64([1]), f64([1]), TOL)).toMatchObject({
      ok: true,
      relErr: 0,
      exact: false,
      ...NO_PLACE,
    });
    const still = compareUpdate(0, 'ema/w', f64([1.5]), f64([1]), f64([1]), f64([1]), TOL);
    expect([still.ok, still.relErr]).toEqual([false, Number.POSITIVE_INFINITY]);
  });

  it('NaN fails; sizes that differ are a failing row', () => {
    const nan = compareUpdate(0, 'w', f64([Number.NaN]), f64([1]), f64([0]), f64([0]), TOL);
    expect(nan.ok).toBe(false);
    expect(Number.isNaN(nan.maxAbsErr) && Number.isNaN(nan.relErr)).toBe(true);
    for (const [a, b, o, ro] of [
      [[1, 2], [1], [1], [1]],
      [[1], [1], [1, 2], [1]],
      [[1], [1], [1], [1, 2]],
    ] as const)
      expect(compareUpdate(0, 'w', f64(a), f64(b), f64(o), f64(ro), TOL)).toEqual(missingRow(0, 'w', f64(b)));
  });
});

describe('ulp32', () => {
  it('is the gap from |x| to the next float32 above it', () => {
    const bits = new Float32Array(1);
    const ints = new Int32Array(bits.buffer);
    fc.assert(
      fc.property(
        fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-3e38), max: Math.fround(3e38) }),
        (x) => {
          bits[0] = Math.abs(x);
          const a = bits[0]!;
          ints[0]! += 1;
          expect(ulp32(x)).toBe(bits[0]! - a);
        },
      ),
    );
    expect([ulp32(1), ulp32(1.5), ulp32(2), ulp32(-2), ulp32(0), ulp32(2 ** -126), ulp32(2 ** -127)]).toEqual([
      2 ** -23,
      2 ** -23,
      2 ** -22,
      2 ** -22,
      2 ** -149,
      2 ** -149,
      2 ** -149,
    ]);
  });
});

const row = (over: Partial<Row>): Row => ({
  ...missingRow(0, 'x', f64([0])),
  ok: true,
  maxAbsErr: 0,
  relErr: 0,
  ...over,
});
const trace = { file: 'f.safetensors', mode: 'train', notComparable: ['q'] } as unknown as Trace;

describe('fileReport', () => {
  it('the first failing row is the first divergence; the largest relative error skips exact rows', () => {
    const rows = [
      row({ tensor: 'a', relErr: 1e-6 }),
      row({ tensor: 'halted', exact: true, relErr: 5, ok: false }),
      row({ tensor: 'b', step: 1, relErr: 3e-3, ok: false }),
      row({ tensor: 'c', step: 2, relErr: 3e-3 }),
    ];
    const r = fileReport(trace, 'free-running', rows);
    expect([r.ok, r.firstDivergence?.tensor, r.maxRelErr]).toEqual([
      false,
      'halted',
      { tensor: 'b', step: 1, relErr: 3e-3 },
    ]);
    expect([r.file, r.mode, r.traceMode, r.notComparable, r.rows]).toEqual([
      'f.safetensors',
      'free-running',
      'train',
      ['q'],
      rows,
    ]);
    const clean = fileReport(
      trace,
      'teacher-forced',
      rows.filter((x) => x.ok),
    );
    expect([clean.ok, clean.firstDivergence, clean.maxRelErr?.tensor]).toEqual([true, null, 'c']);
    // NaN is the largest error there is, wherever it comes; only exact rows: no largest error.
    const nan = row({ tensor: 'n', relErr: Number.NaN });
    const one = row({ tensor: 'm', relErr: 1 });
    expect(fileReport(trace, 'teacher-forced', [nan, one]).maxRelErr?.tensor).toBe('n');
    expect(fileReport(trace, 'teacher-forced', [one, nan]).maxRelErr?.tensor).toBe('n');
    expect(fileReport(trace, 'teacher-forced', [nan, row({ tensor: 'k', relErr: Number.NaN })]).maxRelErr?.tensor).toBe(
      'n',
    );
    expect(fileReport(trace, 'teacher-forced', [row({ exact: true })]).maxRelErr).toBe(null);
  });
});

describe('formatting', () => {
  it('a place names the step, then the cycle and the update where there are', () => {
    expect(formatPlace(row({ step: 2, cycle: 1, update: 3, tensor: 'z_L' }))).toBe(
      'step 2 · cycle 1 · latent update 3 · z_L',
    );
    expect(formatPlace(row({ step: 0, cycle: 0, update: 'answer', tensor: 'z_H' }))).toBe(
      'step 0 · cycle 0 · answer update · z_H',
    );
    expect(formatPlace(row({ step: 4, tensor: 'loss' }))).toBe('step 4 · loss');
  });

  it('a row prints its verdict, place, shape and errors', () => {
    const line = formatRow(row({ step: 1, tensor: 'logits', shape: [2, 3], maxAbsErr: 1.5e-3, relErr: 2.5e-5 }));
    expect(line).toBe(`ok   ${'step 1 · logits'.padEnd(64)} ${'[2,3]'.padEnd(14)} max_abs_err 1.50e-3  rel 2.50e-5`);
    expect(formatRow(row({ ok: false })).startsWith('FAIL ')).toBe(true);
  });
});

describe('helpers', () => {
  it('int32Of keeps the values as int32; onBackend moves only across backends', () => {
    const t = tensor([1, 2, 3], [3]);
    const i = int32Of(t);
    expect([i.dtype, Array.from(storage(i)), i.shape]).toEqual(['int32', [1, 2, 3], [3]]);
    expect(onBackend(t, t.backend)).toBe(t);
    const other = { ...reference, name: 'other' } as typeof reference;
    const moved = onBackend(t, other);
    expect(moved.backend).toBe(other);
    expect(Array.from(storage(moved))).toEqual([1, 2, 3]);
    expect(storage(moved)).not.toBe(storage(t));
  });

  it('the default tolerances are the documented ones', () => {
    expect(DEFAULT_TOLERANCE).toEqual({ rel: 1e-4, abs: 1e-5, lossRel: 1e-5, updateRel: 1e-3, updateUlps: 4 });
  });
});
