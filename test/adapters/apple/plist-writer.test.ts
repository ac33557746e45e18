import { randomBytes } from 'node:crypto';
import { build, parse } from 'plist';
import { describe, expect, it } from 'vitest';
import { enrollmentProfile } from '../../../src/adapters/apple/enrollment-profile.js';
import { PlistWriteError, writePlistXml } from '../../../src/adapters/apple/plist-writer.js';
import { renderProfile, renderTrustProfile } from '../../../src/adapters/apple/render.js';
import { GOLDEN_CASES, ROOT_PEM, iphone } from './fixtures.js';
import { seededRandom } from '../../helpers/seeded-random.js';

// Issue 13 (apple13): the plist writer must give exactly plist.build's bytes
// for every value we answer with, and refuse (without echoing the value) what
// plist.build refuses. Differential: the golden inputs, the command envelopes
// around them, and those values with strings mutated towards XML's edges.

/** What plist.build gives, or the fact that it throws. */
function reference(v: unknown): { xml: string } | { threw: true } {
  try {
    return { xml: build(v as never) };
  } catch {
    return { threw: true };
  }
}

function ours(v: unknown): { xml: string } | { threw: true } {
  try {
    return { xml: writePlistXml(v) };
  } catch (e) {
    expect(e).toBeInstanceOf(PlistWriteError);
    return { threw: true };
  }
}

/** The values we answer with: each golden profile, signed-profile and command envelopes, the enrollment and trust profiles. */
function answers(): Record<string, unknown>[] {
  const profiles = GOLDEN_CASES.map((c) => renderProfile(c.device, c.delivery));
  const payload = new Uint8Array(randomBytes(8192));
  return [
    ...profiles,
    ...profiles.map((p, i) => ({ CommandUUID: `0190a3c4-${i}000-7000-8000-000000000000`, Command: { RequestType: 'InstallProfile', Payload: new TextEncoder().encode(writePlistXml(p)) } })),
    { CommandUUID: 'cmd-1', Command: { RequestType: 'InstallProfile', Payload: payload } },
    { CommandUUID: 'cmd-2', Command: { RequestType: 'RemoveProfile', Identifier: 'com.mdm-gateway.profile.abc' } },
    { CommandUUID: 'cmd-3', Command: { RequestType: 'ProfileList', ManagedOnly: true } },
    { DigestChallenge: '' },
    enrollmentProfile({ publicUrl: 'https://mdm.contoso.com', platform: 'ios', deviceId: iphone.id, topic: 'com.apple.mgmt.External.x', identity: { challenge: 'c&<>', scepUrl: 'https://mdm.contoso.com/scep', subjectRdns: [{ type: 'CN', value: 'x' }] as never, keySize: 2048 }, rootPem: ROOT_PEM }),
    renderTrustProfile(ROOT_PEM, 'ca-2'),
  ];
}

// Strings at XML's edges: what must be escaped, what must be refused, what must pass through.
const EDGES = ['<', '>', '&', '&amp;', ']]>', '<![CDATA[x]]>', '"', "'", '\r', '\r\n', '\n', '\t', '\0', '\x01', '\x08', '\x0B', '\x0C', '\x1F', '\x7F', '\u0085', '\uD83D\uDE00', '\uD83D', '\uDE00', '\uDE00\uD83D', '\uFFFE', '\uFFFF', '\uFFFD', '\u2028', '', ' ', 'é', '𝄞'];

/** A copy of `v` with each string (keys too) changed by `f` with probability `p`. */
function mutate(v: unknown, f: (s: string) => string, r: () => number, p: number): unknown {
  if (typeof v === 'string') return r() < p ? f(v) : v;
  if (Array.isArray(v)) return v.map((x) => mutate(x, f, r, p));
  if (v instanceof Uint8Array || v instanceof Date) return v;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [r() < p / 4 ? f(k) : k, mutate(x, f, r, p)]));
  return v;
}

describe('plist writer (apple13)', () => {
  it('writes the bytes plist.build writes for every answer we send, and they parse back to the same values', () => {
    for (const v of answers()) {
      const xml = writePlistXml(v);
      expect(xml).toBe(build(v as never));
      expect(parse(xml)).toEqual(parse(build(v as never)));
    }
  });

  it('on 3,000 mutations of those answers (seed 13): the same bytes, or both refuse', () => {
    const r = seededRandom(13);
    const base = answers();
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const edge = () => EDGES[Math.floor(r() * EDGES.length)]!;
      const f = (s: string) => {
        const at = Math.floor(r() * (s.length + 1));
        return s.slice(0, at) + edge() + (r() < 0.3 ? edge() : '') + s.slice(at);
      };
      const v = mutate(base[i % base.length], f, r, 0.2);
      const want = reference(v);
      const got = ours(v);
      expect(got, `mutation ${i}`).toEqual(want);
      if ('threw' in got) refused += 1;
      // Equal bytes parse the same; parsed now and then (xmldom is slow), as the reference's round trip.
      else if (i % 25 === 0) expect(parse(got.xml)).toEqual(parse((want as { xml: string }).xml));
    }
    // Both outcomes were exercised.
    expect(refused).toBeGreaterThan(100);
    expect(refused).toBeLessThan(2900);
  }, 120_000);

  it('matches plist.build on the odd values too: empty containers and strings, numbers, dates, null and undefined', () => {
    const odd = {
      empty: '',
      data: new Uint8Array(0),
      buffer: Buffer.from('abc'),
      list: [],
      dict: {},
      nested: [[], {}, [null, 'x', undefined]],
      t: true,
      f: false,
      int: 42,
      neg: -7,
      zero: -0,
      real: 1.5,
      big: 1e21,
      nan: NaN,
      inf: -Infinity,
      bigint: 12345678901234567890n,
      date: new Date('2026-12-07T16:00:00.123Z'),
      skipped: null,
      gone: undefined,
      '': 'empty key',
      'a<b': 'key escaped',
    };
    expect(writePlistXml(odd)).toBe(build(odd as never));
    expect(writePlistXml({})).toBe(build({}));
  });

  it('refuses a control character without putting the string in the error', () => {
    const secret = 'challenge-SECRET\x01';
    expect(() => writePlistXml({ Challenge: secret })).toThrow(PlistWriteError);
    expect(() => writePlistXml({ Challenge: secret })).not.toThrow(/SECRET/);
    expect(() => build({ Challenge: secret })).toThrow();
  });
});
