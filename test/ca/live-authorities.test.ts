import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { liveAuthorities } from '../../src/ca/live-authorities.js';
import { tempDir } from './helpers.js';

// Which retired CAs stay in `authorities.all` after a rollover: each one while
// something it signed is unexpired (CRL/OCSP and its device identities still
// matter), and never past its own certificate's expiry. The storage query
// behind it (lastExpiryByIssuer) is in the shared storage contract.

const DAY = 86_400_000;

describe('liveAuthorities', () => {
  const dirs = [tempDir(), tempDir(), tempDir()];
  let current: CertificateAuthority;
  let retired: CertificateAuthority[];
  const lastExpiry = new Map<string, string>();
  const storage = { lastExpiryByIssuer: async (id: string) => lastExpiry.get(id) ?? null };

  beforeAll(async () => {
    const [a, b, c] = await Promise.all(dirs.map((d) => loadOrCreateCaMaterial(d.path, {})));
    current = new CertificateAuthority(a!.root);
    retired = [new CertificateAuthority(b!.root), new CertificateAuthority(c!.root)];
  }, 60_000);
  afterAll(() => dirs.forEach((d) => d.cleanup()));

  it('keeps a retired CA while its last certificate is unexpired, current first, retired in the given order', async () => {
    const now = new Date();
    lastExpiry.set(retired[0]!.id, new Date(now.getTime() + 30 * DAY).toISOString());
    lastExpiry.set(retired[1]!.id, new Date(now.getTime() + 60 * DAY).toISOString());
    const a = await liveAuthorities(current, retired, storage, now);
    expect(a.current).toBe(current);
    expect(a.all.map((x) => x.id)).toEqual([current.id, retired[0]!.id, retired[1]!.id]);
    expect(a.byId(retired[1]!.id.toUpperCase())).toBe(retired[1]);
  });

  it('drops a retired CA once everything it signed has expired, or that signed nothing', async () => {
    const now = new Date(Date.now() + 45 * DAY);
    const a = await liveAuthorities(current, retired, storage, now);
    expect(a.all.map((x) => x.id)).toEqual([current.id, retired[1]!.id]);
    lastExpiry.delete(retired[1]!.id);
    expect((await liveAuthorities(current, retired, storage, now)).all).toEqual([current]);
  });

  it('drops a retired CA whose own certificate expired, whatever its records say', async () => {
    lastExpiry.set(retired[0]!.id, new Date(retired[0]!.notAfter.getTime() + 365 * DAY).toISOString());
    const after = new Date(retired[0]!.notAfter.getTime() + DAY);
    expect((await liveAuthorities(current, [retired[0]!], storage, after)).all).toEqual([current]);
  });
});
