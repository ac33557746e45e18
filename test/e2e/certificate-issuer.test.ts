import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway } from '../helpers/gateway.js';
import { opensslText } from '../helpers/openssl.js';

// Every certificate names the CA that signed it (CRL and OCSP answer per CA),
// and certificates recorded before that column existed get the one CA there was.

describe('certificate issuer records', () => {
  it('records the CA id (its subject key identifier) with each certificate, and assigns it to legacy rows at start', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'mdmgw-issuer-'));
    try {
      let t = await startTestGateway({ dataDir });
      const caId = t.gw.authorities.current.id;
      // What OpenSSL reads as the root's subject key identifier.
      const ski = /Subject Key Identifier[^\n]*\n\s*([0-9A-F:]+)/.exec(await opensslText(t.gw.root.certificate));
      expect(caId).toBe(ski![1]!.replaceAll(':', '').toLowerCase());
      const device = await t.api.ok('POST', '/devices', { name: 'iss-1', platform: 'windows' });
      const profile = await t.api.ok('POST', '/profiles', { name: 'iss', scope: 'device', subjectName: 'CN={{DeviceName}}' });
      await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
      const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
      const result = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=iss-1' });
      expect(result.status).toBe('SUCCESS');
      // Our serials are exactly 16 bytes (ca/serial.ts): Node's hex keeps a leading 0 nibble, and so does the store.
      const serial = new X509Certificate(result.certificate!).serialNumber.toLowerCase();
      const issued = await t.gw.storage.getCertificate(serial);
      expect(issued?.issuerId).toBe(caId);

      // A row as migration 0005 leaves an older one: no issuer.
      await t.gw.storage.recordEnrollment(
        null,
        { ...(await t.gw.storage.getEnrollment(issued!.transactionId!))!, transactionId: 'legacy-tx', challengeId: null },
        { ...issued!, serialNumber: '0badc0de', thumbprint: 'F'.repeat(40), transactionId: 'legacy-tx', issuerId: null },
      );
      expect((await t.gw.storage.getCertificate('0badc0de'))?.issuerId).toBeNull();
      await t.stop();
      t = await startTestGateway({ dataDir });
      try {
        expect((await t.gw.storage.getCertificate('0badc0de'))?.issuerId).toBe(caId);
      } finally {
        await t.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
