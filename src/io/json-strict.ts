/**
 * A strict JSON parser for headers written by strangers: duplicate keys are an error rather than
 * "last one wins", objects become `Map`s (so a key like `__proto__` is just a string), nesting is
 * bounded, and every failure is a `Left` with a one-line reason instead of a throw.
 */
import * as E from 'fp-ts/lib/Either.js';
import { preview } from './errors.js';

/** A parsed JSON value. Objects are `Map`s: insertion-ordered, and immune to `__proto__` keys. */
export type Json = null | boolean | number | string | readonly Json[] | ReadonlyMap<string, Json>;

class JsonSyntaxError extends Error {}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/**
 * RFC 8259 JSON, strictly: no duplicate keys in an object, no lone surrogate escapes (they would
 * not survive a round trip through UTF-8), nesting at most `maxDepth` deep (so hostile input
 * cannot exhaust the stack). `JSON.parse` silently keeps the last of duplicate keys, which would
 * let two readers of one file disagree about its contents.
 *
 * @internal exported for the fuzz tests.
 */
export const parseStrictJson = (text: string, maxDepth = 64): E.Either<string, Json> => {
  let pos = 0;
  const syntax = (what: string): never => {
    throw new JsonSyntaxError(`${what} at character ${pos}`);
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };
  const expect = (ch: string): void => {
    skipWs();
    if (text[pos] !== ch) syntax(pos >= text.length ? `expected '${ch}', got end of text` : `expected '${ch}'`);
    pos++;
  };
  const hex4 = (): number => {
    const h = text.slice(pos, pos + 4);
    if (!HEX4.test(h)) syntax('invalid \\u escape');
    pos += 4;
    return parseInt(h, 16);
  };
  const str = (): string => {
    pos++; // opening quote
    let out = '';
    let run = pos;
    for (;;) {
      if (pos >= text.length) syntax('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(run, pos);
        pos++;
        return out;
      }
      if (c < 0x20) syntax('control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(run, pos);
      const esc = text[pos + 1] ?? '';
      pos += 2;
      if (esc !== 'u') {
        const simple = Object.hasOwn(SIMPLE_ESCAPES, esc) ? SIMPLE_ESCAPES[esc] : undefined;
        out += simple ?? syntax('invalid escape');
      } else {
        const u = hex4();
        if (u >= 0xdc00 && u <= 0xdfff) syntax('lone low surrogate escape');
        if (u >= 0xd800 && u <= 0xdbff) {
          if (text[pos] !== '\\' || text[pos + 1] !== 'u') syntax('lone high surrogate escape');
          pos += 2;
          const lo = hex4();
          if (lo < 0xdc00 || lo > 0xdfff) syntax('lone high surrogate escape');
          out += String.fromCharCode(u, lo);
        } else out += String.fromCharCode(u);
      }
      run = pos;
    }
  };
  const literal = (word: string, v: Json): Json => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return v;
    }
    return syntax('invalid literal');
  };
  const num = (): number => {
    NUMBER.lastIndex = pos;
    const m = NUMBER.exec(text);
    if (m === null) return syntax('invalid number');
    pos += m[0].length;
    return Number(m[0]);
  };
  const obj = (depth: number): ReadonlyMap<string, Json> => {
    pos++;
    const out = new Map<string, Json>();
    skipWs();
    if (text[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      skipWs();
      if (text[pos] !== '"') syntax('expected a string key');
      const keyAt = pos;
      const key = str();
      if (out.has(key)) {
        pos = keyAt;
        syntax(`duplicate key ${preview(key)}`);
      }
      expect(':');
      out.set(key, value(depth));
      skipWs();
      const c = text[pos];
      pos++;
      if (c === '}') return out;
      if (c !== ',') {
        pos--;
        syntax("expected ',' or '}'");
      }
    }
  };
  const arr = (depth: number): readonly Json[] => {
    pos++;
    const out: Json[] = [];
    skipWs();
    if (text[pos] === ']') {
      pos++;
      return out;
    }
    for (;;) {
      out.push(value(depth));
      skipWs();
      const c = text[pos];
      pos++;
      if (c === ']') return out;
      if (c !== ',') {
        pos--;
        syntax("expected ',' or ']'");
      }
    }
  };
  const value = (depth: number): Json => {
    skipWs();
    if (depth >= maxDepth && (text[pos] === '{' || text[pos] === '[')) syntax(`nesting deeper than ${maxDepth}`);
    switch (text[pos]) {
      case '{':
        return obj(depth + 1);
      case '[':
        return arr(depth + 1);
      case '"':
        return str();
      case 't':
        return literal('true', true);
      case 'f':
        return literal('false', false);
      case 'n':
        return literal('null', null);
      case undefined:
        return syntax('unexpected end of text');
      default: {
        const c = text.charCodeAt(pos);
        return c === 0x2d || (c >= 0x30 && c <= 0x39) ? num() : syntax(`unexpected character ${preview(text[pos])}`);
      }
    }
  };
  try {
    const v = value(0);
    skipWs();
    if (pos < text.length) syntax('unexpected text after the value');
    return E.right(v);
  } catch (e) {
    if (e instanceof JsonSyntaxError) return E.left(e.message);
    throw e;
  }
};

/** A JSON value with objects as null-prototype records, the shape io-ts codecs inspect. */
export const toPlain = (j: Json): unknown => {
  if (j instanceof Map) {
    const o: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const [k, v] of j) Object.defineProperty(o, k, { value: toPlain(v), enumerable: true, writable: false });
    return o;
  }
  return Array.isArray(j) ? j.map(toPlain) : j;
};
