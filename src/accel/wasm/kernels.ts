/**
 * The WebAssembly kernels, emitted by asm.ts at module load.
 *
 * Matrix product (GotoBLAS/BLIS structure, float32, f32x4 SIMD):
 *
 * - `packA(src, sInner, sOuter, total, kc, dst)` copies a block of op(A) into row panels of MR rows:
 *   panel q holds, for each p < kc, the MR values op(A)(q·MR + r, p) contiguously (zero past the
 *   last row). `packB` does the same for column panels of NR columns of op(B). Element (i, p) of the
 *   source sits at src + i·sInner + p·sOuter (bytes), so a transposed operand is just other strides:
 *   the transposed products cost what the plain one does, up to the packing copy.
 * - `macro(Ap, Bp, C, mc, nc, kc, ldc, acc, T)` multiplies a packed mc×kc block by a packed kc×nc
 *   block into C (row stride ldc bytes), overwriting (acc = 0) or adding (acc = 1). Its micro-kernel
 *   keeps an MR×NR tile of C in MR·NR/4 v128 accumulators across the whole kc loop: per p it loads
 *   NR/4 vectors of B, splats MR values of A, and issues MR·NR/4 f32x4.mul + f32x4.add, or, in the
 *   `fma` build, MR·NR/4 f32x4.relaxed_madd (relaxed SIMD: a fused multiply-add where the CPU has
 *   one, else the same mul + add; half the instructions, ≈ 1.2–1.3× faster measured on x86-64).
 *   Tiles cut by the matrix edge go through the scratch tile T.
 *
 * Element-wise (float32, f32x4 where the layout allows): `${op}_vv / _vs / _sv` for add, sub, mul,
 * div over equal lengths, vector-scalar and scalar-vector; `${op}_row` / `_rowr`, where b repeats
 * with period `len` (trailing-axis broadcast, e.g. a bias), and `${op}_col` / `_colr`, where b holds
 * one value per row of `len` (a size-1 last axis); the `r` forms compute b op a. These four ops
 * give exactly the reference's results: float32 +, −, ×, ÷ are correctly rounded, as is the
 * reference's double result rounded once to float32. Every form may write its output over a.
 *
 * Unary (`unary_${op}`): neg, abs, sqrt, rsqrt, exp, sigmoid, silu over whole vectors; exp is a
 * Cephes-style range reduction + polynomial (see expParts), and its vector constants come from a
 * table at CONSTS, written by a data segment at instantiation.
 */
import { Fn, assemble } from './asm.js';

/** Micro-kernel tile: MR rows × NR columns of C (NR a multiple of 4). */
export const MR = 4;
export const NR = 8;

export const ELEMENTWISE_OPS = ['add', 'sub', 'mul', 'div'] as const;
export type ElementwiseOp = (typeof ELEMENTWISE_OPS)[number];

/** Packs `total` rows (packA) or columns (packB) into panels of width R; see the file comment. */
const pack = (name: string, R: number): Fn => {
  const f = new Fn(name, [
    ['src', 'i32'],
    ['sInner', 'i32'],
    ['sOuter', 'i32'],
    ['total', 'i32'],
    ['kc', 'i32'],
    ['dst', 'i32'],
  ]).locals('i32', 'q', 'w', 's', 'p', 't', 'r');
  f.forLt('q', 'total', R, () => {
    // w = min(R, total - q); s = src + q·sInner
    f.get('total').get('q').i32Sub().set('w');
    f.minConst('w', R);
    f.get('src').get('q').get('sInner').i32Mul().i32Add().set('s');
    f.get('kc').set('p');
    f.get('w').i32(R).i32Eq().if();
    {
      f.get('sInner').i32(4).i32Eq().if();
      // Contiguous full panel: R/4 vector copies per p.
      f.doCountdown('p', () => {
        for (let v = 0; v < Math.floor(R / 4); v++)
          f.get('dst')
            .get('s')
            .v128Load(v * 16)
            .v128Store(v * 16);
        for (let r = R - (R % 4); r < R; r++)
          f.get('dst')
            .get('s')
            .f32Load(r * 4)
            .f32Store(r * 4);
        f.get('s').get('sOuter').i32Add().set('s');
        f.get('dst')
          .i32(R * 4)
          .i32Add()
          .set('dst');
      });
      f.else();
      // Strided full panel: R scalar copies per p, unrolled.
      f.doCountdown('p', () => {
        f.get('s').set('t');
        for (let r = 0; r < R; r++) {
          f.get('dst')
            .get('t')
            .f32Load()
            .f32Store(r * 4);
          if (r < R - 1) f.get('t').get('sInner').i32Add().set('t');
        }
        f.get('s').get('sOuter').i32Add().set('s');
        f.get('dst')
          .i32(R * 4)
          .i32Add()
          .set('dst');
      });
      f.end();
    }
    f.else();
    // Last, partial panel: zero the slot, then copy the w real values.
    f.doCountdown('p', () => {
      for (let r = 0; r < R; r++)
        f.get('dst')
          .f32(0)
          .f32Store(r * 4);
      f.get('s').set('t');
      f.i32(0).set('r');
      f.forLt('r', 'w', 1, () => {
        f.get('dst').get('r').i32(2).i32Shl().i32Add().get('t').f32Load().f32Store();
        f.get('t').get('sInner').i32Add().set('t');
      });
      f.get('s').get('sOuter').i32Add().set('s');
      f.get('dst')
        .i32(R * 4)
        .i32Add()
        .set('dst');
    });
    f.end();
  });
  return f;
};

const macro = (fma: boolean): Fn => {
  const V = NR / 4;
  const f = new Fn('macro', [
    ['Ap', 'i32'],
    ['Bp', 'i32'],
    ['C', 'i32'],
    ['mc', 'i32'],
    ['nc', 'i32'],
    ['kc', 'i32'],
    ['ldc', 'i32'],
    ['acc', 'i32'],
    ['T', 'i32'],
  ]).locals('i32', 'jr', 'ir', 'mr', 'nr', 'a', 'b', 'p', 'row', 'x', 'y');
  const acc = (r: number, v: number): string => `c${r}_${v}`;
  const bv = (v: number): string => `b${v}`;
  for (let r = 0; r < MR; r++) for (let v = 0; v < V; v++) f.locals('v128', acc(r, v));
  for (let v = 0; v < V; v++) f.locals('v128', bv(v));
  f.locals('v128', 'av');

  f.forLt('jr', 'nc', NR, () => {
    f.get('nc').get('jr').i32Sub().set('nr');
    f.minConst('nr', NR);
    f.i32(0).set('ir');
    f.forLt('ir', 'mc', MR, () => {
      f.get('mc').get('ir').i32Sub().set('mr');
      f.minConst('mr', MR);
      // a = Ap + ir·kc·4, b = Bp + jr·kc·4
      f.get('Ap').get('ir').get('kc').i32Mul().i32(2).i32Shl().i32Add().set('a');
      f.get('Bp').get('jr').get('kc').i32Mul().i32(2).i32Shl().i32Add().set('b');
      for (let r = 0; r < MR; r++) for (let v = 0; v < V; v++) f.f32x4Const(0).set(acc(r, v));
      f.get('kc').set('p');
      f.doCountdown('p', () => {
        for (let v = 0; v < V; v++)
          f.get('b')
            .v128Load(v * 16)
            .set(bv(v));
        for (let r = 0; r < MR; r++) {
          f.get('a')
            .v128Load32Splat(r * 4)
            .set('av');
          for (let v = 0; v < V; v++) {
            if (fma) f.get('av').get(bv(v)).get(acc(r, v)).f32x4RelaxedMadd().set(acc(r, v));
            else f.get(acc(r, v)).get('av').get(bv(v)).f32x4Mul().f32x4Add().set(acc(r, v));
          }
        }
        f.get('a')
          .i32(MR * 4)
          .i32Add()
          .set('a');
        f.get('b')
          .i32(NR * 4)
          .i32Add()
          .set('b');
      });
      // row = C + ir·ldc + jr·4
      f.get('C').get('ir').get('ldc').i32Mul().i32Add().get('jr').i32(2).i32Shl().i32Add().set('row');
      f.get('mr').i32(MR).i32Eq().get('nr').i32(NR).i32Eq().i32And().if();
      {
        f.get('acc').if();
        for (let r = 0; r < MR; r++) {
          for (let v = 0; v < V; v++) {
            f.get('row')
              .get('row')
              .v128Load(v * 16)
              .get(acc(r, v))
              .f32x4Add()
              .v128Store(v * 16);
          }
          if (r < MR - 1) f.get('row').get('ldc').i32Add().set('row');
        }
        f.else();
        for (let r = 0; r < MR; r++) {
          for (let v = 0; v < V; v++)
            f.get('row')
              .get(acc(r, v))
              .v128Store(v * 16);
          if (r < MR - 1) f.get('row').get('ldc').i32Add().set('row');
        }
        f.end();
      }
      f.else();
      {
        // Edge tile: spill to T (MR×NR, row stride NR), copy the mr×nr corner out.
        for (let r = 0; r < MR; r++)
          for (let v = 0; v < V; v++)
            f.get('T')
              .get(acc(r, v))
              .v128Store((r * NR + v * 4) * 4);
        f.i32(0).set('x');
        f.forLt('x', 'mr', 1, () => {
          f.i32(0).set('y');
          f.forLt('y', 'nr', 1, () => {
            // row[y] = T[x·NR + y] (+ row[y])
            f.get('row').get('y').i32(2).i32Shl().i32Add();
            f.get('T').get('x').i32(NR).i32Mul().get('y').i32Add().i32(2).i32Shl().i32Add().f32Load();
            f.get('row').get('y').i32(2).i32Shl().i32Add().f32Load().f32(0).get('acc').select().f32Add();
            f.f32Store();
          });
          f.get('row').get('ldc').i32Add().set('row');
        });
      }
      f.end();
    });
  });
  return f;
};

type Shape4 = 'vv' | 'vs' | 'sv';

const arith = (f: Fn, op: ElementwiseOp, vector: boolean): Fn => {
  if (vector) {
    if (op === 'add') return f.f32x4Add();
    if (op === 'sub') return f.f32x4Sub();
    if (op === 'mul') return f.f32x4Mul();
    return f.f32x4Div();
  }
  if (op === 'add') return f.f32Add();
  if (op === 'sub') return f.f32Sub();
  if (op === 'mul') return f.f32Mul();
  return f.f32Div();
};

/**
 * out[i] = a[i] op b[i] (vv), a[i] op b[0] (vs) or a[0] op b[i] (sv), for i < n; the scalar side is
 * loaded once and splat. Pointers are byte addresses.
 */
const binary = (op: ElementwiseOp, form: Shape4): Fn => {
  const f = new Fn(`${op}_${form}`, [
    ['a', 'i32'],
    ['b', 'i32'],
    ['out', 'i32'],
    ['n', 'i32'],
  ])
    .locals('i32', 'i', 'n4')
    .locals('v128', 'sv')
    .locals('f32', 'ss');
  if (form === 'vs') f.get('b').f32Load().tee('ss').f32x4Splat().set('sv');
  if (form === 'sv') f.get('a').f32Load().tee('ss').f32x4Splat().set('sv');
  // n4 = n & ~3
  f.get('n').i32(-4).i32And().set('n4');
  const lhs = (vector: boolean): void => {
    if (form === 'sv') f.get(vector ? 'sv' : 'ss');
    else f.get('a').get('i').i32Add()[vector ? 'v128Load' : 'f32Load']();
  };
  const rhs = (vector: boolean): void => {
    if (form === 'vs') f.get(vector ? 'sv' : 'ss');
    else f.get('b').get('i').i32Add()[vector ? 'v128Load' : 'f32Load']();
  };
  // i counts bytes: scale the limits.
  f.get('n4').i32(2).i32Shl().set('n4');
  f.get('n').i32(2).i32Shl().set('n');
  f.forLt('i', 'n4', 16, () => {
    f.get('out').get('i').i32Add();
    lhs(true);
    rhs(true);
    arith(f, op, true).v128Store();
  });
  f.forLt('i', 'n', 4, () => {
    f.get('out').get('i').i32Add();
    lhs(false);
    rhs(false);
    arith(f, op, false).f32Store();
  });
  return f;
};

/**
 * out[r·len + j] = a[r·len + j] op b[j] for r < rows, j < len: b broadcast along leading axes
 * (`${op}_row`); `${op}_rowr` computes b[j] op a[r·len + j], the mirrored layout.
 */
const binaryRow = (op: ElementwiseOp, reversed: boolean): Fn => {
  const f = new Fn(`${op}_row${reversed ? 'r' : ''}`, [
    ['a', 'i32'],
    ['b', 'i32'],
    ['out', 'i32'],
    ['rows', 'i32'],
    ['len', 'i32'],
  ]).locals('i32', 'j', 'len4', 'lenB');
  f.get('len').i32(-4).i32And().i32(2).i32Shl().set('len4');
  f.get('len').i32(2).i32Shl().set('lenB');
  const operands = (vector: boolean): void => {
    const load = vector ? 'v128Load' : 'f32Load';
    if (reversed) f.get('b').get('j').i32Add()[load]().get('a').get('j').i32Add()[load]();
    else f.get('a').get('j').i32Add()[load]().get('b').get('j').i32Add()[load]();
  };
  f.block();
  f.get('rows').i32Eqz().brIf(0);
  f.doCountdown('rows', () => {
    f.i32(0).set('j');
    f.forLt('j', 'len4', 16, () => {
      f.get('out').get('j').i32Add();
      operands(true);
      arith(f, op, true).v128Store();
    });
    f.forLt('j', 'lenB', 4, () => {
      f.get('out').get('j').i32Add();
      operands(false);
      arith(f, op, false).f32Store();
    });
    f.get('a').get('lenB').i32Add().set('a');
    f.get('out').get('lenB').i32Add().set('out');
  });
  f.end();
  return f;
};

/**
 * out[r·len + j] = a[r·len + j] op b[r] for r < rows, j < len: b has a size-1 last axis and is
 * broadcast along it (e.g. [..., D] ∘ [..., 1] in RMS norm) (`${op}_col`); `${op}_colr` computes
 * b[r] op a[r·len + j].
 */
const binaryCol = (op: ElementwiseOp, reversed: boolean): Fn => {
  const f = new Fn(`${op}_col${reversed ? 'r' : ''}`, [
    ['a', 'i32'],
    ['b', 'i32'],
    ['out', 'i32'],
    ['rows', 'i32'],
    ['len', 'i32'],
  ])
    .locals('i32', 'j', 'len4', 'lenB')
    .locals('v128', 'sv')
    .locals('f32', 'ss');
  f.get('len').i32(-4).i32And().i32(2).i32Shl().set('len4');
  f.get('len').i32(2).i32Shl().set('lenB');
  const operands = (vector: boolean): void => {
    const scalar = vector ? 'sv' : 'ss';
    if (reversed) f.get(scalar).get('a').get('j').i32Add()[vector ? 'v128Load' : 'f32Load']();
    else f.get('a').get('j').i32Add()[vector ? 'v128Load' : 'f32Load']().get(scalar);
  };
  f.block();
  f.get('rows').i32Eqz().brIf(0);
  f.doCountdown('rows', () => {
    f.get('b').f32Load().tee('ss').f32x4Splat().set('sv');
    f.i32(0).set('j');
    f.forLt('j', 'len4', 16, () => {
      f.get('out').get('j').i32Add();
      operands(true);
      arith(f, op, true).v128Store();
    });
    f.forLt('j', 'lenB', 4, () => {
      f.get('out').get('j').i32Add();
      operands(false);
      arith(f, op, false).f32Store();
    });
    f.get('a').get('lenB').i32Add().set('a');
    f.get('out').get('lenB').i32Add().set('out');
    f.get('b').i32(4).i32Add().set('b');
  });
  f.end();
  return f;
};

export const UNARY_OPS = ['neg', 'abs', 'sqrt', 'rsqrt', 'exp', 'sigmoid', 'silu'] as const;
export type WasmUnaryOp = (typeof UNARY_OPS)[number];

/**
 * exp in float32 (Cephes `expf`): clamp x to [EXP_LO, EXP_HI], n = nearest(x·log₂e), r = x − n·ln2
 * in two parts (Cody–Waite: C1 has 9 significant bits, so n·C1 is exact), e^r by a degree-5
 * polynomial on |r| ≤ ln2/2, and 2ⁿ as two powers of two 2^n1·2^n2 (n1 = n >> 1, n2 = n − n1), each
 * built by writing n + 127 into the exponent bits. Splitting the scale keeps both factors normal
 * for every n in [−150, 128], so the last product rounds once into the subnormal range (gradual
 * underflow as the reference has it) or overflows to +Inf.
 */
/** Upper clamp: exp(x) overflows for x > 88.7228392, and so does exp(89). */
export const EXP_HI = 89;
/** Lower clamp: exp(x) rounds to 0 below −103.98 and silu's v·eᵛ below ≈ −109.4 (|v|·eᵛ < 2⁻¹⁵⁰), so
 *  clamping at −120 changes no result, and n ≥ −174 keeps both scale factors normal. */
export const EXP_LO = -120;
const LOG2E = 1.4426950408889634;
const C1 = 0.693359375;
const C2 = -2.1219444e-4;
const EXP_POLY = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];

/** 1.5·2²³: adding it rounds |y| < 2²² to an integer (ties to even) held in the low mantissa bits. */
const MAGIC = 12582912;

/**
 * The kernels' vector constants, one splatted v128 each, in a table at address CONSTS (a data
 * segment written at instantiation). A kernel loads the ones it needs into locals before its loop:
 * a v128.const inside the loop costs three instructions per use under V8 (TurboFan rebuilds it
 * at every use, even from a local), a loaded value stays in a register or one memory operand away.
 */
const CONSTANTS: readonly (readonly [string, number, 'f32' | 'i32'])[] = [
  ['cHi', EXP_HI, 'f32'],
  ['cLo', EXP_LO, 'f32'],
  ['cLog2e', LOG2E, 'f32'],
  ['cMagic', MAGIC, 'f32'],
  ['cC1', C1, 'f32'],
  ['cC2', C2, 'f32'],
  ['cOne', 1, 'f32'],
  ...EXP_POLY.map((v, i): readonly [string, number, 'f32'] => [`cP${i}`, v, 'f32']),
  ['c127', 127, 'i32'],
  ['cSign', -0x80000000, 'i32'],
  ['cNaN', NaN, 'f32'],
  ['cNegInf', -Infinity, 'f32'],
  ['cZero', 0, 'f32'],
];
/** Address of the constant table; the backend keeps its own data above CONSTS + CONST_BYTES. */
export const CONSTS = 0;
export const CONST_BYTES = CONSTANTS.length * 16;

const constantBytes = (): Uint8Array => {
  const buf = new ArrayBuffer(CONST_BYTES);
  CONSTANTS.forEach(([, v, type], i) => {
    if (type === 'f32') new Float32Array(buf, i * 16, 4).fill(v);
    else new Int32Array(buf, i * 16, 4).fill(v);
  });
  return new Uint8Array(buf);
};

/** Declares v128 locals for the named constants and loads them from the table. */
const loadConstants = (f: Fn, ...names: string[]): void => {
  for (const name of names) {
    const i = CONSTANTS.findIndex(([n]) => n === name);
    if (i < 0) throw new Error(`kernels: unknown constant ${name}`);
    f.locals('v128', name)
      .i32(CONSTS)
      .v128Load(i * 16)
      .set(name);
  }
};

const EXP_CONSTANTS = [
  'cHi',
  'cLo',
  'cLog2e',
  'cMagic',
  'cC1',
  'cC2',
  'cOne',
  'c127',
  ...EXP_POLY.map((_, i) => `cP${i}`),
];

/**
 * Emits the parts of exp(local `x`) into the v128 locals p (e^r), s1 = 2^n1 and s2 = 2^n2, so that
 * exp(x) = (p·s1)·s2, and leaves the clamped x in t. f32x4.pmin/pmax keep a NaN x (a NaN first
 * operand is returned), and NaN then flows through r into p.
 */
const expParts = (f: Fn, x: string): void => {
  f.get(x).get('cHi').f32x4Pmin().get('cLo').f32x4Pmax().set('t');
  // fx + MAGIC = nearest(t·log₂e) + MAGIC; its bits minus MAGIC's bits are the integer n.
  f.get('t').get('cLog2e').f32x4Mul().get('cMagic').f32x4Add().tee('fx');
  f.get('cMagic').i32x4Sub().set('ni');
  f.get('fx').get('cMagic').f32x4Sub().set('fx');
  // r = t − fx·C1 − fx·C2
  f.get('t').get('fx').get('cC1').f32x4Mul().f32x4Sub();
  f.get('fx').get('cC2').f32x4Mul().f32x4Sub().set('r');
  // n1 = n >> 1, n2 = n − n1; s = (n + 127) << 23
  f.get('ni').i32(1).i32x4ShrS().set('n1');
  f.get('n1').get('c127').i32x4Add().i32(23).i32x4Shl().set('s1');
  f.get('ni').get('n1').i32x4Sub().get('c127').i32x4Add().i32(23).i32x4Shl().set('s2');
  // y = P5 + P4·r + … + P0·r⁵ by Estrin's scheme (a shorter dependency chain than Horner's):
  // y = (P5 + P4·r) + r²·((P3 + P2·r) + r²·(P1 + P0·r)); p = r²·y + r + 1.
  f.get('r').get('r').f32x4Mul().set('r2');
  f.get('cP5').get('cP4').get('r').f32x4Mul().f32x4Add();
  f.get('cP3').get('cP2').get('r').f32x4Mul().f32x4Add();
  f.get('cP1').get('cP0').get('r').f32x4Mul().f32x4Add().get('r2').f32x4Mul().f32x4Add();
  f.get('r2').f32x4Mul().f32x4Add();
  f.get('r2').f32x4Mul().get('r').f32x4Add().get('cOne').f32x4Add().set('p');
};

/**
 * `unary_${op}(x, out, n)`: out[i] = op(x[i]) over ⌈n/4⌉ whole vectors (the caller pads both regions
 * to 16 bytes; lanes past n are scratch). out may equal x.
 *
 * - neg, abs: sign-bit operations, exact. sqrt: f32x4.sqrt is correctly rounded, as is the
 *   reference's double sqrt rounded to float32 (53 ≥ 2·24 + 2): bit-identical.
 * - rsqrt: 1 / sqrt(v) in float32, two roundings: within 1 ulp of the reference.
 * - exp: see expParts.
 * - sigmoid, as the reference: e = exp(−|v|), v ≥ 0 ? 1/(1+e) : e/(1+e).
 * - silu = v·sigmoid(v), with the product for v < 0 formed as ((t·p)·s1)·s2 / (1+e), t the clamped
 *   v: the scale is applied last so that results in the subnormal range round once (v·e would
 *   multiply an already rounded subnormal e); silu(−∞) = −∞·0 = NaN as in the reference.
 */
const unaryKernel = (op: WasmUnaryOp): Fn => {
  const f = new Fn(`unary_${op}`, [
    ['x', 'i32'],
    ['out', 'i32'],
    ['n', 'i32'],
  ])
    .locals('i32', 'i', 'nb')
    .locals('v128', 'v', 'a', 'e');
  if (op === 'exp' || op === 'sigmoid' || op === 'silu') {
    loadConstants(f, ...EXP_CONSTANTS);
    f.locals('v128', 't', 'fx', 'r', 'r2', 'ni', 'n1', 's1', 's2', 'p');
  }
  if (op === 'sigmoid' || op === 'silu') loadConstants(f, 'cSign', 'cZero');
  if (op === 'silu') loadConstants(f, 'cNaN', 'cNegInf');
  if (op === 'rsqrt') loadConstants(f, 'cOne');
  // nb = ⌈n/4⌉·16 bytes
  f.get('n').i32(3).i32Add().i32(-4).i32And().i32(2).i32Shl().set('nb');
  f.forLt('i', 'nb', 16, () => {
    f.get('x').get('i').i32Add().v128Load().set('v');
    f.get('out').get('i').i32Add();
    switch (op) {
      case 'neg':
        f.get('v').f32x4Neg();
        break;
      case 'abs':
        f.get('v').f32x4Abs();
        break;
      case 'sqrt':
        f.get('v').f32x4Sqrt();
        break;
      case 'rsqrt':
        f.get('cOne').get('v').f32x4Sqrt().f32x4Div();
        break;
      case 'exp':
        expParts(f, 'v');
        f.get('p').get('s1').f32x4Mul().get('s2').f32x4Mul();
        break;
      case 'sigmoid':
      case 'silu':
        // a = −|v| (sign bit set), e = exp(a), mask = v ≥ 0
        f.get('v').get('cSign').v128Or().set('a');
        expParts(f, 'a');
        f.get('p').get('s1').f32x4Mul().get('s2').f32x4Mul().set('e');
        if (op === 'sigmoid') {
          f.get('cOne').get('e');
        } else {
          // t = max(v, EXP_LO) for v < 0: below the clamp the product underflows to −0 as it should
          f.get('v');
          f.get('t').get('p').f32x4Mul().get('s1').f32x4Mul().get('s2').f32x4Mul();
        }
        f.get('v').get('cZero').f32x4Ge().v128Bitselect();
        f.get('e').get('cOne').f32x4Add().f32x4Div();
        if (op === 'silu') {
          // −∞ → NaN (the formula above gives −∞/1)
          f.set('a').get('cNaN').get('a').get('v').get('cNegInf').f32x4Eq().v128Bitselect();
        }
        break;
    }
    f.v128Store();
  });
  return f;
};

/** sigmoid(local v) into local dst, as `unary_sigmoid` computes it (uses expParts' locals and aneg, e). */
const sigmoidInto = (f: Fn, v: string, dst: string): void => {
  f.get(v).get('cSign').v128Or().set('aneg');
  expParts(f, 'aneg');
  f.get('p').get('s1').f32x4Mul().get('s2').f32x4Mul().set('e');
  f.get('cOne').get('e').get(v).get('cZero').f32x4Ge().v128Bitselect();
  f.get('e').get('cOne').f32x4Add().f32x4Div().set(dst);
};

/**
 * SwiGLU's fused gate over `rows` rows of [a | u] (2·inter values each; inter a multiple of 4):
 * `swiglu(h, out, rows, inter)` writes out[r, j] = (a·σ(a))·u, and `swiglu_grad(g, h, out, rows,
 * inter)` writes the cotangent of h, [((g·u)·σ)·(1 + a·(1 − σ)) | (g·a)·σ], for the cotangent g of
 * the gate. σ is computed as in unary_sigmoid (within a few ulps of the reference, which evaluates
 * each formula in doubles and rounds once).
 */
const swigluKernel = (grad: boolean): Fn => {
  const f = new Fn(grad ? 'swiglu_grad' : 'swiglu', [
    ...(grad ? ([['g', 'i32']] as const) : []),
    ['h', 'i32'],
    ['out', 'i32'],
    ['rows', 'i32'],
    ['inter', 'i32'],
  ])
    .locals('i32', 'row', 'j', 'nb', 'hp', 'op', 'gp')
    .locals('v128', 'v', 'u', 'aneg', 'e', 'sg');
  loadConstants(f, ...EXP_CONSTANTS, 'cSign', 'cZero');
  f.locals('v128', 't', 'fx', 'r', 'r2', 'ni', 'n1', 's1', 's2', 'p');
  // nb = bytes of one half row; hp walks h by 2·nb, op walks out by nb (gate) or 2·nb (grad), gp walks g by nb.
  f.get('inter').i32(2).i32Shl().set('nb');
  f.get('h').set('hp');
  f.get('out').set('op');
  if (grad) f.get('g').set('gp');
  f.forLt('row', 'rows', 1, () => {
    f.i32(0).set('j');
    f.forLt('j', 'nb', 16, () => {
      f.get('hp').get('j').i32Add().v128Load().set('v');
      f.get('hp').get('nb').i32Add().get('j').i32Add().v128Load().set('u');
      sigmoidInto(f, 'v', 'sg');
      if (!grad) {
        f.get('op').get('j').i32Add();
        f.get('v').get('sg').f32x4Mul().get('u').f32x4Mul().v128Store();
      } else {
        f.get('gp').get('j').i32Add().v128Load().set('e'); // e: the cotangent g (σ is in sg)
        f.get('op').get('j').i32Add();
        f.get('e').get('u').f32x4Mul().get('sg').f32x4Mul();
        f.get('cOne').get('v').get('cOne').get('sg').f32x4Sub().f32x4Mul().f32x4Add();
        f.f32x4Mul().v128Store();
        f.get('op').get('nb').i32Add().get('j').i32Add();
        f.get('e').get('v').f32x4Mul().get('sg').f32x4Mul().v128Store();
      }
    });
    f.get('hp').get('nb').i32(1).i32Shl().i32Add().set('hp');
    if (grad) {
      f.get('op').get('nb').i32(1).i32Shl().i32Add().set('op');
      f.get('gp').get('nb').i32Add().set('gp');
    } else {
      f.get('op').get('nb').i32Add().set('op');
    }
  });
  return f;
};

/**
 * RMS norm over `rows` rows of n values (no gain), and its VJP:
 * `rms_norm(x, out, rows, n, consts)` writes out = x·r, r = 1/√(Σx²·invN + eps);
 * `rms_norm_grad(g, x, out, rows, n, consts)` writes r·g − c·x with c = r³·invN·Σ g·x;
 * invN (1/n rounded to float32) and eps are the two f32 at address `consts`.
 * Sums run in four f32x4 lanes (added lane 0 + 1 + 2 + 3), then the scalar tail (n need not be a
 * multiple of 4; rows need no alignment).
 */
const rmsNormKernel = (grad: boolean): Fn => {
  const f = new Fn(grad ? 'rms_norm_grad' : 'rms_norm', [
    ...(grad ? ([['g', 'i32']] as const) : []),
    ['x', 'i32'],
    ['out', 'i32'],
    ['rows', 'i32'],
    ['n', 'i32'],
    ['consts', 'i32'],
  ])
    .locals('i32', 'row', 'j', 'nb', 'n4b', 'xp', 'op', 'gp')
    .locals('v128', 'acc', 'acc2', 'v', 'rv', 'cv')
    .locals('f32', 'ss', 'sgx', 'r', 'c', 's', 'invN', 'eps');
  // invN and eps come from memory (two f32 at `consts`): every argument stays an int32, as the
  // worker threads' job blocks carry them.
  f.get('consts').f32Load().set('invN');
  f.get('consts').f32Load(4).set('eps');
  f.get('n').i32(2).i32Shl().set('nb');
  f.get('n').i32(-4).i32And().i32(2).i32Shl().set('n4b');
  f.get('x').set('xp');
  f.get('out').set('op');
  if (grad) f.get('g').set('gp');
  const horizontal = (v: string, dst: string): void => {
    f.get(v).f32x4ExtractLane(0).get(v).f32x4ExtractLane(1).f32Add();
    f.get(v).f32x4ExtractLane(2).f32Add().get(v).f32x4ExtractLane(3).f32Add().set(dst);
  };
  f.forLt('row', 'rows', 1, () => {
    // Σx² (and Σg·x): vectors, then the tail.
    f.f32(0).f32x4Splat().tee('acc').set('acc2');
    f.i32(0).set('j');
    f.forLt('j', 'n4b', 16, () => {
      f.get('xp').get('j').i32Add().v128Load().set('v');
      f.get('acc').get('v').get('v').f32x4Mul().f32x4Add().set('acc');
      if (grad) f.get('acc2').get('gp').get('j').i32Add().v128Load().get('v').f32x4Mul().f32x4Add().set('acc2');
    });
    horizontal('acc', 'ss');
    if (grad) horizontal('acc2', 'sgx');
    f.forLt('j', 'nb', 4, () => {
      f.get('xp').get('j').i32Add().f32Load().set('s');
      f.get('ss').get('s').get('s').f32Mul().f32Add().set('ss');
      if (grad) f.get('sgx').get('gp').get('j').i32Add().f32Load().get('s').f32Mul().f32Add().set('sgx');
    });
    // r = 1/√(ss·invN + eps); c = r³·invN·Σg·x
    f.f32(1).get('ss').get('invN').f32Mul().get('eps').f32Add().f32Sqrt().f32Div().set('r');
    f.get('r').f32x4Splat().set('rv');
    if (grad) {
      f.get('r').get('r').f32Mul().get('r').f32Mul().get('invN').f32Mul().get('sgx').f32Mul().set('c');
      f.get('c').f32x4Splat().set('cv');
    }
    f.i32(0).set('j');
    f.forLt('j', 'n4b', 16, () => {
      f.get('op').get('j').i32Add();
      if (grad) {
        f.get('gp').get('j').i32Add().v128Load().get('rv').f32x4Mul();
        f.get('xp').get('j').i32Add().v128Load().get('cv').f32x4Mul().f32x4Sub();
      } else {
        f.get('xp').get('j').i32Add().v128Load().get('rv').f32x4Mul();
      }
      f.v128Store();
    });
    f.forLt('j', 'nb', 4, () => {
      f.get('op').get('j').i32Add();
      if (grad) {
        f.get('gp').get('j').i32Add().f32Load().get('r').f32Mul();
        f.get('xp').get('j').i32Add().f32Load().get('c').f32Mul().f32Sub();
      } else {
        f.get('xp').get('j').i32Add().f32Load().get('r').f32Mul();
      }
      f.f32Store();
    });
    f.get('xp').get('nb').i32Add().set('xp');
    f.get('op').get('nb').i32Add().set('op');
    if (grad) f.get('gp').get('nb').i32Add().set('gp');
  });
  return f;
};

/**
 * The kernel module's bytes (built once per process; see index.ts). `fma` builds the product's micro-kernel on f32x4.relaxed_madd, which needs
 * relaxed SIMD (on by default in V8 ≥ 11.4: Chrome 114, Node 22; Node 20 needs
 * --experimental-wasm-relaxed-simd, see relaxed-simd.ts). Every other kernel is the same in both.
 */
export const kernelModuleBytes = (opts: { readonly fma: boolean } = { fma: false }): Uint8Array =>
  assemble(
    [
      pack('packA', MR),
      pack('packB', NR),
      macro(opts.fma),
      ...ELEMENTWISE_OPS.flatMap((op) => [
        binary(op, 'vv'),
        binary(op, 'vs'),
        binary(op, 'sv'),
        binaryRow(op, false),
        binaryRow(op, true),
        binaryCol(op, false),
        binaryCol(op, true),
      ]),
      ...UNARY_OPS.map(unaryKernel),
      swigluKernel(false),
      swigluKernel(true),
      rmsNormKernel(false),
      rmsNormKernel(true),
    ],
    [{ offset: CONSTS, bytes: constantBytes() }],
  );

type BinaryExports = {
  readonly [K in `${ElementwiseOp}_${'vv' | 'vs' | 'sv'}`]: (a: number, b: number, out: number, n: number) => void;
};
type RowExports = {
  readonly [K in `${ElementwiseOp}_${'row' | 'rowr' | 'col' | 'colr'}`]: (
    a: number,
    b: number,
    out: number,
    rows: number,
    len: number,
  ) => void;
};
type UnaryExports = {
  readonly [K in `unary_${WasmUnaryOp}`]: (x: number, out: number, n: number) => void;
};

/** The exports of the kernel module, as index.ts calls them (addresses in bytes). */
export interface KernelExports extends BinaryExports, RowExports, UnaryExports {
  packA(src: number, sInner: number, sOuter: number, total: number, kc: number, dst: number): void;
  packB(src: number, sInner: number, sOuter: number, total: number, kc: number, dst: number): void;
  macro(
    Ap: number,
    Bp: number,
    C: number,
    mc: number,
    nc: number,
    kc: number,
    ldc: number,
    acc: number,
    T: number,
  ): void;
  swiglu(h: number, out: number, rows: number, inter: number): void;
  swiglu_grad(g: number, h: number, out: number, rows: number, inter: number): void;
  rms_norm(x: number, out: number, rows: number, n: number, consts: number): void;
  rms_norm_grad(g: number, x: number, out: number, rows: number, n: number, consts: number): void;
}
