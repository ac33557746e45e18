// Byte helpers shared by the DER writer, the DER reader and their callers.

import { DerError } from './der-error.js';

/** The parts joined into one new array. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Lower-case hex, without copying the bytes. */
export const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** Bytes of an even-length hex string; throws for anything else (Buffer.from would silently stop at a bad digit). */
export function fromHex(h: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(h)) throw new DerError(`not hex: ${h}`);
  return new Uint8Array(Buffer.from(h, 'hex'));
}
