/**
 * JSON objects in file order. JavaScript objects list integer-like keys ("22168020") before all
 * others, but the official builders iterate Python dicts in file order (which decides shuffles and
 * test_puzzles.json order, §3.2, §3.7), and ARC-1 has such ids. So top-level objects are read and
 * written as ordered entry lists.
 */

/** The keys of the top-level JSON object in `text`, in file order (assumes `text` is valid JSON). */
export const topLevelKeys = (text: string): string[] => {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        keys.push(JSON.parse(text.slice(i, j + 1)) as string);
        expectKey = false;
      }
      i = j;
    } else if (ch === '{' || ch === '[') {
      depth++;
      if (depth === 1 && ch === '{') expectKey = true;
    } else if (ch === '}' || ch === ']') depth--;
    else if (ch === ',' && depth === 1) expectKey = true;
  }
  return keys;
};

/** Entries of a parsed top-level object, in the order of `text`. */
export const orderedEntries = (text: string, parsed: Record<string, unknown>): [string, unknown][] =>
  topLevelKeys(text).map((k) => [k, parsed[k]]);

/** Serialises ordered entries as one JSON object, keeping the order. */
export const stringifyEntries = (entries: readonly (readonly [string, unknown])[]): string =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(', ')}}`;
