// Distinguished names for the CA and the CSR parser: DER encoding for
// issuance, attribute OIDs <-> the model's type names, RFC 4514-like display
// strings. The attribute-type table itself is core/rdn-types.ts, shared with
// subject templates.

import type { RdnAttribute } from '../core/model.js';
import { modelRdnType, RDN_TYPE_OIDS, rdnTypeOid } from '../core/rdn-types.js';
import {
  DerError,
  ia5String,
  isIa5String,
  isPrintableString,
  objectIdentifier,
  printableString,
  sequence,
  setOf,
  utf8String,
} from './asn1/der.js';

/** The model's name for an attribute OID read from DER: a model short name, else the dotted OID. */
export function shortNameForOid(dotted: string): string {
  return modelRdnType(dotted);
}

/** OID for a short name (any accepted spelling, STREET and T included) or dotted OID; throws for unknown names. */
export function oidForType(type: string): string {
  if (/^[0-2](\.[0-9]+)+$/.test(type)) return type;
  const oid = rdnTypeOid(type);
  if (!oid) throw new DerError(`unsupported RDN attribute type: ${type}`);
  return oid;
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
    case RDN_TYPE_OIDS.C:
      if (!/^[A-Za-z]{2}$/.test(value)) throw new DerError(`country (C) must be two letters: ${JSON.stringify(value)}`);
      return printableString(value);
    case RDN_TYPE_OIDS.SERIALNUMBER:
      return isPrintableString(value) ? printableString(value) : utf8String(value);
    case RDN_TYPE_OIDS.E:
    case RDN_TYPE_OIDS.DC:
      return isIa5String(value) ? ia5String(value) : utf8String(value);
    default:
      return utf8String(value);
  }
}

/** Name DER: one single-valued RDN per attribute, in the given order. */
export function encodeName(rdns: readonly RdnAttribute[]): Uint8Array {
  return sequence(
    ...rdns.map((r) => {
      const attrOid = oidForType(r.type);
      return setOf([sequence(objectIdentifier(attrOid), encodeValue(attrOid, r.value))]);
    }),
  );
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
