/**
 * Safetensors by example: the official PyTorch traces, hand-built files, and the atomic writer.
 * The fuzz laws live in spec/safetensors.spec.ts.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/io/atomic.js';
import { formatBoundaryError } from '../src/io/errors.js';
import {
  type SafetensorsFile,
  type StWriteEntry,
  decodeSafetensors,
  encodeSafetensors,
  readSafetensors,
  swapBytesInPlace,
  tryEncodeSafetensors,
  writeSafetensors,
} from '../src/io/safetensors.js';
import { storage, tensor, toArray } from '../src/tensor/tensor.js';

const dir = 'test/fixtures/official';
const fixtures = readdirSync(dir)
  .filter((f) => f.endsWith('.safetensors'))
  .sort();

const right = <A>(r: E.Either<unknown, A>): A => {
  if (E.isLeft(r)) throw new Error(`expected Right, got ${JSON.stringify(r.left)}`);
  return r.right;
};

const headerOf = (bytes: Uint8Array): { readonly n: number; readonly json: Record<string, unknown> } => {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { n, json: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown> };
};

/** Hand-assembles a file from header JSON text and data bytes, with an honest length prefix. */
const assemble = (header: string, data: ArrayLike<number> = []): Uint8Array => {
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, h.length, true);
  out.set(h, 8);
  out.set(Array.from(data), 8 + h.length);
  return out;
};

const leftOf = (bytes: Uint8Array) => {
  const r = decodeSafetensors(bytes, 'x.safetensors');
  if (E.isRight(r)) throw new Error('expected Left');
  return r.left;
};

describe('official trace fixtures (trm-trace/2)', () => {
  it('are all present', () => {
    expect(fixtures.length).toBe(6);
  });

  /** Tensor counts as counted by Python's json module over the same files. */
  const counts: Record<string, number> = {
    'act_continue_train.safetensors': 178,
    'arc_attn_rope_eval.safetensors': 103,
    'arc_attn_rope_train.safetensors': 168,
    'maze_attn_learned_train.safetensors': 135,
    'sudoku_mlp_eval.safetensors': 113,
    'sudoku_mlp_train.safetensors': 258,
  };

  it.each(fixtures)('%s decodes with the expected metadata, dtypes and shapes', (name) => {
    const st = right(readSafetensors(join(dir, name)));
    expect(st.metadata.format).toBe('trm-trace/2');
    expect(st.metadata.case).toBe(name.replace('.safetensors', ''));
    expect(st.tensors.size).toBe(counts[name]);
    expect(st.dtypes.size).toBe(st.tensors.size);

    const bias = st.tensors.get('params/inner.q_head.bias')!;
    expect(st.dtypes.get('params/inner.q_head.bias')).toBe('F32');
    expect(bias.dtype).toBe('float32');
    expect(bias.shape).toEqual([2]);

    const halted = st.tensors.get('step/0/halted')!;
    expect(st.dtypes.get('step/0/halted')).toBe('U8');
    expect(halted.dtype).toBe('int32');
    expect(toArray(halted).every((v) => v === 0 || v === 1)).toBe(true);

    const loss = st.tensors.get('step/0/loss')!;
    expect(st.dtypes.get('step/0/loss')).toBe('F64');
    expect(loss.dtype).toBe('float64');
    expect(loss.shape).toEqual([1]);
    expect(Number.isFinite(loss.data[0])).toBe(true);

    expect(st.dtypes.get('batch/inputs')).toBe('I32');
    expect(st.tensors.get('batch/inputs')!.dtype).toBe('int32');
  });

  it('match values read independently with Python struct.unpack', () => {
    const st = right(readSafetensors(join(dir, 'sudoku_mlp_train.safetensors')));
    const at = (k: string): number[] => toArray(st.tensors.get(k)!);
    expect(at('params/inner.q_head.bias')).toEqual([-0.25, 0]);
    expect(at('step/0/loss')).toEqual([5.897039159942933]);
    expect(at('step/0/lm_loss')).toEqual([4.857615932632752]);
    expect(at('step/3/halted')).toEqual([0, 1, 1]);
    expect(at('batch/inputs').slice(0, 16)).toEqual([1, 2, 5, 1, 2, 5, 2, 4, 0, 4, 3, 4, 4, 0, 1, 2]);
    const w = st.tensors.get('params/inner.q_head.weight')!;
    expect(w.shape).toEqual([2, 32]);
    expect(toArray(w).slice(0, 3)).toEqual([-0.006066638045012951, 0.0375865213572979, -0.00946909561753273]);
    expect(toArray(w).reduce((a, b) => a + b, 0)).toBeCloseTo(-0.5051094590089633, 12);
    const act = right(readSafetensors(join(dir, 'act_continue_train.safetensors')));
    expect(toArray(act.tensors.get('step/2/halted')!)).toEqual([1, 0, 1]);
  });

  it.each(fixtures)('%s re-encodes to the same data bytes and decodes to the same tensors', (name) => {
    const bytes = readFileSync(join(dir, name));
    const st = right(decodeSafetensors(bytes, name));
    const { n, json } = headerOf(bytes);
    // Re-encode in the file's own data order, with each tensor's original dtype.
    const order = [...st.tensors.keys()].sort(
      (a, b) =>
        (json[a] as { data_offsets: number[] }).data_offsets[0]! -
        (json[b] as { data_offsets: number[] }).data_offsets[0]!,
    );
    const entries: StWriteEntry[] = order.map((k) => ({
      name: k,
      tensor: st.tensors.get(k)!,
      dtype: st.dtypes.get(k)!,
    }));
    const re = encodeSafetensors(entries, st.metadata);
    const h2 = headerOf(re);
    expect((8 + h2.n) % 8).toBe(0);
    expect(Buffer.from(re.subarray(8 + h2.n)).equals(bytes.subarray(8 + n))).toBe(true);
    expect(h2.json).toEqual(json);

    const back = right(decodeSafetensors(re, 're-encoded'));
    expect([...back.tensors.keys()]).toEqual(order);
    expect({ ...back.metadata }).toEqual({ ...st.metadata });
    for (const [k, t] of st.tensors) {
      const u = back.tensors.get(k)!;
      expect(u.dtype).toBe(t.dtype);
      expect(u.shape).toEqual(t.shape);
      expect(back.dtypes.get(k)).toBe(st.dtypes.get(k));
      const a = storage(t);
      const b = storage(u);
      expect(
        Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(Buffer.from(a.buffer, a.byteOffset, a.byteLength)),
      ).toBe(true);
    }
  });

  it('decode returns fresh, aligned copies even from an unaligned source', () => {
    const bytes = readFileSync(join(dir, 'sudoku_mlp_eval.safetensors'));
    const shifted = new Uint8Array(bytes.length + 3);
    shifted.set(bytes, 3);
    const view = shifted.subarray(3);
    const a = right(decodeSafetensors(bytes, 'a'));
    const b = right(decodeSafetensors(view, 'b'));
    for (const [k, t] of a.tensors) {
      const s = storage(b.tensors.get(k)!);
      expect(s.byteOffset).toBe(0);
      expect(s.buffer).not.toBe(shifted.buffer);
      expect(toArray(b.tensors.get(k)!)).toEqual(toArray(t));
    }
  });
});

describe('readSafetensors errors', () => {
  it('names a missing file', () => {
    const path = 'test/fixtures/official/does-not-exist.safetensors';
    const r = readSafetensors(path);
    expect(E.isLeft(r)).toBe(true);
    if (E.isLeft(r)) {
      expect(r.left.file).toBe(path);
      expect(r.left.field).toBe('file');
      const line = formatBoundaryError(r.left);
      expect(line.startsWith(`${path}: file: `)).toBe(true);
      expect(line).toContain('ENOENT');
      expect(line).not.toContain('\n');
    }
  });

  it('names a directory given as a file', () => {
    const r = readSafetensors(dir);
    expect(E.isLeft(r) && r.left.file === dir).toBe(true);
  });
});

describe('decodeSafetensors examples', () => {
  it('decodes a minimal hand-made file of every dtype', () => {
    const cases: [string, number[], number[], string][] = [
      ['F16', [0x00, 0x3c, 0x00, 0xc0], [1, -2], 'float32'],
      ['BF16', [0x80, 0x3f, 0x00, 0xc0], [1, -2], 'float32'],
      ['I64', [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0, 0, 0, 0, 0], [-1, 7], 'int32'],
      ['U64', [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0], [0x7fffffff, 7], 'int32'],
      ['U32', [0xff, 0xff, 0xff, 0x7f, 7, 0, 0, 0], [0x7fffffff, 7], 'int32'],
      ['I16', [0xff, 0xff, 0x00, 0x80], [-1, -32768], 'int32'],
      ['U16', [0xff, 0xff, 0x00, 0x80], [65535, 32768], 'int32'],
      ['I8', [0xff, 0x80], [-1, -128], 'int32'],
      ['U8', [0xff, 0x80], [255, 128], 'int32'],
      ['BOOL', [1, 0], [1, 0], 'int32'],
    ];
    for (const [dtype, data, values, loaded] of cases) {
      const bytes = assemble(`{"t":{"dtype":"${dtype}","shape":[2],"data_offsets":[0,${data.length}]}}`, data);
      const st = right(decodeSafetensors(bytes, dtype));
      expect(st.dtypes.get('t')).toBe(dtype);
      expect(st.tensors.get('t')!.dtype).toBe(loaded);
      expect(toArray(st.tensors.get('t')!)).toEqual(values);
    }
  });

  it('accepts an empty header object, padding spaces, and zero-size tensors', () => {
    expect(right(decodeSafetensors(assemble('{}'), 'e')).tensors.size).toBe(0);
    expect(right(decodeSafetensors(assemble('{}      '), 'e')).tensors.size).toBe(0);
    const st = right(
      decodeSafetensors(
        assemble(
          '{"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]},"b":{"dtype":"I64","shape":[4,0],"data_offsets":[0,0]}}',
        ),
        'z',
      ),
    );
    expect(st.tensors.get('a')!.shape).toEqual([0, 3]);
    expect(st.tensors.get('b')!.size).toBe(0);
  });

  it('keeps header order, including integer-like names', () => {
    const st = right(
      decodeSafetensors(
        assemble(
          '{"b":{"dtype":"U8","shape":[],"data_offsets":[1,2]},"10":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"2":{"dtype":"U8","shape":[],"data_offsets":[2,3]}}',
          [10, 11, 12],
        ),
        'o',
      ),
    );
    expect([...st.tensors.keys()]).toEqual(['b', '10', '2']);
    expect(toArray(st.tensors.get('10')!)).toEqual([10]);
  });

  it('treats __proto__ and constructor as ordinary tensor and metadata names', () => {
    const before = Object.getOwnPropertyNames(Object.prototype).sort();
    const st = right(
      decodeSafetensors(
        assemble(
          '{"__metadata__":{"__proto__":"x","constructor":"y"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"constructor":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}',
          [5, 6],
        ),
        'p',
      ),
    );
    expect(toArray(st.tensors.get('__proto__')!)).toEqual([5]);
    expect(toArray(st.tensors.get('constructor')!)).toEqual([6]);
    expect(Object.getOwnPropertyDescriptor(st.metadata, '__proto__')?.value).toBe('x');
    expect(st.metadata.constructor).toBe('y');
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(before);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('gives one-line errors that name the field at fault', () => {
    const cases: [Uint8Array, string, RegExp][] = [
      [new Uint8Array(3), 'header length', /fewer than the 8-byte/],
      [
        (() => {
          const b = new Uint8Array(16);
          new DataView(b.buffer).setBigUint64(0, 1n << 63n, true);
          return b;
        })(),
        'header length',
        /9223372036854775808/,
      ],
      [assemble('[]'), 'header', /expected a JSON object, got an array/],
      [assemble('{"a":1,"a":2}'), 'header', /duplicate key "a"/],
      [assemble('{"t":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', [0]), '"t".dtype', /expected one of F64/],
      [
        assemble('{"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', [0]),
        '"t".shape[0]',
        /non-negative safe integer, got -1/,
      ],
      [assemble('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":0}}', [0]), '"t"', /unexpected field "x"/],
      [assemble('{"t":{"dtype":"U8","shape":[1]}}', [0]), '"t".data_offsets', /got nothing/],
      [
        assemble('{"t":{"dtype":"U8","shape":[1],"data_offsets":[0,2]}}', [0]),
        '"t".data_offsets',
        /past the 1-byte data section/,
      ],
      [
        assemble('{"t":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}}', [0]),
        '"t".data_offsets',
        /begin 1 is after end 0/,
      ],
      [
        assemble('{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', [0, 0, 0, 0]),
        '"t"',
        /does not fill the 4 bytes/,
      ],
      [assemble('{"t":{"dtype":"U8","shape":[2,0],"data_offsets":[0,2]}}', [0, 0]), '"t"', /does not fill the 2 bytes/],
      [
        assemble('{"t":{"dtype":"U8","shape":[0,1099511627776,1099511627776],"data_offsets":[0,0]}}'),
        '"t".shape',
        /product exceeds 2\^53/,
      ],
      [
        assemble(
          '{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}',
          [0, 0, 0],
        ),
        '"b".data_offsets',
        /overlaps "a"/,
      ],
      [
        assemble('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', [0, 0]),
        '"a".data_offsets',
        /leaving bytes \[0, 1\) unused/,
      ],
      [assemble('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', [0, 0]), 'data', /1 trailing bytes/],
      [
        assemble('{"t":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}', [0, 0, 0, 0, 1, 0, 0, 0]),
        '"t"',
        /I64 value 4294967296 at flat index 0 does not fit int32/,
      ],
      [assemble('{"t":{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}}', [2]), '"t"', /not a bool/],
      [assemble('{"__metadata__":{"a":1}}'), '__metadata__.a', /expected string, got 1/],
      [assemble('{"__metadata__":[]}'), '__metadata__', /expected an object of strings/],
      [assemble('{"a":"\\ud800"}'), 'header', /lone high surrogate/],
      [assemble('\ufeff{}'), 'header', /unexpected character/],
      [
        (() => {
          const b = assemble('{"a":""}');
          b[14] = 0xff;
          return b;
        })(),
        'header',
        /UTF-8/,
      ],
    ];
    for (const [bytes, field, message] of cases) {
      const e = leftOf(bytes);
      expect(e.field, `${field} ${message}`).toBe(field);
      expect(e.message).toMatch(message);
      expect(e.file).toBe('x.safetensors');
      expect(formatBoundaryError(e)).toBe(`x.safetensors: ${field}: ${e.message}`);
    }
  });
});

describe('encodeSafetensors examples', () => {
  it('writes the reference layout: padded header, given key order, metadata first', () => {
    const bytes = encodeSafetensors(
      [
        { name: 'z', tensor: tensor([1, 2], [2]) },
        { name: 'a', tensor: tensor([3], [1], { dtype: 'int32' }), dtype: 'U8' },
      ],
      { format: 'pt' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text.trimEnd()).toBe(
      '{"__metadata__":{"format":"pt"},"z":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}',
    );
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    expect([...bytes.subarray(8 + n)]).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 3]);
  });

  it('refuses entries it cannot write faithfully', () => {
    const f = tensor([1.5], [1]);
    const i = tensor([300], [1], { dtype: 'int32' });
    const cases: [StWriteEntry[], Record<string, string>, RegExp][] = [
      [
        [
          { name: 'a', tensor: f },
          { name: 'a', tensor: f },
        ],
        {},
        /duplicate tensor name/,
      ],
      [[{ name: '__metadata__', tensor: f }], {}, /reserved/],
      [[{ name: 'a', tensor: f, dtype: 'I32' }], {}, /float32 tensor cannot be written as "I32"/],
      [[{ name: 'a', tensor: i, dtype: 'F32' }], {}, /int32 tensor cannot be written as "F32"/],
      [[{ name: 'a', tensor: i, dtype: 'U8' }], {}, /value 300 at flat index 0 does not fit U8/],
      [[{ name: 'a', tensor: i, dtype: 'BOOL' }], {}, /does not fit BOOL/],
      [[{ name: '\ud800', tensor: f }], {}, /not a well-formed string/],
      [[], { k: '\udc00' }, /well-formed string/],
      [[], { k: 5 as unknown as string }, /got 5/],
    ];
    for (const [entries, meta, message] of cases) {
      const r = tryEncodeSafetensors(entries, meta);
      expect(E.isLeft(r) && message.test(r.left.message), String(message)).toBe(true);
      expect(() => encodeSafetensors(entries, meta)).toThrow(message);
    }
  });

  it('swapBytesInPlace reverses each element (the big-endian host path)', () => {
    const b = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    swapBytesInPlace(b, 4);
    expect([...b]).toEqual([4, 3, 2, 1, 8, 7, 6, 5]);
    swapBytesInPlace(b, 8);
    expect([...b]).toEqual([5, 6, 7, 8, 1, 2, 3, 4]);
  });
});

describe('writeSafetensors and writeFileAtomic', () => {
  const root = mkdtempSync(join(tmpdir(), 'trm-st-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const leftovers = (d: string): string[] => readdirSync(d).filter((f) => f.includes('.tmp-'));

  it('writes into new directories, overwrites, and leaves no temporary files', () => {
    const path = join(root, 'a', 'b', 'ckpt.safetensors');
    const entries: StWriteEntry[] = [{ name: 'w', tensor: tensor([1, 2, 3, 4], [2, 2]) }];
    right(writeSafetensors(path, entries, { step: '1' }));
    right(writeSafetensors(path, [{ name: 'w', tensor: tensor([5, 6], [2]) }], { step: '2' }));
    const st: SafetensorsFile = right(readSafetensors(path));
    expect(st.metadata.step).toBe('2');
    expect(toArray(st.tensors.get('w')!)).toEqual([5, 6]);
    expect(leftovers(join(root, 'a', 'b'))).toEqual([]);
  });

  it('writes strings as UTF-8', () => {
    const path = join(root, 'note.txt');
    right(writeFileAtomic(path, 'héllo\n'));
    expect(readFileSync(path, 'utf8')).toBe('héllo\n');
  });

  it('reports failures as values and cleans up', () => {
    const blocker = join(root, 'file');
    writeFileSync(blocker, 'x');
    const under = writeFileAtomic(join(blocker, 'sub', 'x.bin'), new Uint8Array(1));
    expect(E.isLeft(under) && under.left.field === 'mkdir').toBe(true);
    if (E.isLeft(under)) expect(formatBoundaryError(under.left)).toContain(join(blocker, 'sub', 'x.bin'));

    const asDir = join(root, 'dir');
    mkdirSync(join(asDir, 'inner'), { recursive: true });
    const onto = writeFileAtomic(join(asDir, 'inner'), new Uint8Array(4));
    expect(E.isLeft(onto) && onto.left.field === 'rename').toBe(true);
    expect(leftovers(asDir)).toEqual([]);
    expect(existsSync(join(asDir, 'inner'))).toBe(true);

    const st = writeSafetensors(join(blocker, 'x.safetensors'), [{ name: 'a', tensor: tensor([1], [1]) }]);
    expect(E.isLeft(st) && st.left.file === join(blocker, 'x.safetensors') && st.left.field === 'file').toBe(true);
    const bad = writeSafetensors(join(root, 'bad.safetensors'), [{ name: '__metadata__', tensor: tensor([1], [1]) }]);
    expect(E.isLeft(bad) && bad.left.file === join(root, 'bad.safetensors')).toBe(true);
    expect(existsSync(join(root, 'bad.safetensors'))).toBe(false);
  });
});

describe('data_offsets must be exactly a pair', () => {
  it('rejects [0, 1, 2] (io-ts tuples alone would drop the extra element)', async () => {
    const { decodeSafetensors: decode } = await import('../src/io/safetensors.js');
    const header = new TextEncoder().encode('{"w":{"dtype":"I8","shape":[],"data_offsets":[0,1,2]}}');
    const bytes = new Uint8Array(8 + header.length + 1);
    new DataView(bytes.buffer).setUint32(0, header.length, true);
    bytes.set(header, 8);
    const r = decode(bytes, 'three.safetensors');
    expect(r._tag).toBe('Left');
    if (r._tag === 'Left') expect(r.left.message).toMatch(/exactly two offsets/);
  });
});
