/**
 * Pictures on disk: every SVG is written with a PNG beside it (rendered by resvg at twice the
 * SVG's size), each file atomically (a temporary name, then a rename).
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileAtomic } from '../io/atomic.js';

type ResvgModule = typeof import('@resvg/resvg-js');

/** resvg, loaded when a picture is drawn (Node caches it): its native build is an optional, per-platform package. */
const loadResvg = (): ResvgModule => createRequire(import.meta.url)('@resvg/resvg-js') as ResvgModule;

/** The PNG of an SVG document, at `scale` times its size, with the system's fonts. */
export const renderPng = (svg: string, scale = 2): Uint8Array =>
  new (loadResvg().Resvg)(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();

/**
 * Writes `name.svg` and `name.png` under `dir` for each picture; returns the files written, or the
 * first file that could not be written.
 */
export const writePictures = (
  dir: string,
  pictures: readonly (readonly [name: string, svg: string])[],
): E.Either<string, string[]> => {
  const written: string[] = [];
  for (const [name, svg] of pictures) {
    let png: Uint8Array;
    try {
      png = renderPng(svg);
    } catch (e) {
      return E.left(
        `${join(dir, `${name}.png`)}: cannot render the PNG (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`,
      );
    }
    for (const [file, bytes] of [
      [join(dir, `${name}.svg`), svg],
      [join(dir, `${name}.png`), png],
    ] as const) {
      const w = writeFileAtomic(file, bytes);
      if (E.isLeft(w)) return E.left(`${file}: ${w.left.message}`);
      written.push(file);
    }
  }
  return E.right(written);
};
