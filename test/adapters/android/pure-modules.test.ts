import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { emptyState, readAgentState, type InstalledCertificate, type StoredChallenge } from '../../../src/adapters/android/state.js';
import { canonicalJson, ifNoneMatchHits, strongEtag } from '../../../src/adapters/android/canonical.js';
import { decideChallenge, requestHash } from '../../../src/adapters/android/challenge-reuse.js';
import { checkin, stateChanged } from '../../../src/adapters/android/checkin.js';
import { canonicalTextsV1, pemCertificates, policyContentV1 } from '../../../src/adapters/android/render.js';
import { parseEnrollRequest } from '../../../src/adapters/android/enrollment-request.js';
import { policyAction } from '../../../src/adapters/android/renewal.js';
import { parseStatusRequest, toDeliveryReport } from '../../../src/adapters/android/status-request.js';
import { chooseVersion, requestedVersion } from '../../../src/adapters/android/versions.js';
import { escapeRdnValue, keyPurposes, x500Subject } from '../../../src/adapters/android/vocabulary.js';
import { device, deviceVpn, userWifi } from './fixtures.js';
import { PIXEL_8 } from '../../../src/sim/android.js';

const at = (iso: string) => new Date(iso);
const minted = '2026-03-02T09:00:00.000Z'; // userWifi's challenge expires 10:00

function stored(overrides: Partial<StoredChallenge> = {}): StoredChallenge {
  return {
    profileVersion: 1,
    requestHash: requestHash(userWifi),
    challenge: 'AQStored',
    scepUrl: 'https://scep.example/one',
    mintedAt: minted,
    expiresAt: '2026-03-02T10:00:00.000Z',
    ...overrides,
  };
}

function installed(overrides: Partial<InstalledCertificate> = {}): InstalledCertificate {
  return {
    profileVersion: 1,
    thumbprint: 'AB'.repeat(20),
    alias: 'a',
    reportedAt: '2026-01-01T00:00:00.000Z',
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2026-11-01T00:00:00.000Z', // 304 days
    ...overrides,
  };
}

describe('challenge reuse', () => {
  it('serves the stored challenge while it is unused and not close to expiry', () => {
    const d = decideChallenge(userWifi, stored(), undefined, undefined, at('2026-03-02T09:40:00Z'));
    expect(d).toEqual({ reuse: true, stored: stored() });
  });
  it('mints fresh within ten minutes of expiry', () => {
    const d = decideChallenge(userWifi, stored(), undefined, undefined, at('2026-03-02T09:51:00Z'));
    expect(d).toMatchObject({ reuse: false, why: 'expiring', fresh: { challenge: userWifi.challenge } });
  });
  it('uses a quarter of the lifetime as the margin for short-lived challenges', () => {
    const short = stored({ expiresAt: '2026-03-02T09:04:00.000Z' }); // 4 minutes: margin 1 minute
    expect(decideChallenge(userWifi, short, undefined, undefined, at('2026-03-02T09:02:30Z')).reuse).toBe(true);
    expect(decideChallenge(userWifi, short, undefined, undefined, at('2026-03-02T09:03:30Z')).reuse).toBe(false);
  });
  it('mints fresh once a result was reported after the mint, not before', () => {
    expect(decideChallenge(userWifi, stored(), installed({ reportedAt: '2026-03-02T09:10:00.000Z' }), undefined, at('2026-03-02T09:20:00Z'))).toMatchObject({ why: 'used' });
    expect(decideChallenge(userWifi, stored(), undefined, '2026-03-02T09:10:00.000Z', at('2026-03-02T09:20:00Z'))).toMatchObject({ why: 'used' });
    expect(decideChallenge(userWifi, stored(), installed(), '2026-03-01T00:00:00.000Z', at('2026-03-02T09:20:00Z')).reuse).toBe(true);
  });
  it('mints no challenge when it serves the stored one (reading a delivery\'s challenge signs one)', () => {
    let mints = 0;
    const counting = { ...userWifi };
    Object.defineProperty(counting, 'challenge', { get: () => (mints += 1, userWifi.challenge) });
    Object.defineProperty(counting, 'challengeExpiresAt', { get: () => (mints += 1, userWifi.challengeExpiresAt) });
    expect(decideChallenge(counting, stored(), undefined, undefined, at('2026-03-02T09:40:00Z')).reuse).toBe(true);
    expect(mints).toBe(0);
    expect(decideChallenge(counting, stored(), undefined, undefined, at('2026-03-02T09:51:00Z'))).toMatchObject({ reuse: false, fresh: { challenge: userWifi.challenge } });
    expect(mints).toBeGreaterThan(0);
  });
  it('mints fresh for a new profile version or a changed request', () => {
    expect(decideChallenge(userWifi, stored({ profileVersion: 0 }), undefined, undefined, at('2026-03-02T09:20:00Z'))).toMatchObject({ why: 'stale' });
    expect(decideChallenge(userWifi, stored({ requestHash: 'x' }), undefined, undefined, at('2026-03-02T09:20:00Z'))).toMatchObject({ why: 'stale' });
  });
});

describe('renewal', () => {
  const p = { version: 1, renewalThresholdPercent: 20 };
  it('enroll without a certificate for this version; keep while fresh; renew inside the threshold', () => {
    expect(policyAction(p, undefined, at('2026-03-01T00:00:00Z'))).toBe('enroll');
    expect(policyAction({ ...p, version: 2 }, installed(), at('2026-03-01T00:00:00Z'))).toBe('enroll');
    expect(policyAction(p, installed(), at('2026-03-01T00:00:00Z'))).toBe('keep');
    // 304 days of life: 20 % is 60.8 days, from 2026-09-01 on.
    expect(policyAction(p, installed(), at('2026-08-31T00:00:00Z'))).toBe('keep');
    expect(policyAction(p, installed(), at('2026-09-02T00:00:00Z'))).toBe('renew');
    expect(policyAction(p, installed(), at('2026-12-01T00:00:00Z'))).toBe('renew');
  });
});

describe('check-in', () => {
  const now = at('2026-03-02T09:00:00Z');
  it('keeps generatedAt and the ETag while the content is unchanged, and changes both when it changes', () => {
    const a = checkin(device, [userWifi, deviceVpn], emptyState(), 1, now);
    const b = checkin(device, [{ ...userWifi, challenge: 'AQother' }, { ...deviceVpn, challenge: 'AQother2' }], a.state, 1, at('2026-03-02T09:05:00Z'));
    expect(b.etag).toBe(a.etag);
    expect(b.document.generatedAt).toBe('2026-03-02T09:00:00.000Z');
    const withInstall = { ...b.state, installed: { [userWifi.profile.id]: installed({ reportedAt: '2026-03-02T09:06:00.000Z', notBefore: '2026-03-02T09:06:00.000Z', notAfter: '2027-03-02T09:06:00.000Z' }) } };
    const c = checkin(device, [userWifi, deviceVpn], withInstall, 1, at('2026-03-02T09:07:00Z'));
    expect(c.etag).not.toBe(a.etag);
    expect(c.document.generatedAt).toBe('2026-03-02T09:07:00.000Z');
    expect(c.document.policies.find((p) => p.id === userWifi.profile.id)).toMatchObject({ action: 'keep', scep: { challenge: null } });
    expect(c.state.challenges[userWifi.profile.id]).toBeUndefined();
  });
  it('keeps serving the SCEP URL it chose first while the profile lists it, though core picks at random', () => {
    const urls = ['https://a.example/scep', 'https://b.example/scep'];
    const multi = (url: string) => ({ ...userWifi, profile: { ...userWifi.profile, scepServerUrls: urls }, scepUrl: url });
    const a = checkin(device, [multi(urls[0]!)], emptyState(), 1, now);
    const b = checkin(device, [multi(urls[1]!)], a.state, 1, now);
    expect(b.document.policies[0]!.scep.url).toBe(urls[0]);
    expect(b.etag).toBe(a.etag);
    // Installed (keep): still the same URL, whatever core picked.
    const kept = { ...b.state, installed: { [userWifi.profile.id]: installed({ reportedAt: '2026-03-02T09:06:00.000Z', notBefore: '2026-03-02T09:06:00.000Z', notAfter: '2027-03-02T09:06:00.000Z' }) } };
    const c1 = checkin(device, [multi(urls[1]!)], kept, 1, at('2026-03-02T09:07:00Z'));
    const c2 = checkin(device, [multi(urls[1]!)], c1.state, 1, at('2026-03-02T09:08:00Z'));
    expect(c1.document.policies[0]!.scep.url).toBe(urls[0]);
    expect(c2.etag).toBe(c1.etag);
    // A URL the profile no longer lists is dropped.
    const moved = { ...userWifi, profile: { ...userWifi.profile, scepServerUrls: ['https://c.example/scep'] }, scepUrl: 'https://c.example/scep' };
    expect(checkin(device, [moved], c2.state, 1, now).document.policies[0]!.scep.url).toBe('https://c.example/scep');
  });

  it('lists profiles core could not prepare as unavailable, and drops challenges of profiles no longer delivered', () => {
    const a = checkin(device, [userWifi, deviceVpn], emptyState(), 1, now);
    const b = checkin(device, [{ profile: deviceVpn.profile, ok: false, error: { code: 'ATTRIBUTE_MISSING', message: 'm' } }], a.state, 1, now);
    expect(b.document.policies).toEqual([]);
    expect(b.unavailable).toEqual([{ profileId: deviceVpn.profile.id, code: 'ATTRIBUTE_MISSING', message: 'm' }]);
    expect(Object.keys(b.state.challenges)).toEqual([]);
    // Reported to the admin once, not at every check-in; again when it changes.
    expect(b.reports).toEqual([
      { profileId: deviceVpn.profile.id, profileVersion: 3, state: 'failed', errorCode: 'ATTRIBUTE_MISSING', detail: 'not delivered to the agent: m' },
    ]);
    const c = checkin(device, [{ profile: deviceVpn.profile, ok: false, error: { code: 'ATTRIBUTE_MISSING', message: 'm' } }], b.state, 1, now);
    expect(c.reports).toEqual([]);
    const d = checkin(device, [{ profile: deviceVpn.profile, ok: false, error: { code: 'NO_PRIMARY_USER', message: 'n' } }], c.state, 1, now);
    expect(d.reports).toMatchObject([{ errorCode: 'NO_PRIMARY_USER' }]);
  });
});

describe('the answer hashed once (issue 13)', () => {
  const now = at('2026-03-02T09:00:00Z');
  const renewal = { url: 'https://mdm.example/android/v1/identity/renew', subject: 'CN=x', keyAlgorithm: 'RSA' as const, keySize: 2048, notAfter: '2027-01-01T00:00:00.000Z' };
  it('the ETag is the canonical document\'s hash and the content hash the canonical content\'s, with and without identityRenewal', () => {
    for (const ir of [undefined, renewal]) {
      const r = checkin(device, [userWifi, deviceVpn], emptyState(), 1, now, [], ir);
      expect(r.etag).toBe(strongEtag(r.document));
      const { generatedAt: _g, ...content } = r.document;
      expect(r.state.documents['1']!.contentHash).toBe(createHash('sha256').update(canonicalJson(content)).digest('hex'));
      const texts = canonicalTextsV1(policyContentV1(device, r.document.policies, ir));
      expect(texts.content).toBe(canonicalJson(content));
      expect(texts.document(r.document.generatedAt)).toBe(canonicalJson(r.document));
    }
  });
  it('stateChanged compares as canonical JSON would: member order does not count, a changed entry does', () => {
    const a = checkin(device, [userWifi, deviceVpn], emptyState(), 1, now).state;
    const reordered = Object.fromEntries(Object.entries(JSON.parse(JSON.stringify(a)) as object).reverse()) as typeof a;
    expect(stateChanged(a, reordered)).toBe(false);
    expect(stateChanged(a, { ...a, rootsServed: undefined })).toBe(a.rootsServed !== undefined);
    const id = userWifi.profile.id;
    expect(stateChanged(a, { ...a, challenges: { ...a.challenges, [id]: { ...a.challenges[id]!, scepUrl: 'https://other.example' } } })).toBe(true);
    expect(stateChanged(a, { ...a, scepUrls: {} })).toBe(true);
  });
  it('every policy carries the roots of its PEM, decoded once per PEM', () => {
    const r = checkin(device, [userWifi, deviceVpn], emptyState(), 1, now);
    for (const [p, d] of [[r.document.policies.find((x) => x.id === userWifi.profile.id)!, userWifi], [r.document.policies.find((x) => x.id === deviceVpn.profile.id)!, deviceVpn]] as const) {
      const der = pemCertificates(d.trustedRootPem);
      expect(p.trustedRoots).toEqual(der.map((b) => b.toString('base64')));
      expect(p.scep.caFingerprint).toBe(der[0] ? createHash('sha256').update(der[0]).digest('hex') : '');
    }
    // Each policy its own array: a caller changing one does not change the memo.
    r.document.policies[0]!.trustedRoots.push('x');
    expect(checkin(device, [userWifi], emptyState(), 1, now).document.policies[0]!.trustedRoots).not.toContain('x');
  });
});

describe('version negotiation', () => {
  it('reads the query first, then the Accept media type parameter', () => {
    expect(requestedVersion('2', 'application/vnd.mdmgw.android-policy+json; schemaVersion=1')).toBe('2');
    expect(requestedVersion(undefined, 'application/json, application/vnd.mdmgw.android-policy+json; q=0.9; schemaVersion="1"')).toBe('1');
    expect(requestedVersion(undefined, 'application/json')).toBeNull();
    expect(requestedVersion(['1', '2'], undefined)).toBeNull();
  });
  it('serves the asked version, else the highest the agent declared, else 1', () => {
    expect(chooseVersion('1', undefined)).toEqual({ ok: true, version: 1 });
    expect(chooseVersion('01', undefined)).toMatchObject({ ok: false, supported: [1] });
    expect(chooseVersion('3', [1])).toMatchObject({ ok: false, asked: '3' });
    expect(chooseVersion(null, [1, 5])).toEqual({ ok: true, version: 1 });
    expect(chooseVersion(null, [5])).toEqual({ ok: true, version: 1 });
  });
});

describe('ETags', () => {
  it('hash the canonical document: member order does not matter, content does', () => {
    expect(strongEtag({ a: 1, b: [1, 2] })).toBe(strongEtag({ b: [1, 2], a: 1 }));
    expect(strongEtag({ a: 1, b: [2, 1] })).not.toBe(strongEtag({ a: 1, b: [1, 2] }));
    expect(canonicalJson({ b: 1, a: { d: undefined, c: 'x' } })).toBe('{"a":{"c":"x"},"b":1}');
  });
  it('If-None-Match matches a listed tag, a weak form of it, or *', () => {
    expect(ifNoneMatchHits('"x", "y"', '"y"')).toBe(true);
    expect(ifNoneMatchHits('W/"y"', '"y"')).toBe(true);
    expect(ifNoneMatchHits('*', '"y"')).toBe(true);
    expect(ifNoneMatchHits('"x"', '"y"')).toBe(false);
    expect(ifNoneMatchHits(undefined, '"y"')).toBe(false);
  });
});

describe('requests', () => {
  it('takes the token from the body or the URL, not two different ones', () => {
    expect(parseEnrollRequest({ device: PIXEL_8 }, 'ABCDEFGHIJKLMNOP')).toMatchObject({ ok: true, token: 'ABCDEFGHIJKLMNOP' });
    expect(parseEnrollRequest({ device: PIXEL_8, token: 'abcdefghijklmnop' }, 'ABCDEFGHIJKLMNOP')).toMatchObject({ ok: true });
    expect(parseEnrollRequest({ device: PIXEL_8, token: 'QQQQQQQQQQQQQQQQ' }, 'ABCDEFGHIJKLMNOP')).toEqual({ ok: false, issues: [{ path: 'token', message: 'differs from the token in the URL' }] });
    expect(parseEnrollRequest(undefined, undefined)).toEqual({ ok: false, issues: [{ path: 'device', message: 'is required: the device facts, an object' }] });
    expect(parseEnrollRequest({ device: { ...PIXEL_8, jailbroken: true } }, 'ABCDEFGHIJKLMNOP')).toMatchObject({ ok: false, issues: [{ path: 'device.jailbroken' }] });
    expect(parseEnrollRequest({ device: { ...PIXEL_8, securityPatchLevel: '2024-02-30' }, token: 'ABCDEFGHIJKLMNOP' }, undefined)).toMatchObject({ ok: false, issues: [{ path: 'device.securityPatchLevel' }] });
  });
  it('maps agent results to core delivery reports, the KeyChain alias into the detail', () => {
    const parsed = parseStatusRequest({
      results: [
        { policyId: userWifi.profile.id, policyVersion: 1, state: 'installed', thumbprint: 'ab'.repeat(20), alias: 'mdmgw-x', detail: 'ok' },
        { policyId: deviceVpn.profile.id, policyVersion: 3, state: 'failed', errorCode: 'CA_FINGERPRINT_MISMATCH' },
      ],
    });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.results.map(toDeliveryReport)).toEqual([
      { profileId: userWifi.profile.id, profileVersion: 1, state: 'installed', thumbprint: 'AB'.repeat(20), detail: 'KeyChain alias mdmgw-x; ok' },
      { profileId: deviceVpn.profile.id, profileVersion: 3, state: 'failed', errorCode: 'CA_FINGERPRINT_MISMATCH' },
    ]);
    const dup = parseStatusRequest({ results: [{ policyId: userWifi.profile.id, policyVersion: 1, state: 'pending' }, { policyId: userWifi.profile.id, policyVersion: 1, state: 'pending' }] });
    expect(dup).toMatchObject({ ok: false, issues: [{ path: 'results.1.policyId', message: 'appears twice' }] });
    expect(parseStatusRequest({ results: [{ policyId: userWifi.profile.id, policyVersion: 1, state: 'installed', thumbprint: 'AB'.repeat(20), alias: 'a', certificate: 'AAAA' }] })).toMatchObject({
      ok: false,
      issues: [{ path: 'results.0.certificate' }],
    });
  });
});

describe('Android vocabulary', () => {
  it('escapes RFC 4514 specials and maps E to EMAILADDRESS', () => {
    expect(escapeRdnValue(' a,b+c"d\\e<f>g;h=i ')).toBe('\\ a\\,b\\+c\\"d\\\\e\\<f\\>g\\;h\\=i\\ ');
    expect(escapeRdnValue('#1')).toBe('\\#1');
    expect(x500Subject([{ type: 'CN', value: 'x' }, { type: 'E', value: 'a@b' }, { type: '2.5.4.97', value: 'v' }])).toBe('CN=x,EMAILADDRESS=a@b,2.5.4.97=v');
  });
  it('derives KeyProperties purposes from keyUsage', () => {
    expect(keyPurposes([], 'RSA')).toEqual(['PURPOSE_SIGN']);
    expect(keyPurposes(['keyEncipherment'], 'RSA')).toEqual(['PURPOSE_SIGN', 'PURPOSE_DECRYPT']);
    expect(keyPurposes(['keyAgreement'], 'RSA')).toEqual(['PURPOSE_SIGN']);
    expect(keyPurposes(['keyAgreement'], 'EC')).toEqual(['PURPOSE_SIGN', 'PURPOSE_AGREE_KEY']);
  });
});

describe('agent state', () => {
  it('a damaged section falls back to empty without losing the rest', () => {
    const s = readAgentState({ facts: PIXEL_8, challenges: 'garbage', installed: { x: { profileVersion: 'no' } } });
    expect(s.facts).toMatchObject({ model: 'Pixel 8' });
    expect(s.challenges).toEqual({});
    expect(s.installed).toEqual({});
  });
});

describe('docs/android.md', () => {
  it('documents exactly the agent error codes the status endpoint accepts', async () => {
    const { readFileSync } = await import('node:fs');
    const { AGENT_ERROR_CODE_LIST } = await import('../../../src/adapters/android/error-codes.js');
    const docs = readFileSync(new URL('../../../docs/android.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('### Agent error codes'), docs.indexOf('## Limits'));
    const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual([...AGENT_ERROR_CODE_LIST].sort());
  });
});
