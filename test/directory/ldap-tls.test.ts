import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { startLdapSyncSchedule } from '../../src/core/directory/ldap-sync.js';
import { tempDir } from '../helpers/openssl.js';
import { SERVICE_DN, SERVICE_PASSWORD, SUFFIX, slapdMissing, startSlapd, type Slapd, type SlapdTls } from '../helpers/slapd.js';

// ldaps:// and StartTLS against the CA given in the configuration (a CA made
// here with openssl), and clear errors when the server's certificate is not
// one that CA issued.

const run = promisify(execFile);
const missing = slapdMissing();
if (missing) console.warn(`LDAP TLS tests skipped: ${missing}`);

async function makeCa(dir: string, name: string): Promise<{ pem: string; key: string; pemFile: string; keyFile: string }> {
  const pemFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}.key`);
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', pemFile, '-subj', `/CN=${name}`, '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { pem: await readFile(pemFile, 'utf8'), key: await readFile(keyFile, 'utf8'), pemFile, keyFile };
}

async function serverTls(dir: string): Promise<SlapdTls & { otherCaPem: string }> {
  const ca = await makeCa(dir, 'ldap-test-ca');
  const other = await makeCa(dir, 'some-other-ca');
  const key = path.join(dir, 'server.key');
  const csr = path.join(dir, 'server.csr');
  const cert = path.join(dir, 'server.pem');
  const ext = path.join(dir, 'server.ext');
  await writeFile(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await run('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.pemFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  return { caPem: ca.pem, certPem: await readFile(cert, 'utf8'), keyPem: await readFile(key, 'utf8'), otherCaPem: other.pem };
}

describe.skipIf(missing !== null)('LDAP over TLS (ldaps:// and StartTLS)', () => {
  let dir: string;
  let tls: Awaited<ReturnType<typeof serverTls>>;
  let ldap: Slapd;
  let t: TestGateway;
  const base = () => ({ bindDn: SERVICE_DN, bindPassword: SERVICE_PASSWORD, userBaseDn: `ou=people,${SUFFIX}`, groupBaseDn: `ou=groups,${SUFFIX}`, preset: 'openldap', syncIntervalSeconds: 0 });

  beforeAll(async () => {
    dir = await tempDir('mdmgw-ldap-tls-');
    tls = await serverTls(dir);
    const users = ['ann', 'bob'].map((u) => `dn: uid=${u},ou=people,${SUFFIX}\nobjectClass: inetOrgPerson\nuid: ${u}\ncn: ${u}\nsn: ${u}\nmail: ${u}@example.org`);
    ldap = await startSlapd(users.join('\n\n'), { tls });
    t = await startTestGateway();
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await ldap?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('ldaps:// with the configured CA: checked, saved and synced', async () => {
    const r = await t.api.call('PUT', '/directory/ldap', { ...base(), url: ldap.ldapsUrl, caCertificate: tls.caPem });
    expect(r.status).toBe(200);
    expect(r.body.caCertificate).toBe(tls.caPem);
    expect(await t.api.ok('POST', '/directory/ldap/sync', {}, 200)).toMatchObject({ usersCreated: 2 });
  });

  it('StartTLS on ldap:// with the configured CA', async () => {
    const r = await t.api.call('PUT', '/directory/ldap', { ...base(), url: ldap.url, startTls: true, caCertificate: tls.caPem });
    expect(r.status).toBe(200);
    expect(await t.api.ok('POST', '/directory/ldap/sync', {}, 200)).toMatchObject({ usersCreated: 0, usersUpdated: 0 });
  });

  it('a server certificate the configured CA did not issue is a TLS error (422), for ldaps:// and StartTLS alike', async () => {
    for (const config of [
      { url: ldap.ldapsUrl, caCertificate: tls.otherCaPem },
      { url: ldap.ldapsUrl }, // the system's roots do not know the test CA either
      { url: ldap.url, startTls: true, caCertificate: tls.otherCaPem },
    ]) {
      const r = await t.api.call('PUT', '/directory/ldap', { ...base(), ...config });
      expect([config, r.status]).toEqual([config, 422]);
      expect(r.body.error).toMatch(/^the directory check failed; nothing was saved: TLS with ldaps?:\/\/127\.0\.0\.1:\d+ failed: .*(self.signed|issuer|verify).*check caCertificate/i);
    }
    // The last good configuration stays.
    expect(await t.api.ok('GET', '/directory/ldap')).toMatchObject({ url: ldap.url, startTls: true, caCertificate: tls.caPem });
  });

  it('the schedule runs a due sync through its wrap (where a multi-instance lease goes), and not again before the interval', async () => {
    await t.api.ok('PUT', '/directory/ldap', { ...base(), url: ldap.ldapsUrl, caCertificate: tls.caPem, syncIntervalSeconds: 3600 }, 200);
    const before = (await t.api.ok('GET', '/directory/ldap/status')).lastSyncAt;
    const runs: string[] = [];
    const schedule = startLdapSyncSchedule(t.gw.directorySync, t.gw.log, {
      tickMs: 3_600_000,
      wrap: async (run) => {
        runs.push('wrapped');
        await run();
      },
    });
    try {
      await t.api.ok('POST', '/directory/ldap/sync', {}, 200); // just synced: not due
      await schedule.tick();
      expect(runs).toEqual([]);
      // Due once the interval has passed since the last sync (the status says when that was).
      await t.gw.storage.putSetting('directory.ldap.status', JSON.stringify({ ...(await t.api.ok('GET', '/directory/ldap/status')), lastSyncAt: '2020-01-01T00:00:00.000Z' }));
      await schedule.tick();
      expect(runs).toEqual(['wrapped']);
      const after = await t.api.ok('GET', '/directory/ldap/status');
      expect(after.lastSyncAt > before).toBe(true);
      expect(after.lastError).toBeNull();
    } finally {
      await schedule.stop();
    }
  });

  it('plain LDAP to the TLS port is a clear failure, not a hang', async () => {
    const r = await t.api.call('PUT', '/directory/ldap', { ...base(), url: ldap.ldapsUrl!.replace('ldaps:', 'ldap:') });
    expect(r.status).toBe(422);
    expect(r.body.error).toMatch(/bind: ldap:\/\/127\.0\.0\.1:\d+ closed the connection \(a TLS-only port \(use ldaps:\/\/\)\?\)/);
  });
});
