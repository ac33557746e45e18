import { build } from 'plist';
import { describe, expect, it } from 'vitest';
import { PlistError, parseDict } from '../../../src/adapters/apple/plist-codec.js';

// Small XML bodies are parsed once and kept by their text (plist-codec.ts):
// each caller still gets its own copy, and a refused body is refused every time.

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));

describe('parsed small plists', () => {
  it('hands every caller its own copy of the same parse', () => {
    const body = bytes(build({ UDID: 'CACHE-UDID', Status: 'Idle', Data: new Uint8Array([1, 2, 3]) }));
    for (let i = 0; i < 3; i++) {
      const got = parseDict(body);
      expect(got).toEqual({ UDID: 'CACHE-UDID', Status: 'Idle', Data: new Uint8Array([1, 2, 3]) });
      // What one caller does to its copy is not what the next one gets.
      got.Status = `changed by caller ${i}`;
      (got.Data as Uint8Array)[0] = 9;
    }
  });

  it('refuses a malformed small body every time', () => {
    const bad = bytes('<?xml version="1.0"?><plist version="1.0"><dict><key>UDID</key><string>x</dict></plist>');
    for (let i = 0; i < 2; i++) expect(() => parseDict(bad)).toThrow(PlistError);
  });
});
