import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getCaCerts, scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway } from '../helpers/gateway.js';
import { toPem } from '../../src/pem.js';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { readSignedData, soleSigner, verifySigner } from '../../src/scep/codec/signed-data.js';
import { certificateInfo } from '../../src/x509/certificate-info.js';

// After the RA is replaced, a client that fetched GetCACert before the
// rollover still encrypts to the old RA: the gateway reads it with the
// previous RA (kept as ra.previous.*) and answers signed by that RA.

describe('RA rollover', () => {
  it('serves clients that still encrypt to the previous RA', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-ra-'));
    try {
      let t = await startTestGateway({ dataDir });
      const { ra: oldRa } = await getCaCerts(t.scepUrl);
      await t.stop();
      // What a re-issue leaves behind: the old pair as ra.previous.*, a new ra.*.
      await copyFile(path.join(dataDir, 'ra.key'), path.join(dataDir, 'ra.previous.key'));
      await copyFile(path.join(dataDir, 'ra.pem'), path.join(dataDir, 'ra.previous.pem'));
      await unlink(path.join(dataDir, 'ra.key'));
      await unlink(path.join(dataDir, 'ra.pem'));

      t = await startTestGateway({ dataDir });
      try {
        const { ra: newRa } = await getCaCerts(t.scepUrl);
        expect(Buffer.from(newRa).equals(Buffer.from(oldRa))).toBe(false);
        const device = await t.api.ok('POST', '/devices', { name: 'roll-1', platform: 'windows' });
        const profile = await t.api.ok('POST', '/profiles', { name: 'roll', scope: 'device', subjectName: 'CN={{DeviceName}}' });
        await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
        const challenge = async () => (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;

        // Encrypted to the old RA; readCertRep inside scepEnroll verifies the answer with that same RA.
        const viaOld = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: 'CN=roll-1', raCertificate: oldRa });
        expect(viaOld.status).toBe('SUCCESS');
        expect(new X509Certificate(viaOld.certificate!).subject).toBe('CN=roll-1');
        const viaNew = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: 'CN=roll-1' });
        expect(viaNew.status).toBe('SUCCESS');
      } finally {
        await t.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('renews an RA nearing expiry while serving: GetCACaps offers GetNextCACert, which returns the next RA signed by the CA', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-ra-next-'));
    try {
      let t = await startTestGateway({ dataDir });
      const caps = async () => (await (await fetch(`${t.scepUrl}?operation=GetCACaps`)).text()).split('\n');
      // A fresh RA: nothing to offer.
      expect(await caps()).not.toContain('GetNextCACert');
      const none = await fetch(`${t.scepUrl}?operation=GetNextCACert`);
      expect(none.status).toBe(404);
      expect(await none.text()).toMatch(/no next CA\/RA certificate/);
      // The RA certificate now expires in 20 days (same key): inside RA_RENEW_BEFORE_DAYS, outside RA_SWITCH_BEFORE_DAYS.
      const short = await t.gw.authorities.current.issue({
        subject: [{ type: 'CN', value: 'mdm-gateway SCEP RA' }],
        subjectAlternativeNames: [],
        extendedKeyUsages: [],
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        validityDays: 20,
        hashAlgorithm: 'SHA-256',
        spki: certificateInfo(t.gw.ra.certificate).spki,
      });
      await t.stop();
      await writeFile(path.join(dataDir, 'ra.pem'), toPem(short.der));
      t = await startTestGateway({ dataDir });
      try {
        const { ra } = await getCaCerts(t.scepUrl);
        expect(Buffer.from(ra).equals(Buffer.from(short.der))).toBe(true); // still the current RA
        expect(await caps()).toContain('GetNextCACert');
        const res = await fetch(`${t.scepUrl}?operation=GetNextCACert`);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-type')).toBe('application/x-x509-next-ca-cert');
        const sd = readSignedData(new Uint8Array(await res.arrayBuffer()));
        const { signer, certificate } = soleSigner(sd);
        expect(Buffer.from(certificate!.der).equals(Buffer.from(t.gw.authorities.current.certificate))).toBe(true);
        verifySigner(sd, signer, certificate!); // throws unless the CA's signature verifies
        const [nextRa, ca] = readCertsOnly(sd.eContent!);
        expect(Buffer.from(ca!).equals(Buffer.from(t.gw.authorities.current.certificate))).toBe(true);
        expect(await readFile(path.join(dataDir, 'ra.next.pem'), 'utf8')).toBe(toPem(nextRa!));
        expect(certificateInfo(nextRa!).notAfter.getTime()).toBeGreaterThan(certificateInfo(short.der).notAfter.getTime());
        // Enrollment keeps working with the current RA meanwhile.
        const device = await t.api.ok('POST', '/devices', { name: 'next-1', platform: 'windows' });
        const profile = await t.api.ok('POST', '/profiles', { name: 'next', scope: 'device', subjectName: 'CN={{DeviceName}}' });
        await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
        const challenge = (await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id })).challenge as string;
        expect((await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=next-1', raCertificate: ra })).status).toBe('SUCCESS');
      } finally {
        await t.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
