// A cheap bound on an XML document before a DOM or object tree is built from
// it: size, element count and nesting depth, in one linear pass over the text
// (indexOf jumps, no allocation). It is not a validator: the real parser still
// decides well-formedness. It also refuses markup declarations: no entity can
// be declared, so none can expand. A DOCTYPE is either refused outright
// (SOAP, SyncML) or allowed only without an internal subset (Apple plists
// carry `<!DOCTYPE plist PUBLIC ... "...PropertyList-1.0.dtd">`; the DTD is
// never fetched).

export class XmlBoundsError extends Error {}

export interface XmlBounds {
  maxBytes: number;
  maxDepth: number;
  maxElements: number;
  doctype: 'refuse' | 'external-only';
}

const refuse = (why: string): never => {
  throw new XmlBoundsError(why);
};

/** Index just past `close` searched from `from`, or a refusal naming what was left open. */
function past(text: string, close: string, from: number, what: string): number {
  const end = text.indexOf(close, from);
  if (end < 0) refuse(`unterminated ${what}`);
  return end + close.length;
}

/** Index of the `>` that ends the tag starting at `from`, skipping quoted attribute values. */
function tagEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text[i];
    if (c === '>') return i;
    if (c === '"' || c === "'") {
      i = text.indexOf(c, i + 1);
      if (i < 0) break;
    }
  }
  return refuse('unterminated tag');
}

function doctype(text: string, at: number, b: XmlBounds): number {
  if (b.doctype === 'refuse') refuse('DOCTYPE is not allowed');
  const end = tagEnd(text, at);
  if (text.slice(at, end).includes('[')) refuse('a DOCTYPE with an internal subset is not allowed');
  return end + 1;
}

/** Throws XmlBoundsError when the document exceeds a bound or declares markup. */
export function checkXmlBounds(text: string, b: XmlBounds): void {
  if (text.length > b.maxBytes || Buffer.byteLength(text, 'utf8') > b.maxBytes) refuse(`larger than ${b.maxBytes} bytes`);
  let depth = 0;
  let elements = 0;
  let i = text.indexOf('<');
  while (i >= 0) {
    if (text.startsWith('<!--', i)) i = past(text, '-->', i + 4, 'comment');
    else if (text.startsWith('<![CDATA[', i)) i = past(text, ']]>', i + 9, 'CDATA section');
    else if (text.startsWith('<?', i)) i = past(text, '?>', i + 2, 'processing instruction');
    else if (/^<!DOCTYPE/i.test(text.slice(i, i + 9))) i = doctype(text, i, b);
    else if (text.startsWith('<!', i)) refuse('markup declarations (ENTITY, ELEMENT, ...) are not allowed');
    else if (text[i + 1] === '/') {
      depth = Math.max(0, depth - 1);
      i = tagEnd(text, i) + 1;
    } else {
      if (++elements > b.maxElements) refuse(`more than ${b.maxElements} elements`);
      const end = tagEnd(text, i);
      if (text[end - 1] !== '/' && ++depth > b.maxDepth) refuse(`nested deeper than ${b.maxDepth}`);
      i = end + 1;
    }
    i = text.indexOf('<', i);
  }
}
