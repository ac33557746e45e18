import { DOMParser } from '@xmldom/xmldom';
import { parse, parseBinary, type PlistValue } from 'plist';
import { PLIST_LIMITS } from '../../core/input-limits.js';
import { XmlBoundsError, checkXmlBounds } from '../../core/xml-bounds.js';
import { BinaryPlistError, checkBinaryPlist } from './bplist-check.js';
import { LruCache } from '../../x509/lru-cache.js';
import { DEFERRED, readPlistXml } from './plist-xml-reader.js';
import { writePlistXml } from './plist-writer.js';

// Property lists in and out. Devices send XML plists (binary ones are
// accepted too); we always answer XML (plist-writer.ts: plist.build's bytes). Bodies are parsed only after the
// request is authenticated, and only after a structural check bounds what the
// parser will build (limits in core/input-limits.ts): a binary plist is
// validated by bplist-check.ts (offsets, references, cycles, depth, expanded
// size), an XML one by a pre-scan (size, elements, depth; no entity
// declarations, no DOCTYPE internal subset). Other plist formats that
// `plist` would accept (OpenStep text, other binary versions) are refused.
// `plist` parses XML with xmldom and gives it no error handler, so xmldom
// writes every malformed document to console.error, outside our logger: an
// enrolled device could fill stderr at will. So the XML is first read by the
// same xmldom with a handler that refuses at the first warning or error;
// `plist` only ever sees text that xmldom reads without a complaint.

export type PlistDict = { [key: string]: PlistValue };

/**
 * Small XML bodies (an Idle is about 300 bytes and the same bytes every time
 * a device sends it) are parsed once: checked and parsed values kept by their
 * exact text (LRU), each caller handed its own copy (issue 13: the two xmldom
 * passes were a quarter of a cached Idle).
 */
export const PARSED_PLIST_CACHE = { entries: 4096, maxTextLength: 1024 };
const parsedSmall = new LruCache<string, PlistValue>(PARSED_PLIST_CACHE.entries);
export type { PlistValue };

export class PlistError extends Error {}

/** What `plist.build` writes, without its xmlbuilder document (plist-writer.ts, issue 13). */
export function toXml(value: PlistDict): string {
  return writePlistXml(value);
}

export function toXmlBytes(value: PlistDict): Uint8Array {
  return new Uint8Array(Buffer.from(toXml(value), 'utf8'));
}

/** Parses a plist body (XML or binary) whose top level must be a dictionary. */
export function parseDict(body: Uint8Array): PlistDict {
  if (body.byteLength > PLIST_LIMITS.maxBodyBytes) throw new PlistError(`property list larger than ${PLIST_LIMITS.maxBodyBytes} bytes`);
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  let value: PlistValue;
  try {
    value = buf.subarray(0, 6).toString('latin1') === 'bplist' ? readBinary(buf) : readXml(buf.toString('utf8'));
  } catch (e) {
    if (e instanceof PlistError) throw e;
    throw new PlistError(`body is not a property list: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array || value instanceof Date) {
    throw new PlistError('property list is not a dictionary');
  }
  return value;
}

function readBinary(buf: Buffer): PlistValue {
  try {
    checkBinaryPlist(buf);
  } catch (e) {
    if (e instanceof BinaryPlistError) throw new PlistError(`binary property list refused: ${e.message}`);
    throw e;
  }
  return parseBinary(buf) as PlistValue;
}

function readXml(text: string): PlistValue {
  const small = text.length <= PARSED_PLIST_CACHE.maxTextLength;
  const known = small ? parsedSmall.get(text) : undefined;
  if (known !== undefined) return structuredClone(known);
  const value = readXmlOnce(text);
  if (small) parsedSmall.set(text, structuredClone(value));
  return value;
}

function readXmlOnce(text: string): PlistValue {
  // `plist` takes text starting with '{' or '(' as OpenStep and 'bplist' as binary: only XML gets this far.
  if (!/^\uFEFF?\s*</.test(text)) throw new PlistError('body is not an XML or binary property list');
  try {
    checkXmlBounds(text, { maxBytes: PLIST_LIMITS.maxBodyBytes, maxDepth: PLIST_LIMITS.maxDepth, maxElements: PLIST_LIMITS.maxXmlElements, doctype: 'external-only' });
  } catch (e) {
    if (e instanceof XmlBoundsError) throw new PlistError(`XML property list refused: ${e.message}`);
    throw e;
  }
  // The strict subset devices send, read with fast-xml-parser; anything else the old way (plist-xml-reader.ts).
  const fast = readPlistXml(text);
  if (fast !== DEFERRED) return fast;
  return readXmlSlow(text);
}

/** xmldom's well-formedness check with its error handler, then `plist` (the reference plist-xml-reader.ts is compared with). */
export function readXmlSlow(text: string): PlistValue {
  checkWellFormed(text);
  return parse(text);
}

/** Throws PlistError at xmldom's first warning or error (both are console.error otherwise): nothing is printed. */
function checkWellFormed(text: string): void {
  let complaint: string | null = null;
  const parser = new DOMParser({
    onError: (level, message) => {
      complaint ??= `${level}: ${message.split('\n')[0]}`;
      throw new PlistError(complaint); // stops xmldom (it rethrows as a ParseError)
    },
  });
  try {
    parser.parseFromString(text, 'text/xml');
  } catch (e) {
    throw new PlistError(`XML property list is not well-formed: ${complaint ?? (e as Error).message}`);
  }
  if (complaint) throw new PlistError(`XML property list is not well-formed: ${complaint}`);
}
