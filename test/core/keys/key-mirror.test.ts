import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadOrCreateCaMaterial, prepareNextRa } from '../../../src/ca/key-files.js';
import { RaKeeper } from '../../../src/ca/ra-renewal.js';
import { loadOrCreateChallengeKey } from '../../../src/core/challenge/signing-key.js';
import { KEY_LEASE, KeyMirror } from '../../../src/core/keys/key-mirror.js';
import { databaseKeyStore } from '../../../src/core/keys/key-store.js';
import { passphraseSealer, SealedKeyError } from '../../../src/core/keys/sealed.js';
import { loadOrCreateSecretBox } from '../../../src/core/secret-box.js';
import { openSqliteStorage } from '../../../src/core/storage/sqlite.js';
import type { Storage } from '../../../src/core/storage/storage.js';
import { createLogger } from '../../../src/log.js';

// Two instances, each with its own data directory, on one database: the key
// material comes from the database (MDMGW_KEY_STORE=database).

const PASSPHRASE = 'correct horse battery staple';
const log = createLogger('silent');

// RSA key generation is slow on a busy machine: generous timeouts.
describe('KeyMirror: key material shared through the database', { timeout: 240_000 }, () => {
  let root: string;
  let storage: Storage;
  const dirA = () => join(root, 'a');
  const dirB = () => join(root, 'b');
  const mirror = (dataDir: string, holder: string, passphrase = PASSPHRASE) =>
    new KeyMirror({ store: databaseKeyStore(storage, passphraseSealer(passphrase)), dataDir, leases: storage, holder, log, leaseWaitMs: 60_000 });
  const startKeys = (dataDir: string) => async () => {
    const ca = await loadOrCreateCaMaterial(dataDir, { passphrase: PASSPHRASE });
    await loadOrCreateChallengeKey(dataDir);
    await loadOrCreateSecretBox(dataDir);
    return ca;
  };

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'mdmgw-keymirror-'));
    storage = await openSqliteStorage(join(root, 'shared.sqlite'));
  });
  afterEach(async () => {
    await storage.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('two instances starting at the same moment end up with one CA, RA, challenge key and secrets key', async () => {
    const [a, b] = await Promise.all([mirror(dirA(), 'A').exclusive(startKeys(dirA())), mirror(dirB(), 'B').exclusive(startKeys(dirB()))]);
    expect([a.created, b.created].filter(Boolean)).toHaveLength(1); // one created, the other pulled
    expect(Buffer.from(a.root.certificate).equals(Buffer.from(b.root.certificate))).toBe(true);
    expect(Buffer.from(a.ra.certificate).equals(Buffer.from(b.ra.certificate))).toBe(true);
    for (const f of ['ca.key', 'ra.key', 'challenge-signing.key', 'secrets.key']) {
      expect(readFileSync(join(dirA(), f)).equals(readFileSync(join(dirB(), f))), f).toBe(true);
    }
    // Sealed in the database: no PEM, no key bytes in the clear.
    const rows = await storage.listKeyMaterial();
    expect(rows.map((r) => r.name)).toEqual(expect.arrayContaining(['ca.key', 'ca.pem', 'ra.key', 'ra.pem', 'challenge-signing.key', 'secrets.key']));
    const secrets = readFileSync(join(dirA(), 'secrets.key'), 'utf8').trim();
    for (const r of rows) {
      const text = Buffer.from(r.value).toString('latin1');
      expect(text).not.toContain('-----BEGIN');
      expect(text).not.toContain(secrets);
    }
  });

  it('a wrong passphrase stops the start with a message naming MDMGW_CA_PASSPHRASE', async () => {
    await mirror(dirA(), 'A').exclusive(startKeys(dirA()));
    const wrong = mirror(dirB(), 'B', 'not the passphrase at all');
    await expect(wrong.exclusive(startKeys(dirB()))).rejects.toThrow(SealedKeyError);
    await expect(mirror(dirB(), 'B', 'not the passphrase at all').begin()).rejects.toThrow(/wrong MDMGW_CA_PASSPHRASE/);
    // Nothing was written into B's data directory, and the lease was given back.
    expect(existsSync(join(dirB(), 'ca.key'))).toBe(false);
    expect(await storage.tryLease(KEY_LEASE, 'someone', 1000, new Date().toISOString())).toBe(true);
  });

  it('an RA renewed on one instance reaches the other on its next refresh; a deleted file is deleted there too', async () => {
    const ma = mirror(dirA(), 'A');
    const mb = mirror(dirB(), 'B');
    const a = await ma.exclusive(startKeys(dirA()));
    const b = await mb.exclusive(startKeys(dirB()));
    const keeperB = new RaKeeper({ dataDir: dirB(), root: b.root, passphrase: PASSPHRASE }, { ra: b.ra, previousRa: null, nextRa: null });
    // A prepares the next RA (what RaKeeper does 30 days before expiry), under the lease.
    const next = await ma.exclusive(() => prepareNextRa(dirA(), a.root, a.ra.certificate, { passphrase: PASSPHRASE, organization: 'mdm-gateway' }));
    expect(next).not.toBeNull();
    expect(keeperB.peek().nextRa).toBeNull();
    const changed = await mb.refresh();
    expect(changed).toEqual(expect.arrayContaining(['ra.next.key', 'ra.next.pem']));
    await keeperB.reload();
    expect(Buffer.from(keeperB.peek().nextRa!.certificate).equals(Buffer.from(next!.certificate))).toBe(true);
    // A removes ra.next.* (as the RA switch does): B's copies go too.
    await ma.exclusive(async () => {
      unlinkSync(join(dirA(), 'ra.next.key'));
      unlinkSync(join(dirA(), 'ra.next.pem'));
    });
    await mb.refresh();
    expect(existsSync(join(dirB(), 'ra.next.key'))).toBe(false);
    expect(existsSync(join(dirB(), 'ra.next.pem'))).toBe(false);
  });

  it('a refresh waits its turn: it does nothing while another instance holds the key lease', async () => {
    const ma = mirror(dirA(), 'A');
    await ma.exclusive(startKeys(dirA()));
    const mb = mirror(dirB(), 'B');
    await ma.begin();
    expect(await mb.refresh()).toBeNull();
    await ma.end();
    expect(await mb.refresh()).toEqual(expect.arrayContaining(['ca.key']));
  });

  it('a database row whose name is not key material is never written as a file', async () => {
    const sealer = passphraseSealer(PASSPHRASE);
    await storage.putKeyMaterial('../escape.key', sealer.seal('../escape.key', Buffer.from('x')), 0);
    await mirror(dirA(), 'A').exclusive(startKeys(dirA()));
    expect(existsSync(join(root, 'escape.key'))).toBe(false);
  });

  it('a restarted instance takes what another changed meanwhile quietly: nothing kept aside', async () => {
    await mirror(dirA(), 'A').exclusive(startKeys(dirA()));
    await mirror(dirB(), 'B').exclusive(startKeys(dirB()));
    // B stops; A rotates the challenge key (delete, create) under the lease.
    await mirror(dirA(), 'A').exclusive(async () => {
      unlinkSync(join(dirA(), 'challenge-signing.key'));
      await loadOrCreateChallengeKey(dirA());
    });
    // B starts again (a new process: nothing in memory) and gets A's key.
    await mirror(dirB(), 'B').exclusive(startKeys(dirB()));
    expect(readFileSync(join(dirB(), 'challenge-signing.key')).equals(readFileSync(join(dirA(), 'challenge-signing.key')))).toBe(true);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dirB()).filter((f) => f.includes('.local-'))).toEqual([]);
  });

  it('a local key file the database disagrees with is kept aside, and the shared one used', async () => {
    await mirror(dirA(), 'A').exclusive(startKeys(dirA()));
    // B ran on its own before (its own CA), then joins.
    const own = await loadOrCreateCaMaterial(dirB(), { passphrase: PASSPHRASE });
    const joined = await mirror(dirB(), 'B').exclusive(startKeys(dirB()));
    expect(Buffer.from(joined.root.certificate).equals(Buffer.from(own.root.certificate))).toBe(false);
    expect(readFileSync(join(dirB(), 'ca.pem')).equals(readFileSync(join(dirA(), 'ca.pem')))).toBe(true);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(dirB()).some((f) => f.startsWith('ca.key.local-'))).toBe(true);
  });
});
