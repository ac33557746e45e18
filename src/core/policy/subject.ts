import type { RdnAttribute } from '../model.js';

// Subject names as admins write them (`CN={{DeviceName}},OU=MDM,O=Contoso`)
// and as certificates carry them. One normalisation of attribute types is
// shared by every comparison, so `emailAddress`, `E` and 1.2.840.113549.1.9.1
// are the same attribute wherever they come from.
//
// Syntax accepted by parseSubjectTemplate:
//   - RDNs separated by unescaped commas: TYPE=value, TYPE=value, ...
//   - TYPE is a short name (case-insensitive, aliases below) or a dotted OID,
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

/** Short name → OID, for the names the gateway writes. */
export const RDN_TYPE_OIDS: Readonly<Record<string, string>> = {
  CN: '2.5.4.3',
  OU: '2.5.4.11',
  O: '2.5.4.10',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  C: '2.5.4.6',
  E: '1.2.840.113549.1.9.1',
  SERIALNUMBER: '2.5.4.5',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  STREET: '2.5.4.9',
  T: '2.5.4.12',
};

const OID_TO_SHORT: Record<string, string> = Object.fromEntries(
  Object.entries(RDN_TYPE_OIDS).map(([short, oid]) => [oid, short]),
);

/** Other spellings of the same attributes (upper-cased before lookup). */
const ALIASES: Record<string, string> = {
  EMAILADDRESS: 'E',
  EMAIL: 'E',
  S: 'ST', // Windows certreq writes S= for the state
  TITLE: 'T',
  USERID: 'UID',
  DOMAINCOMPONENT: 'DC',
  COMMONNAME: 'CN',
  ORGANIZATIONNAME: 'O',
  ORGANIZATIONALUNITNAME: 'OU',
  LOCALITYNAME: 'L',
  STATEORPROVINCENAME: 'ST',
  COUNTRYNAME: 'C',
  STREETADDRESS: 'STREET',
};

/**
 * OpenSSL short names that are NOT in our list; used only when reading a
 * certificate's subject (node's X509Certificate#subject), mapped to OIDs so a
 * CSR parser that reports the OID compares equal. Deliberately not accepted
 * in templates: `SN` there would be read as "serial number" by half of admins.
 */
const OPENSSL_EXTRA: Record<string, string> = {
  SN: '2.5.4.4',
  GN: '2.5.4.42',
  INITIALS: '2.5.4.43',
  GENERATIONQUALIFIER: '2.5.4.44',
  DNQUALIFIER: '2.5.4.46',
  PSEUDONYM: '2.5.4.65',
  POSTALCODE: '2.5.4.17',
  DESCRIPTION: '2.5.4.13',
  NAME: '2.5.4.41',
  BUSINESSCATEGORY: '2.5.4.15',
  ORGANIZATIONIDENTIFIER: '2.5.4.97',
};

const OID_RE = /^[0-2](\.(0|[1-9][0-9]*))+$/;

/**
 * The canonical spelling of an attribute type: one of our short names, else
 * the dotted OID; null when the name is not recognised.
 */
export function normaliseRdnType(type: string): string | null {
  let t = type.trim();
  if (/^oid\./i.test(t)) t = t.slice(4);
  if (OID_RE.test(t)) return OID_TO_SHORT[t] ?? t;
  const upper = t.toUpperCase();
  if (upper in RDN_TYPE_OIDS) return upper;
  return ALIASES[upper] ?? null;
}

/** The short names model.ts's RdnAttribute (and so the CA) uses; any other type travels as its OID. */
const MODEL_SHORT_NAMES = new Set(['CN', 'OU', 'O', 'L', 'ST', 'C', 'E', 'SERIALNUMBER', 'DC', 'UID']);

/** normaliseRdnType, then STREET and T (not in the model's vocabulary) as their OIDs. */
export function modelRdnType(type: string): string {
  const t = normaliseRdnType(type) ?? type.trim();
  return MODEL_SHORT_NAMES.has(t) ? t : (RDN_TYPE_OIDS[t] ?? t);
}

function normaliseCertificateRdnType(type: string): string {
  const known = normaliseRdnType(type);
  if (known) return known;
  const upper = type.trim().toUpperCase();
  return OPENSSL_EXTRA[upper] ?? upper;
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
