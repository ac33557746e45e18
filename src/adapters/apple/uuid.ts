import { createHash } from 'node:crypto';

// Name-based UUIDs (RFC 9562 version 5, SHA-1) so that rendering stays pure
// and a profile re-rendered for the same version carries the same
// PayloadUUIDs: the device replaces the installed profile instead of adding a
// second copy. Upper-case, as Apple's tools write them.

/** A fixed namespace for this gateway's payloads (chosen once; changing it changes every PayloadUUID). */
export const PAYLOAD_NAMESPACE = 'F1D0C2A4-6B7E-5C3A-9E21-4D8B0A7F6C13';

export function uuidV5(name: string, namespace = PAYLOAD_NAMESPACE): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error('namespace must be a UUID');
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.toString('hex').toUpperCase();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
