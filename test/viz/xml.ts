/** A tiny well-formedness checker for the SVG we emit (no DOM in Node). */
export const checkXml = (xml: string): string[] => {
  const errors: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  let i = 0;
  const textOk = (t: string, where: number): void => {
    if (t.includes('>')) errors.push(`raw '>' in text at ${where}`);
    const amp = /&(?!(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/.exec(t);
    if (amp !== null) errors.push(`bare '&' at ${where + amp.index}`);
  };
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const chunk = lt < 0 ? xml.slice(i) : xml.slice(i, lt);
    textOk(chunk, i);
    if (stack.length === 0 && chunk.trim() !== '') errors.push(`text outside root at ${i}`);
    if (lt < 0) break;
    const gt = xml.indexOf('>', lt);
    if (gt < 0) {
      errors.push(`unterminated tag at ${lt}`);
      break;
    }
    const tag = xml.slice(lt + 1, gt);
    if (tag.includes('<')) errors.push(`'<' inside tag at ${lt}`);
    if (tag.startsWith('?') || tag.startsWith('!--')) {
      i = gt + 1;
      continue;
    }
    const m = /^(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)$/.exec(tag);
    if (m === null) {
      errors.push(`malformed tag <${tag.slice(0, 60)}> at ${lt}`);
      i = gt + 1;
      continue;
    }
    const [, close, name, attrs, selfClose] = m;
    textOk(attrs ?? '', lt);
    if (close === '/') {
      const open = stack.pop();
      if (open !== name) errors.push(`</${name}> closes <${open ?? 'nothing'}> at ${lt}`);
    } else {
      if (stack.length === 0) roots++;
      if (selfClose !== '/') stack.push(name ?? '');
    }
    i = gt + 1;
  }
  if (stack.length > 0) errors.push(`unclosed: ${stack.join(' > ')}`);
  if (roots !== 1) errors.push(`expected one root element, got ${roots}`);
  return errors;
};
