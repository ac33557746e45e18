import { randomBytes } from 'node:crypto';

// Device command ids. Made here, not in storage, so an adapter can name the
// commands it queues before they are written (an Apple check-in records the
// id in its device state and writes both in one transaction, issue 13); the
// store uses the same generator for the commands it names itself, so ids
// from both keep one order.

let lastMs = 0;
let counter = 0;
/**
 * A UUIDv7 (RFC 9562): 48-bit millisecond time, then a 12-bit counter that
 * keeps ids made in the same millisecond in order, then random bits. Command
 * ids therefore sort in creation order, which is the order a queue needs.
 */
export function uuidv7(now = Date.now()): string {
  if (now <= lastMs) {
    counter = (counter + 1) & 0xfff;
    if (counter === 0) lastMs += 1;
    now = lastMs;
  } else {
    counter = 0;
    lastMs = now;
  }
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | (counter >> 8);
  b[7] = counter & 0xff;
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Whether `id` has the shape uuidv7 makes (lower-case hex, version 7, RFC variant). */
export function isCommandId(id: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id);
}
