import { build, parse, parseBinary, type PlistValue } from 'plist';

// Property lists in and out. Devices send XML plists (binary ones are
// accepted too); we always answer XML. Bodies are parsed only after the
// request is authenticated, and a document type with an internal subset
// (entity declarations) is refused outright.

export type PlistDict = { [key: string]: PlistValue };
export type { PlistValue };

export class PlistError extends Error {}

export function toXml(value: PlistDict): string {
  return build(value);
}

export function toXmlBytes(value: PlistDict): Uint8Array {
  return new Uint8Array(Buffer.from(toXml(value), 'utf8'));
}

/** Parses a plist body (XML or binary) whose top level must be a dictionary. */
export function parseDict(body: Uint8Array): PlistDict {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let value: PlistValue;
  try {
    if (buf.subarray(0, 8).toString('latin1') === 'bplist00') {
      value = parseBinary(buf) as PlistValue;
    } else {
      const text = buf.toString('utf8');
      if (/<!DOCTYPE[^>]*\[/i.test(text) || /<!ENTITY/i.test(text)) throw new PlistError('plist with an internal DTD subset refused');
      value = parse(text);
    }
  } catch (e) {
    if (e instanceof PlistError) throw e;
    throw new PlistError(`body is not a property list: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Date) {
    throw new PlistError('property list is not a dictionary');
  }
  return value;
}
