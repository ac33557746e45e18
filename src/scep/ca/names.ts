// Distinguished names: short-name <-> OID table, DER encoding for issuance,
// RFC 4514-like display strings.

import type { RdnAttribute } from '../../core/model.js';
import { DerError, ia5String, isIa5String, isPrintableString, oid, printableString, seq, set, utf8String } from './der.js';

/** Short names the gateway uses (model.ts RdnAttribute.type), with their OIDs. */
export const RDN_OIDS: Readonly<Record<string, string>> = {
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
};

/** Accepted spellings on input (case-insensitive) -> canonical short name. */
const ALIASES: Readonly<Record<string, string>> = {
  CN: 'CN',
  OU: 'OU',
  O: 'O',
  L: 'L',
  ST: 'ST',
  S: 'ST', // Microsoft spelling
  C: 'C',
  E: 'E',
  EMAIL: 'E',
  EMAILADDRESS: 'E',
  SERIALNUMBER: 'SERIALNUMBER',
  DC: 'DC',
  UID: 'UID',
};

const OID_TO_SHORT: ReadonlyMap<string, string> = new Map(Object.entries(RDN_OIDS).map(([k, v]) => [v, k]));

/** Short name for an attribute OID, or the dotted OID itself when it has none. */
export function shortNameForOid(dotted: string): string {
  return OID_TO_SHORT.get(dotted) ?? dotted;
}

/** OID for a short name (any accepted spelling) or dotted OID; throws for unknown names. */
export function oidForType(type: string): string {
  if (/^[0-2](\.[0-9]+)+$/.test(type)) return type;
  const canonical = ALIASES[type.toUpperCase()];
  if (!canonical) throw new DerError(`unsupported RDN attribute type: ${type}`);
  return RDN_OIDS[canonical]!;
}

/**
 * DER of one AttributeValue. UTF8String by default (RFC 5280 MUST for new
 * certificates); PrintableString for C and SERIALNUMBER (their ASN.1
 * definitions); IA5String for E (emailAddress) and DC (domainComponent), whose
 * definitions are IA5String only. Fallbacks keep odd values encodable: a device
 * serial with characters outside PrintableString (e.g. `_`) is written as
 * UTF8String, a non-ASCII E/DC as UTF8String.
 */
function encodeValue(attrOid: string, value: string): Uint8Array {
  if (value.length === 0) throw new DerError(`empty value for RDN attribute ${shortNameForOid(attrOid)}`);
  switch (attrOid) {
    case RDN_OIDS.C:
      if (!/^[A-Za-z]{2}$/.test(value)) throw new DerError(`country (C) must be two letters: ${JSON.stringify(value)}`);
      return printableString(value);
    case RDN_OIDS.SERIALNUMBER:
      return isPrintableString(value) ? printableString(value) : utf8String(value);
    case RDN_OIDS.E:
    case RDN_OIDS.DC:
      return isIa5String(value) ? ia5String(value) : utf8String(value);
    default:
      return utf8String(value);
  }
}

/** Name DER: one single-valued RDN per attribute, in the given order. */
export function encodeName(rdns: readonly RdnAttribute[]): Uint8Array {
  return seq(...rdns.map((r) => {
    const attrOid = oidForType(r.type);
    return set(seq(oid(attrOid), encodeValue(attrOid, r.value)));
  }));
}

function escapeDnValue(value: string): string {
  const chars = Array.from(value);
  return chars
    .map((c, i) => {
      if (',+"\\<>;'.includes(c)) return `\\${c}`;
      if (c === '\0') return '\\00';
      if (i === 0 && (c === ' ' || c === '#')) return `\\${c}`;
      if (i === chars.length - 1 && c === ' ') return '\\ ';
      return c;
    })
    .join('');
}

/**
 * RFC 4514-like display string in the given order (not reversed), e.g.
 * `CN=laptop-1,OU=MDM,O=Contoso`. Escapes `,+"\<>;`, NUL, a leading space or
 * `#` and a trailing space with a backslash.
 */
export function formatDn(rdns: readonly RdnAttribute[]): string {
  return rdns.map((r) => `${r.type}=${escapeDnValue(r.value)}`).join(',');
}
