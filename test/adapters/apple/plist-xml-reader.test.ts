import { build } from 'plist';
import { describe, expect, it } from 'vitest';
import { parseDict, readXmlSlow, type PlistDict } from '../../../src/adapters/apple/plist-codec.js';
import { DEFERRED, readPlistXml } from '../../../src/adapters/apple/plist-xml-reader.js';
import { seededRandom } from '../../helpers/seeded-random.js';

// Issue 13: the device's XML plists are read with fast-xml-parser
// (plist-xml-reader.ts) instead of two xmldom passes. Differential: on the
// messages devices send and on mutations of them, whatever the fast reader
// reads must be exactly what xmldom + `plist` read (the old way), and what it
// does not read it defers to the old way, so refusals stay as they were.

/** The messages of a device (adapters/apple/messages.ts; src/sim/apple.ts sends the same shapes). */
const MESSAGES: PlistDict[] = [
  { Status: 'Idle', UDID: '0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9' },
  { Status: 'Acknowledged', UDID: 'U-1', CommandUUID: '0190d1e2-7a3b-7c4d-8e5f-6a7b8c9d0e1f' },
  { Status: 'NotNow', UDID: 'U-1', CommandUUID: 'c-2', UserID: '501' },
  {
    Status: 'Error',
    UDID: 'U-1',
    CommandUUID: 'c-3',
    ErrorChain: [
      { ErrorCode: 22013, ErrorDomain: 'MCSCEPErrorDomain', LocalizedDescription: 'The SCEP server returned an invalid response & <refused>', USEnglishDescription: 'The "SCEP" server\'s answer' },
      { ErrorCode: -1, ErrorDomain: 'NSURLErrorDomain', LocalizedDescription: 'Zeitüberschreitung ✓ 🚀' },
    ],
  },
  {
    Status: 'Acknowledged',
    UDID: 'U-1',
    CommandUUID: 'c-4',
    CertificateList: [
      { CommonName: 'device-1', Data: new Uint8Array([0x30, 0x82, 0x01, 0x0a, 0xff, 0x00]), IsIdentity: true },
      { CommonName: '', Data: new Uint8Array(0), IsIdentity: false },
    ],
  },
  {
    Status: 'Acknowledged',
    UDID: 'U-1',
    CommandUUID: 'c-5',
    ProfileList: [{ PayloadIdentifier: 'com.contoso.wifi', PayloadVersion: 1, IsManaged: true, InstallDate: new Date('2026-03-01T10:00:00Z'), Ratio: 0.25, Nested: { A: [1, -2, [], {}], B: '  spaced  ' } }],
  },
  { MessageType: 'TokenUpdate', Topic: 'com.apple.mgmt.External.x', UDID: 'U-1', Token: new Uint8Array(32).fill(7), PushMagic: 'PM', NotOnConsole: false, Empty: '' },
];

const TOKENS = [
  '<!-- c -->', '&amp;', '&#65;', '&#x41;', '&foo;', '&', '<![CDATA[x]]>', '<key>k</key>', '<string/>', '<string></string>', '</dict>', '<dict>', '<array>', '</array>',
  '\r', '\r\n', '\u0001', ' a="1"', ' x:y="1"', '<?pi x?>', '<null/>', '<true>x</true>', '<true/>', '<integer></integer>', '<integer>12abc</integer>', '<real>1e3</real>',
  '<date>not a date</date>', '<date></date>', '<data>!!</data>', '<data> AQID </data>', '__proto__', 'constructor', '<key/>', '<unknown/>', '<p:dict>', '>', '<', '"', "'", ' ', '\t',
  '<!DOCTYPE x>', '<!ENTITY e "x">', '\uFEFF', '\uD800', '\uFFFE', '&lt;', '&quot;', '<plist>', '</plist>', 'version="2"',
];

function mutate(text: string, r: () => number): string {
  const at = Math.floor(r() * (text.length + 1));
  const pick = r();
  if (pick < 0.4) return text.slice(0, at) + TOKENS[Math.floor(r() * TOKENS.length)]! + text.slice(at);
  if (pick < 0.6) return text.slice(0, at) + text.slice(at + 1 + Math.floor(r() * 8));
  if (pick < 0.8) {
    // A whole element or line moved elsewhere.
    const lines = text.split('\n');
    const i = Math.floor(r() * lines.length);
    const [line] = lines.splice(i, 1);
    lines.splice(Math.floor(r() * lines.length), 0, line!);
    return lines.join('\n');
  }
  const from = Math.floor(r() * text.length);
  return text.slice(0, at) + text.slice(from, from + 1 + Math.floor(r() * 40)) + text.slice(at);
}

type Outcome = { ok: true; value: unknown } | { ok: false };
const slow = (text: string): Outcome => {
  try {
    return { ok: true, value: readXmlSlow(text) };
  } catch {
    return { ok: false };
  }
};

describe('the XML plist reader (fast-xml-parser) against plist + xmldom', () => {
  it('reads every device message itself, to the same values', () => {
    for (const m of MESSAGES) {
      for (const text of [build(m), build(m, { pretty: false }), build(m).replace(/^<\?xml[^>]*>\n<!DOCTYPE[^>]*>\n/, '')]) {
        const fast = readPlistXml(text);
        expect(fast, text).not.toBe(DEFERRED);
        expect(fast).toEqual(slow(text).ok && (slow(text) as { value: unknown }).value);
        expect(parseDict(Buffer.from(text))).toEqual(fast);
      }
    }
  });

  it('on 20,000 mutations: what it reads, plist reads the same; the rest is deferred, never read differently', () => {
    const r = seededRandom(13);
    let read = 0;
    let deferred = 0;
    for (let i = 0; i < 20_000; i++) {
      let text = build(MESSAGES[i % MESSAGES.length]!);
      for (let k = 1 + Math.floor(r() * 3); k > 0; k--) text = mutate(text, r);
      const fast = readPlistXml(text);
      if (fast === DEFERRED) {
        deferred += 1;
        continue;
      }
      read += 1;
      const old = slow(text);
      expect(old.ok, `read what xmldom + plist refuse: ${JSON.stringify(text)}`).toBe(true);
      expect(fast, JSON.stringify(text)).toEqual((old as { value: unknown }).value);
    }
    // Both halves exercised: some mutants still read fast (whitespace, values, moved lines), most deferred (676 / 19,324 with seed 13).
    expect(read).toBeGreaterThan(300);
    expect(deferred).toBeGreaterThan(5000);
  });

  it('defers what only xmldom and plist decide: DOCTYPE subsets, entities, comments, CDATA, odd characters, unknown elements', () => {
    const base = build({ Status: 'Idle', UDID: 'U' });
    for (const text of [
      base.replace('<plist', '<!DOCTYPE plist [<!ENTITY e "x">]>\n<plist'),
      base.replace('<string>U</string>', '<string>&e;</string>'),
      base.replace('<string>U</string>', '<string>&#85;</string>'),
      base.replace('<string>U</string>', '<string><!-- c -->U</string>'),
      base.replace('<string>U</string>', '<string><![CDATA[U]]></string>'),
      base.replace('<string>U</string>', '<string>U\u0001</string>'),
      base.replace('<string>U</string>', '<null/>'),
      base.replace('<key>UDID</key>', '<key>__proto__</key>'),
      base.replace('<dict>', '<dict a="1">'),
    ]) {
      expect(readPlistXml(text), text).toBe(DEFERRED);
    }
    // And parseDict's answer for them is the old one: e.g. the internal subset is still refused.
    expect(() => parseDict(Buffer.from(base.replace('<plist', '<!DOCTYPE plist [<!ENTITY e "x">]>\n<plist')))).toThrow(/refused|not well-formed|not a property list/);
  });
});
