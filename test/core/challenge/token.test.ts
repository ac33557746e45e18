import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHALLENGE_KEY_FILE, loadOrCreateChallengeKey } from '../../../src/core/challenge/signing-key.js';
import { CHALLENGE_BYTES, challengeFingerprint, mintChallenge, verifyChallenge } from '../../../src/core/challenge/token.js';
import type { ResolvedRequest } from '../../../src/core/model.js';
import { identityRequest, requestDigest, requestSha256 } from '../../../src/core/profile/resolve.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');

function userRequest(): ResolvedRequest {
  return {
    profileId: randomUUID(),
    profileVersion: 4294967295,
    target: { kind: 'user', userId: randomUUID(), deviceId: randomUUID() },
    subject: [{ type: 'CN', value: 'x'.repeat(500) }],
    subjectAlternativeNames: [{ type: 'upn', value: 'alice@contoso.com' }],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
    keyUsage: ['digitalSignature'],
    keySize: 4096,
    hashAlgorithm: 'SHA-256',
    validityDays: 365,
  };
}

const now = new Date('2030-01-01T00:00:00Z');
const mint = (resolved = userRequest()) => mintChallenge(privateKey, { kind: 'profile', resolved, ttlSeconds: 3600, now });

describe('mintChallenge / verifyChallenge', () => {
  it('round-trips every claim', () => {
    const resolved = userRequest();
    const m = mint(resolved);
    const v = verifyChallenge(publicKey, m.token);
    expect(v).toEqual({
      ok: true,
      claims: {
        version: 1,
        kind: 'profile',
        id: m.id,
        profileId: resolved.profileId,
        profileVersion: resolved.profileVersion,
        target: resolved.target,
        requestDigest: requestDigest(resolved),
        expiresAt: new Date('2030-01-01T01:00:00Z'),
      },
    });
    expect(m.expiresAt).toEqual(new Date('2030-01-01T01:00:00Z'));
    expect(m.id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('round-trips identity and user-without-device targets', () => {
    const device = { id: randomUUID(), name: 'd', platform: 'ios' as const, serialNumber: null, userId: null, attributes: {}, reported: { name: null, serialNumber: null, conflicts: [], updatedAt: null }, createdAt: '', blockedAt: null };
    const id = mintChallenge(privateKey, { kind: 'identity', resolved: identityRequest(device), ttlSeconds: 60, now });
    const v = verifyChallenge(publicKey, id.token);
    expect(v.ok && v.claims).toMatchObject({ kind: 'identity', profileId: null, profileVersion: null, target: { kind: 'device', deviceId: device.id } });

    const r = userRequest();
    r.target = { kind: 'user', userId: randomUUID(), deviceId: null };
    const u = verifyChallenge(publicKey, mint(r).token);
    expect(u.ok && u.claims.target).toEqual(r.target);
  });

  it('is at most 255 characters of the standard base64 alphabet, over many mints', () => {
    const alphabet = /^[A-Za-z0-9+/=]+$/;
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const t = mint().token;
      expect(t.length).toBeLessThanOrEqual(255);
      expect(t).toMatch(alphabet);
      for (const c of t) seen.add(c);
    }
    // The sample is large enough that + and / do occur: the test would notice base64url.
    expect(seen.has('+') && seen.has('/')).toBe(true);
    expect(mint().token.length).toBe(Math.ceil(CHALLENGE_BYTES / 3) * 4);
  });

  it('refuses a token with any byte changed', () => {
    const m = mint();
    const bytes = Buffer.from(m.token, 'base64');
    for (let i = 0; i < bytes.length; i++) {
      const copy = Buffer.from(bytes);
      copy[i] = copy[i]! ^ 0x01;
      const v = verifyChallenge(publicKey, copy.toString('base64'));
      expect(v.ok, `byte ${i}`).toBe(false);
      if (!v.ok) expect(['CHALLENGE_BAD_SIGNATURE', 'CHALLENGE_MALFORMED']).toContain(v.code);
    }
    // A flipped bit in the signed body (not version/kind/target bytes) is a bad signature.
    const body = Buffer.from(bytes);
    body[20] = body[20]! ^ 0xff;
    expect(verifyChallenge(publicKey, body.toString('base64'))).toEqual({ ok: false, code: 'CHALLENGE_BAD_SIGNATURE' });
  });

  it('refuses a token with any character changed', () => {
    const t = mint().token;
    for (let i = 0; i < t.length; i++) {
      const c = t[i] === 'A' ? 'B' : 'A';
      expect(verifyChallenge(publicKey, t.slice(0, i) + c + t.slice(i + 1)).ok, `char ${i}`).toBe(false);
    }
  });

  it('refuses a token signed by another key', () => {
    const other = generateKeyPairSync('ed25519');
    const m = mintChallenge(other.privateKey, { kind: 'profile', resolved: userRequest(), ttlSeconds: 60 });
    expect(verifyChallenge(publicKey, m.token)).toEqual({ ok: false, code: 'CHALLENGE_BAD_SIGNATURE' });
  });

  it('refuses truncated, extended, non-canonical and foreign strings as malformed', () => {
    const t = mint().token;
    const bytes = Buffer.from(t, 'base64');
    for (const bad of [
      '',
      t.slice(0, -4),
      bytes.subarray(0, bytes.length - 1).toString('base64'),
      Buffer.concat([bytes, Buffer.from([0])]).toString('base64'),
      t.replace(/=+$/, ''),
      Buffer.from(t, 'base64').toString('base64url'),
      `${t} `,
      'password123',
      'x'.repeat(300),
    ]) {
      expect(verifyChallenge(publicKey, bad), JSON.stringify(bad.slice(0, 20))).toEqual({ ok: false, code: 'CHALLENGE_MALFORMED' });
    }
    const wrongVersion = Buffer.from(bytes);
    wrongVersion[0] = 2;
    expect(verifyChallenge(publicKey, wrongVersion.toString('base64'))).toEqual({ ok: false, code: 'CHALLENGE_MALFORMED' });
  });

  it('does not check expiry', () => {
    const old = mintChallenge(privateKey, { kind: 'profile', resolved: userRequest(), ttlSeconds: 1, now: new Date('2001-01-01T00:00:00Z') });
    expect(verifyChallenge(publicKey, old.token).ok).toBe(true);
  });

  it('refuses to mint with a non-UUID id, a non-Ed25519 key or a kind that does not fit', () => {
    const r = userRequest();
    expect(() => mint({ ...r, profileId: 'profile-1' })).toThrow(/not a UUID/);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => mintChallenge(rsa.privateKey, { kind: 'profile', resolved: r, ttlSeconds: 60 })).toThrow(/Ed25519/);
    expect(() => mintChallenge(privateKey, { kind: 'identity', resolved: r, ttlSeconds: 60 })).toThrow(/identity/);
    // The key check is remembered per key (issue 13), and still refuses a public key after a private one passed.
    expect(() => mintChallenge(generateKeyPairSync('ed25519').publicKey, { kind: 'profile', resolved: r, ttlSeconds: 60 })).toThrow(/Ed25519/);
    expect(() => mintChallenge(privateKey, { kind: 'profile', resolved: r, ttlSeconds: 60, requestSha256: Buffer.alloc(16) })).toThrow(/32 bytes/);
  });

  it('binds the request SHA-256 the caller passes (the first 16 bytes), the same as computing it, with a distinct id each time', () => {
    const r = userRequest();
    const given = mintChallenge(privateKey, { kind: 'profile', resolved: r, ttlSeconds: 60, now, requestSha256: requestSha256(r) });
    const computed = mint(r);
    const a = verifyChallenge(publicKey, given.token);
    const b = verifyChallenge(publicKey, computed.token);
    expect(a.ok && a.claims.requestDigest).toBe(requestDigest(r));
    expect(b.ok && b.claims.requestDigest).toBe(requestDigest(r));
    expect(a.ok && a.claims.id).toBe(given.id);
    // Ids from the pool: distinct over more than one refill, never the zeros a spent pool slot is wiped to.
    const ids = new Set(Array.from({ length: 600 }, () => mint(r).id));
    expect(ids.size).toBe(600);
    expect(ids.has('0'.repeat(32))).toBe(false);
  });
});

describe('challengeFingerprint', () => {
  it('is short, stable, distinct per token and does not contain the token', () => {
    const a = mint().token;
    const b = mint().token;
    expect(challengeFingerprint(a)).toBe(challengeFingerprint(a));
    expect(challengeFingerprint(a)).not.toBe(challengeFingerprint(b));
    expect(challengeFingerprint(a).length).toBeLessThanOrEqual(16);
    expect(a).not.toContain(challengeFingerprint(a).slice(4));
  });
});

describe('loadOrCreateChallengeKey', () => {
  it('creates an Ed25519 PKCS#8 key with mode 0600 and loads the same key again', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-chk-'));
    const a = await loadOrCreateChallengeKey(path.join(dir, 'data'));
    const file = path.join(dir, 'data', CHALLENGE_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(a.privateKey.asymmetricKeyType).toBe('ed25519');
    const b = await loadOrCreateChallengeKey(path.join(dir, 'data'));
    const m = mintChallenge(a.privateKey, { kind: 'profile', resolved: userRequest(), ttlSeconds: 60 });
    expect(verifyChallenge(b.publicKey, m.token).ok).toBe(true);
  });

  it('agrees on one key when two loads race', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-chk-'));
    const [a, b] = await Promise.all([loadOrCreateChallengeKey(dir), loadOrCreateChallengeKey(dir)]);
    const m = mintChallenge(a.privateKey, { kind: 'profile', resolved: userRequest(), ttlSeconds: 60 });
    expect(verifyChallenge(b.publicKey, m.token).ok).toBe(true);
  });

  it('tightens loose permissions and refuses a key that is not Ed25519', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-chk-'));
    await loadOrCreateChallengeKey(dir);
    const file = path.join(dir, CHALLENGE_KEY_FILE);
    await chmod(file, 0o644);
    await loadOrCreateChallengeKey(dir);
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await writeFile(file, rsa);
    await expect(loadOrCreateChallengeKey(dir)).rejects.toThrow(/must be Ed25519/);
  });
});
