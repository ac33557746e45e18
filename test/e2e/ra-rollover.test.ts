import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { getCaCerts, scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway } from '../helpers/gateway.js';

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
});
