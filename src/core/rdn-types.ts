// The one table of RDN attribute types: short names, their accepted
// spellings and their OIDs. Used by subject templates and comparisons
// (core/profile/subject.ts) and by the CA's Name encoder and the CSR parser
// (x509/names.ts). It lives in core so that core's
// templates need nothing from the X.509 layer.

/** Short name → OID, for the names the gateway reads and writes. */
export const RDN_TYPE_OIDS = {
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
} as const satisfies Record<string, string>;

export type RdnShortName = keyof typeof RDN_TYPE_OIDS;

const SHORT_NAMES: ReadonlyMap<string, RdnShortName> = new Map(
  (Object.keys(RDN_TYPE_OIDS) as RdnShortName[]).map((short) => [short, short]),
);
const OID_TO_SHORT: ReadonlyMap<string, RdnShortName> = new Map(
  (Object.entries(RDN_TYPE_OIDS) as [RdnShortName, string][]).map(([short, oid]) => [oid, short]),
);

/** Other spellings of the same attributes (upper-cased before lookup). */
const ALIASES: Readonly<Record<string, RdnShortName>> = {
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
const OPENSSL_EXTRA: Readonly<Record<string, string>> = {
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
 * the dotted OID; null when the name is not recognised. Case-insensitive,
 * trims, and accepts the `OID.` prefix Windows writes.
 */
export function normaliseRdnType(type: string): string | null {
  let t = type.trim();
  if (/^oid\./i.test(t)) t = t.slice(4);
  if (OID_RE.test(t)) return OID_TO_SHORT.get(t) ?? t;
  const upper = t.toUpperCase();
  return SHORT_NAMES.get(upper) ?? ALIASES[upper] ?? null;
}

/** The dotted OID of a short name (any accepted spelling) or OID; null when not recognised. */
export function rdnTypeOid(type: string): string | null {
  const t = normaliseRdnType(type);
  if (t === null) return null;
  return SHORT_NAMES.has(t) ? RDN_TYPE_OIDS[t as RdnShortName] : t;
}

/**
 * The short names model.ts's RdnAttribute uses. STREET and T are known to the
 * table (templates accept them, the CA encodes them) but travel in the model
 * as their OIDs: resolved subjects are rendered into device profiles by the
 * adapters, and they have always carried these two as OIDs.
 */
const MODEL_SHORT_NAMES: ReadonlySet<string> = new Set(['CN', 'OU', 'O', 'L', 'ST', 'C', 'E', 'SERIALNUMBER', 'DC', 'UID']);

/**
 * An attribute type in the model's vocabulary: a model short name, else the
 * dotted OID (unknown names are returned trimmed, as given). Used for template
 * types on the way in and for OIDs read from DER names.
 */
export function modelRdnType(type: string): string {
  const t = normaliseRdnType(type) ?? type.trim();
  return MODEL_SHORT_NAMES.has(t) ? t : (RDN_TYPE_OIDS[t as RdnShortName] ?? t);
}

/** normaliseRdnType, plus OpenSSL's extra short names as OIDs; unknown names upper-cased. For reading node's subject strings only. */
export function normaliseCertificateRdnType(type: string): string {
  const known = normaliseRdnType(type);
  if (known) return known;
  const upper = type.trim().toUpperCase();
  return OPENSSL_EXTRA[upper] ?? upper;
}
