import { XMLParser } from 'fast-xml-parser';
import { WINDOWS_XML_LIMITS } from '../../core/input-limits.js';
import { XmlBoundsError, checkXmlBounds } from '../../core/xml-bounds.js';

// Safe XML reading for the SOAP (MS-MDE2) and SyncML (MS-MDM) messages.
// Devices are untrusted: no DTDs (a `<!DOCTYPE` is refused outright, so no
// entity expansion or external entities can happen), entity processing in the
// parser is off, and only the five predefined XML entities plus numeric
// character references are decoded here, by hand. Namespace prefixes are
// dropped: the Windows client's messages mix prefixes freely (s:, a:, wsse:,
// wst:, ac:), and the element names alone identify what we need. Size,
// element count and depth are bounded by a pre-scan (core/xml-bounds.ts,
// values in core/input-limits.ts) before fast-xml-parser builds anything.

export interface El {
  name: string; // local name, prefix removed
  attrs: Record<string, string>; // local names, prefix removed
  children: El[];
  text: string; // concatenated direct text, trimmed
}

export class XmlError extends Error {}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: true,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
  // No callback of ours reads the element path: without this the parser
  // builds the path string for every element it passes to the (default)
  // callbacks, about a seventh of its time on a 6 KB SyncML message (issue 13).
  jPath: false,
});

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** A character reference's character; one XML 1.0 does not allow (NUL, surrogates, past U+10FFFF) is an error, not a RangeError (fuzzing found &#xFFFFFF;). */
function xmlChar(cp: number, ref: string): string {
  const allowed = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
  if (!allowed) throw new XmlError(`character reference ${ref} is not an XML character`);
  return String.fromCodePoint(cp);
}

/** Decodes the predefined entities and character references; anything else is an error (no DTD, so no other entity can exist). */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|[A-Za-z]+);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new XmlError('a bare & in text');
    if (ref.startsWith('#x')) return xmlChar(parseInt(ref.slice(2), 16), m);
    if (ref.startsWith('#')) return xmlChar(parseInt(ref.slice(1), 10), m);
    const v = PREDEFINED[ref];
    if (v === undefined) throw new XmlError(`undeclared entity &${ref};`);
    return v;
  });
}

type Raw = Record<string, unknown>;

function convert(node: Raw): El | null {
  const name = Object.keys(node).find((k) => k !== ':@');
  if (name === undefined || name === '#text' || name.startsWith('?')) return null;
  const attrsRaw = (node[':@'] ?? {}) as Record<string, unknown>;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrsRaw)) if (!k.startsWith('xmlns')) attrs[k] = decodeEntities(String(v));
  const children: El[] = [];
  let text = '';
  for (const c of (node[name] ?? []) as Raw[]) {
    if (Object.hasOwn(c, '#text')) text += String(c['#text']);
    else {
      const el = convert(c);
      if (el) children.push(el);
    }
  }
  return { name, attrs, children, text: decodeEntities(text).trim() };
}

/** Parses one XML document to its root element, or throws XmlError. */
export function parseXml(input: string): El {
  if (input.length > WINDOWS_XML_LIMITS.maxBodyBytes) throw new XmlError('message too large');
  if (/<!DOCTYPE/i.test(input)) throw new XmlError('DOCTYPE is not allowed');
  if (/<!ENTITY/i.test(input)) throw new XmlError('ENTITY declarations are not allowed');
  try {
    checkXmlBounds(input, { maxBytes: WINDOWS_XML_LIMITS.maxBodyBytes, maxDepth: WINDOWS_XML_LIMITS.maxDepth, maxElements: WINDOWS_XML_LIMITS.maxElements, doctype: 'refuse' });
  } catch (e) {
    if (e instanceof XmlBoundsError) throw new XmlError(e.message);
    throw e;
  }
  let raw: Raw[];
  try {
    raw = parser.parse(input, true) as Raw[];
  } catch (e) {
    throw new XmlError(`not well-formed XML: ${(e as Error).message}`);
  }
  const roots = raw.map(convert).filter((e): e is El => e !== null);
  if (roots.length !== 1) throw new XmlError('expected exactly one root element');
  return roots[0]!;
}

export function child(el: El | undefined, name: string): El | undefined {
  return el?.children.find((c) => c.name === name);
}

export function childrenNamed(el: El | undefined, name: string): El[] {
  return el ? el.children.filter((c) => c.name === name) : [];
}

/** Follows a path of local names; undefined when any step is missing. */
export function path(el: El | undefined, ...names: string[]): El | undefined {
  let cur = el;
  for (const n of names) cur = child(cur, n);
  return cur;
}

export function textAt(el: El | undefined, ...names: string[]): string | undefined {
  return path(el, ...names)?.text;
}
