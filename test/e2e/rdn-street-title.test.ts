import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateInfo } from '../../src/x509/certificate-info.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// STREET and T end to end. One attribute-type table (src/core/rdn-types.ts)
// serves templates and the CA; the model (and so device profiles) carries
// these two as their OIDs, which the CA encodes and the CSR parser reads back.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.stop();
});

describe('STREET and T in a profile subject', () => {
  it('resolve, match the CSR, and are issued as 2.5.4.9 and 2.5.4.12', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'kiosk-7', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', {
      name: 'street-title',
      scope: 'device',
      subjectName: 'CN={{DeviceName}},STREET=1 Main St,T=Engineer',
    });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const { challenge, subject } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    expect(subject).toBe('CN=kiosk-7,2.5.4.9=1 Main St,2.5.4.12=Engineer');

    // @peculiar/x509 (the simulator's CSR builder) knows T but not STREET.
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge, subject: 'CN=kiosk-7, 2.5.4.9=1 Main St, T=Engineer' });
    expect(r.status).toBe('SUCCESS');
    expect(new X509Certificate(r.certificate!).subject).toBe('CN=kiosk-7\nstreet=1 Main St\ntitle=Engineer');
    expect(certificateInfo(r.certificate!).subject).toEqual([
      { type: 'CN', value: 'kiosk-7' },
      { type: '2.5.4.9', value: '1 Main St' },
      { type: '2.5.4.12', value: 'Engineer' },
    ]);
  });
});
