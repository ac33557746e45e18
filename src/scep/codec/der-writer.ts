// A tiny DER encoder. Output must be DER (signatures are computed over exact
// bytes, OpenSSL and strict clients re-encode and compare), and building it
// by hand keeps every byte under our control: pkijs' writer, for instance,
// re-chunks eContent into a constructed (BER) OCTET STRING.

const concat = (parts: readonly Uint8Array[]): Uint8Array => {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
};

export { concat as concatBytes };

function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

/** One TLV with a single-byte tag (all tags the codec writes are < 31). */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(content);
  return concat([Uint8Array.of(tag), encodeLength(body.length), body]);
}

export const sequence = (...items: Uint8Array[]): Uint8Array => tlv(0x30, ...items);

/** SET OF in DER order: elements sorted as octet strings (X.690 11.6). */
export function setOf(items: readonly Uint8Array[]): Uint8Array {
  return tlv(0x31, ...sortDer(items));
}

export function sortDer(items: readonly Uint8Array[]): Uint8Array[] {
  return [...items].sort(compareDer);
}

function compareDer(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  // The shorter one counts as padded with trailing zero octets.
  return a.length - b.length;
}

/** [n] EXPLICIT or constructed IMPLICIT context tag. */
export const contextConstructed = (n: number, ...content: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...content);
/** [n] IMPLICIT on a primitive type. */
export const contextPrimitive = (n: number, content: Uint8Array): Uint8Array => tlv(0x80 | n, content);

export const octetString = (bytes: Uint8Array): Uint8Array => tlv(0x04, bytes);
export const nullValue = (): Uint8Array => Uint8Array.of(0x05, 0x00);
export const printableString = (s: string): Uint8Array => {
  if (!/^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s)) throw new TypeError(`not a PrintableString: ${JSON.stringify(s)}`);
  return tlv(0x13, new TextEncoder().encode(s));
};
export const utf8String = (s: string): Uint8Array => tlv(0x0c, new TextEncoder().encode(s));

export function integer(value: number): Uint8Array {
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError('integer() encodes small non-negative numbers only');
  const bytes: number[] = [];
  let n = value;
  do {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  } while (n > 0);
  if ((bytes[0] as number) & 0x80) bytes.unshift(0);
  return tlv(0x02, Uint8Array.from(bytes));
}

export function objectIdentifier(oid: string): Uint8Array {
  const arcs = oid.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new TypeError(`bad OID ${oid}`);
    return Number(a);
  });
  if (arcs.length < 2) throw new TypeError(`bad OID ${oid}`);
  const out: number[] = [];
  const pushArc = (arc: number): void => {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    out.push(...chunk);
  };
  pushArc((arcs[0] as number) * 40 + (arcs[1] as number));
  for (const arc of arcs.slice(2)) pushArc(arc);
  return tlv(0x06, Uint8Array.from(out));
}

/** UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5652 signingTime rule). */
export function time(date: Date): Uint8Array {
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const rest =
    pad(date.getUTCMonth() + 1) +
    pad(date.getUTCDate()) +
    pad(date.getUTCHours()) +
    pad(date.getUTCMinutes()) +
    pad(date.getUTCSeconds()) +
    'Z';
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(0x17, new TextEncoder().encode(pad(year % 100) + rest));
  return tlv(0x18, new TextEncoder().encode(pad(year, 4) + rest));
}

export const algorithmIdentifier = (oid: string, parameters?: Uint8Array): Uint8Array =>
  parameters ? sequence(objectIdentifier(oid), parameters) : sequence(objectIdentifier(oid));

/** Attribute ::= SEQUENCE { attrType OID, attrValues SET OF AttributeValue } */
export const attribute = (oid: string, ...values: Uint8Array[]): Uint8Array =>
  sequence(objectIdentifier(oid), setOf(values));
