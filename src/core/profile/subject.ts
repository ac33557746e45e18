import type { RdnAttribute } from '../model.js';
import { normaliseCertificateRdnType, normaliseRdnType, RDN_TYPE_OIDS } from '../rdn-types.js';

// Subject names as admins write them (`CN={{DeviceName}},OU=MDM,O=Contoso`)
// and as certificates carry them. One normalisation of attribute types is
// shared by every comparison (../rdn-types.ts, the same table the CA encodes
// with), so `emailAddress`, `E` and 1.2.840.113549.1.9.1 are the same
// attribute wherever they come from.
//
// Syntax accepted by parseSubjectTemplate:
//   - RDNs separated by unescaped commas: TYPE=value, TYPE=value, ...
//   - TYPE is a short name (case-insensitive, aliases in ../rdn-types.ts) or a dotted OID,
//     optionally prefixed `OID.` as Windows writes it.
//   - value: outer whitespace is trimmed; `\` escapes the next character, or
//     two hex digits after `\` give one byte (RFC 4514, so `\2C` is a comma);
//     a value may be double-quoted, inside which commas need no escape.
//   - `+` has no special meaning (multi-valued RDNs are flattened anyway).

export class SubjectSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubjectSyntaxError';
  }
}

/** Splits on `sep` where it is not escaped and not inside double quotes. */
function splitUnescaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\') {
      current += ch + (s[i + 1] ?? '');
      i++;
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === sep && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (quoted) throw new SubjectSyntaxError('unterminated double quote');
  parts.push(current);
  return parts;
}

/** Removes escapes (and surrounding quotes) from one raw value. */
function unescapeValue(raw: string, where: string): string {
  let s = raw.trim();
  if (s.startsWith('"')) {
    let close = 1;
    for (; close < s.length; close++) {
      if (s[close] === '\\') close++;
      else if (s[close] === '"') break;
    }
    if (close >= s.length) throw new SubjectSyntaxError(`${where}: unterminated double quote`);
    if (close !== s.length - 1) throw new SubjectSyntaxError(`${where}: nothing may follow the closing quote`);
    s = s.slice(1, close);
  }
  const bytes: number[] = [];
  const pushText = (t: string) => bytes.push(...Buffer.from(t, 'utf8'));
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"') throw new SubjectSyntaxError(`${where}: a double quote inside a value must be escaped as \\"`);
    if (ch !== '\\') {
      // Keep surrogate pairs together.
      const cp = s.codePointAt(i)!;
      pushText(String.fromCodePoint(cp));
      if (cp > 0xffff) i++;
      continue;
    }
    const next = s.slice(i + 1, i + 3);
    if (/^[0-9A-Fa-f]{2}$/.test(next)) {
      bytes.push(parseInt(next, 16));
      i += 2;
    } else if (i + 1 < s.length) {
      const cp = s.codePointAt(i + 1)!;
      pushText(String.fromCodePoint(cp));
      i += cp > 0xffff ? 2 : 1;
    } else {
      throw new SubjectSyntaxError(`${where}: a value must not end with a lone backslash`);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function parseAttribute(raw: string, where: string, normalise: (t: string) => string | null): RdnAttribute {
  const eq = raw.indexOf('=');
  if (eq < 0) throw new SubjectSyntaxError(`${where}: "${raw.trim()}" is not TYPE=value`);
  const rawType = raw.slice(0, eq).trim();
  if (rawType === '') throw new SubjectSyntaxError(`${where}: the attribute type is empty`);
  const type = normalise(rawType);
  if (!type) {
    throw new SubjectSyntaxError(
      `${where}: unknown attribute type "${rawType}" (use one of ${Object.keys(RDN_TYPE_OIDS).join(', ')} or a dotted OID)`,
    );
  }
  const value = unescapeValue(raw.slice(eq + 1), `${where} (${type})`).trim();
  if (value === '') throw new SubjectSyntaxError(`${where} (${type}): the value is empty`);
  return { type, value };
}

/**
 * Parses an admin-written subject (templates are left in place: `{{X}}`
 * contains none of the special characters). Blank input gives [].
 */
export function parseSubjectTemplate(s: string): RdnAttribute[] {
  if (s.trim() === '') return [];
  return splitUnescaped(s, ',').map((part, i) => {
    const where = `RDN ${i + 1}`;
    if (part.trim() === '') throw new SubjectSyntaxError(`${where}: empty (stray comma?)`);
    return parseAttribute(part, where, normaliseRdnType);
  });
}

/**
 * Reads node's X509Certificate#subject (one RDN per line, multi-valued RDNs
 * joined by " + ", RFC 4514 escapes) into flattened attributes.
 */
export function parseCertificateSubject(nodeSubject: string): RdnAttribute[] {
  const out: RdnAttribute[] = [];
  for (const line of nodeSubject.split('\n')) {
    if (line.trim() === '') continue;
    for (const part of splitUnescaped(line, '+')) {
      out.push(parseAttribute(part, 'certificate subject', normaliseCertificateRdnType));
    }
  }
  return out;
}

function rdnKey(a: RdnAttribute): string {
  const type = normaliseRdnType(a.type) ?? a.type.trim().toUpperCase();
  return `${type}\u0000${a.value.trim()}`;
}

/** Order-insensitive multiset equality: types after normalisation, values exact after trimming. */
export function sameRdnSet(a: RdnAttribute[], b: RdnAttribute[]): boolean {
  if (a.length !== b.length) return false;
  const ka = a.map(rdnKey).sort();
  const kb = b.map(rdnKey).sort();
  return ka.every((k, i) => k === kb[i]);
}

function escapeValue(v: string): string {
  return v.replace(/[\\,"+;<>]/g, (c) => `\\${c}`).replace(/^ | $/g, (c) => `\\${c}`);
}

/** A display string that parseSubjectTemplate reads back to the same attributes. */
export function describeRdns(r: RdnAttribute[]): string {
  return r.map((a) => `${normaliseRdnType(a.type) ?? a.type}=${escapeValue(a.value)}`).join(',');
}
