// The XML plists we answer with (commands, configuration profiles), written
// straight into a string: the same bytes `plist.build` gives (pretty printed
// by xmlbuilder, two spaces a level), without building an xmlbuilder
// document of objects per answer first (issue 13: the builder was about 15%
// of an Apple connect's samples; a signed profile is about 8 KB of XML and a
// command envelope carries it again as base64).
// test/adapters/apple/plist-writer.test.ts compares it with `plist.build`
// (and `plist.parse` of its output) over the golden inputs and mutated
// strings: XML's special characters, `]]>`, control characters, surrogates.

const HEAD =
  '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">\n<plist version="1.0">\n';

/**
 * Characters XML 1.0 cannot carry: C0 controls but tab, LF and CR; U+FFFE,
 * U+FFFF; a surrogate that is not half of a pair (xmlbuilder's own check).
 */
const ILLEGAL = /[\0-\x08\x0B\f\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:[^\uD800-\uDBFF]|^)[\uDC00-\uDFFF]/;
const SPECIAL = /[&<>\r]/;

export class PlistWriteError extends Error {}

/** Text content escaped as xmlbuilder does (&, <, > and CR); refused, without echoing it, when XML cannot carry it. */
function text(s: string): string {
  // The value may be a secret (a challenge): the error names the position only.
  const bad = ILLEGAL.exec(s);
  if (bad) throw new PlistWriteError(`a plist string holds a character XML 1.0 cannot carry (at index ${bad.index})`);
  if (!SPECIAL.test(s)) return s;
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
}

/** `<tag>content</tag>`, or `<tag/>` when empty (as xmlbuilder writes an element whose only child is empty text). */
const leaf = (pad: string, tag: string, content: string) => (content === '' ? `${pad}<${tag}/>\n` : `${pad}<${tag}>${content}</${tag}>\n`);

function base64(v: ArrayBufferView | ArrayBuffer): string {
  const bytes = v instanceof ArrayBuffer ? Buffer.from(v) : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return bytes.toString('base64');
}

/** Appends one value at indentation `pad`, in plist's walk order and with its choices (build.js walk_obj). */
function write(out: string[], v: unknown, pad: string): void {
  if (v === undefined) return;
  if (Array.isArray(v)) {
    if (v.length === 0) {
      out.push(`${pad}<array/>\n`);
      return;
    }
    out.push(`${pad}<array>\n`);
    const inner = `${pad}  `;
    for (const x of v) write(out, x, inner);
    out.push(`${pad}</array>\n`);
  } else if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    out.push(leaf(pad, 'data', base64(v)));
  } else if (typeof v === 'object' && v !== null && !(v instanceof Date)) {
    const inner = `${pad}  `;
    const start = out.length;
    out.push('');
    for (const key in v) {
      if (!Object.hasOwn(v, key)) continue;
      const x = (v as Record<string, unknown>)[key];
      if (x === undefined || x === null) continue;
      out.push(leaf(inner, 'key', text(key)));
      write(out, x, inner);
    }
    if (out.length === start + 1) out[start] = `${pad}<dict/>\n`;
    else {
      out[start] = `${pad}<dict>\n`;
      out.push(`${pad}</dict>\n`);
    }
  } else if (typeof v === 'number') {
    out.push(leaf(pad, v % 1 === 0 ? 'integer' : 'real', v.toString()));
  } else if (typeof v === 'bigint') {
    out.push(leaf(pad, 'integer', v.toString()));
  } else if (v instanceof Date) {
    out.push(leaf(pad, 'date', new Date(v).toISOString().replace(/\.\d{3}Z$/, 'Z')));
  } else if (typeof v === 'boolean') {
    out.push(`${pad}<${v ? 'true' : 'false'}/>\n`);
  } else if (typeof v === 'string') {
    out.push(leaf(pad, 'string', text(v)));
  }
  // Anything else (a function, a symbol, null in an array) is left out, as plist leaves it out.
}

/** The XML plist of `value`: byte for byte what `plist.build(value)` returns. */
export function writePlistXml(value: unknown): string {
  const out = [HEAD];
  write(out, value, '  ');
  // Nothing written (undefined, a function): an empty plist element, as xmlbuilder closes it.
  if (out.length === 1) return `${HEAD.slice(0, -2)}/>`;
  out.push('</plist>');
  return out.join('');
}
