/**
 * Model configs from files: YAML or JSON with the official keys, either flat (arch/trm.yaml style)
 * or a run's all_config.yaml with an `arch:` section.
 */
import { readFileSync } from 'node:fs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { parse as parseYaml } from 'yaml';
import { formatBoundaryError } from '../io/errors.js';
import { type TrmConfig, decodeConfig } from '../trm/config.js';

/**
 * A parsed config document: a mapping of official keys, flat or with an `arch:` section. `extra`
 * fills keys the document does not set (values inferred elsewhere, e.g. from weight shapes).
 */
const configFromDoc = (doc: unknown, source: string, extra: Record<string, unknown>): E.Either<string, TrmConfig> => {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return E.left(`${source}: expected a mapping of config keys`);
  const rec = doc as Record<string, unknown>;
  const arch =
    typeof rec.arch === 'object' && rec.arch !== null ? { ...rec, ...(rec.arch as Record<string, unknown>) } : rec;
  return pipe(decodeConfig({ ...extra, ...arch }, source), E.mapLeft(formatBoundaryError));
};

/** A YAML or JSON file's document (JSON when the name ends in .json). */
const readDocFile = (file: string): E.Either<string, unknown> => {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return E.left(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return E.right(file.endsWith('.json') ? JSON.parse(text) : parseYaml(text));
  } catch (e) {
    return E.left(
      `${file}: not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
};

/**
 * A `--flag JSON|FILE` argument: inline JSON when it starts with `{`, else a YAML or JSON file.
 * `source` is what errors name: the flag for inline JSON, else the file.
 */
export const readDocArg = (arg: string, flag: string): E.Either<string, { doc: unknown; source: string }> => {
  if (!arg.trimStart().startsWith('{'))
    return pipe(
      readDocFile(arg),
      E.map((doc) => ({ doc, source: arg })),
    );
  try {
    return E.right({ doc: JSON.parse(arg), source: flag });
  } catch (e) {
    return E.left(`${flag}: not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
};

/** A YAML or JSON config file; `extra` fills keys the file does not set. */
export const readConfigFile = (file: string, extra: Record<string, unknown> = {}): E.Either<string, TrmConfig> =>
  pipe(
    readDocFile(file),
    E.chain((doc) => configFromDoc(doc, file, extra)),
  );

/** A `--config JSON|FILE` argument; errors name the source (`--config` for inline JSON) and the field. */
export const readConfigArg = (arg: string): E.Either<string, TrmConfig> =>
  pipe(
    readDocArg(arg, '--config'),
    E.chain(({ doc, source }) => configFromDoc(doc, source, {})),
  );
