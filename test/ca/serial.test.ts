import { describe, expect, it } from 'vitest';
import { unsignedInteger } from '../../src/x509/asn1/der.js';
import { randomSerialNumber, SERIAL_BYTES } from '../../src/ca/serial.js';

describe('randomSerialNumber', () => {
  it('is unique over 10,000 draws', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) seen.add(randomSerialNumber());
    expect(seen.size).toBe(10_000);
  });

  it('is 16 bytes of lower-case hex, positive and minimally encoded', () => {
    let highHalf = 0;
    for (let i = 0; i < 10_000; i++) {
      const s = randomSerialNumber();
      expect(s).toMatch(/^[0-9a-f]{32}$/);
      const first = parseInt(s.slice(0, 2), 16);
      expect(first).toBeGreaterThan(0); // non-zero first byte: minimal DER
      expect(first).toBeLessThan(0x80); // top bit clear: positive INTEGER without a 00 pad
      if (first >= 0x40) highHalf++;
      // DER INTEGER: tag, length 16, exactly the 16 bytes (no sign padding).
      const der = unsignedInteger(Buffer.from(s, 'hex'));
      expect(der.length).toBe(2 + SERIAL_BYTES);
      expect(der[1]).toBe(SERIAL_BYTES);
    }
    // The 7 usable bits of the first byte are random too (~50% have bit 6 set).
    expect(highHalf).toBeGreaterThan(4000);
    expect(highHalf).toBeLessThan(6000);
  });
});
