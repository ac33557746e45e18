import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { PlistValue } from 'plist';

// A cheaper reader for the XML plists devices send (issue 13: the two xmldom
// passes of plist-codec.ts, the well-formedness check and `plist`'s own parse,
// were a fifth of an Apple connect). It reads a strict subset with
// fast-xml-parser (validator, then parser) and gives exactly the values
// `plist.parse` gives for it; anything outside the subset is DEFERRED: the
// caller reads it the old way (xmldom with its error handler, then `plist`),
// so every refusal and every odd case (comments, CDATA, character references,
// unknown elements, a key without value...) keeps its old answer. The subset:
// - an optional XML declaration (version 1.0, UTF-8) and Apple's plist DOCTYPE
//   (exactly, no internal subset), one <plist> element holding one <dict>;
// - the plist elements only (dict key array string integer real true false
//   date data), leaves holding text only, no text between elements but
//   whitespace, keys and values alternating, no `__proto__` key;
// - no comment, CDATA, processing instruction (other than the declaration)
//   or entity other than the five predefined ones.
// Size, depth and element count are bounded before this runs (plist-codec.ts).
// test/adapters/apple/plist-xml-reader.test.ts compares it with `plist` on
// the simulator's messages and mutations of them.

export const DEFERRED = Symbol('deferred');

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: true,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  commentPropName: false,
});

/** `<?xml ...?>` (once, first) and `<!DOCTYPE plist PUBLIC "..." "...">`: the only markup allowed besides elements. */
const PROLOG = /^\uFEFF?\s*(<\?xml version="1\.0"(?: encoding="(?:UTF|utf)-8")?(?: standalone="(?:yes|no)")?\s*\?>\s*)?(<!DOCTYPE plist PUBLIC "-\/\/Apple(?: Computer)?\/\/DTD PLIST 1\.0\/\/EN" "http:\/\/www\.apple\.com\/DTDs\/PropertyList-1\.0\.dtd">\s*)?<plist(\s+version="[^"<>&]*")?\s*>/;
/** Characters XML forbids or normalises (control characters, CR, non-characters, lone surrogates): left to xmldom. */
const ODD_CHARACTERS = /[\x00-\x08\x0B\x0C\x0D\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const TAGS = /<(?:plist|dict|key|array|string|integer|real|true|false|date|data)\s*\/?>|<\/(?:plist|dict|key|array|string|integer|real|true|false|date|data)\s*>/g;
const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const LEAVES = new Set(['key', 'string', 'integer', 'real', 'true', 'false', 'date', 'data']);

class Defer extends Error {}

type Node = Record<string, unknown>;

/** The plist value of `text`, or DEFERRED when it is outside the subset this reads. */
export function readPlistXml(text: string): PlistValue | typeof DEFERRED {
  const prolog = PROLOG.exec(text);
  if (!prolog) return DEFERRED;
  const rest = text.slice(prolog[0].length);
  // Markup we leave to xmldom: comments, CDATA, another DOCTYPE or PI; entities other than the predefined ones.
  // Every tag after <plist> is a bare plist element tag (no attribute, comment, CDATA, PI or DOCTYPE).
  if (rest.replace(TAGS, '').includes('<') || /&(?!(?:amp|lt|gt|quot|apos);)/.test(text) || ODD_CHARACTERS.test(text) || text.indexOf('\uFEFF', 1) >= 0) return DEFERRED;
  if (XMLValidator.validate(text) !== true) return DEFERRED;
  try {
    const doc = parser.parse(text) as Node[];
    const roots = doc.filter((n) => !isBlank(n));
    if (roots.length !== 1 || nameOf(roots[0]!) !== 'plist') throw new Defer();
    const inside = elements(roots[0]!, 'plist');
    if (inside.length !== 1 || nameOf(inside[0]!) !== 'dict') throw new Defer();
    return value(inside[0]!);
  } catch (e) {
    if (e instanceof Defer) return DEFERRED;
    // fast-xml-parser refusing what its validator accepted, or a value `plist` would throw on: the old way decides.
    return DEFERRED;
  }
}

function nameOf(n: Node): string {
  for (const k in n) if (k !== ':@') return k;
  throw new Defer();
}

function isBlank(n: Node): boolean {
  return Object.hasOwn(n, '#text') && /^\s*$/.test(String(n['#text']));
}

/** The child elements of `n` (whitespace between them skipped; other text defers). */
function elements(n: Node, name: string): Node[] {
  const out: Node[] = [];
  for (const c of (n[name] ?? []) as Node[]) {
    if (Object.hasOwn(c, '#text')) {
      if (!isBlank(c)) throw new Defer();
    } else out.push(c);
  }
  return out;
}

/** A leaf's text: text children only (none: ''), the predefined entities decoded. */
function textOf(n: Node, name: string): string {
  let s = '';
  for (const c of (n[name] ?? []) as Node[]) {
    if (!Object.hasOwn(c, '#text')) throw new Defer();
    s += String(c['#text']);
  }
  return s.includes('&') ? s.replace(/&(amp|lt|gt|quot|apos);/g, (_m, e: string) => PREDEFINED[e]!) : s;
}

function rawText(n: Node, name: string): string {
  return ((n[name] ?? []) as Node[]).map((c) => String(c['#text'] ?? '')).join('');
}

function value(n: Node): PlistValue {
  const name = nameOf(n);
  switch (name) {
    case 'dict': {
      const items = elements(n, name);
      if (items.length % 2 !== 0) throw new Defer();
      const out: Record<string, PlistValue> = {};
      for (let i = 0; i < items.length; i += 2) {
        const k = items[i]!;
        const v = items[i + 1]!;
        if (nameOf(k) !== 'key' || nameOf(v) === 'key') throw new Defer();
        if (/&/.test(rawText(k, 'key'))) throw new Defer();
        const key = textOf(k, 'key');
        if (key === '__proto__') throw new Defer();
        out[key] = value(v);
      }
      return out;
    }
    case 'array':
      return elements(n, name).map(value);
    default:
      return leaf(n, name);
  }
}

function leaf(n: Node, name: string): PlistValue {
  if (!LEAVES.has(name) || name === 'key') throw new Defer();
  const text = textOf(n, name);
  // `plist` reads only the first text node of these: an entity (which may split it) is left to it.
  if (name !== 'string' && /&/.test(rawText(n, name))) throw new Defer();
  switch (name) {
    case 'string':
      return text;
    case 'integer':
      // As `plist`: parseInt of the text (empty: plist throws, so deferred).
      if (text === '') throw new Defer();
      return parseInt(text, 10);
    case 'real':
      if (text === '') throw new Defer();
      return parseFloat(text);
    case 'true':
    case 'false':
      if (text !== '') throw new Defer();
      return name === 'true';
    case 'date':
      if (text === '') throw new Defer();
      return new Date(text);
    case 'data':
      return base64Bytes(text.replace(/\s+/g, ''));
    default:
      throw new Defer();
  }
}

/** As `plist`: atob (throws on what is not base64: deferred), bytes in a Uint8Array. */
function base64Bytes(b64: string): Uint8Array {
  const binary = atob(b64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
