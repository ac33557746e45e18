import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { diagnose, type DoctorReport } from '../../src/doctor/index.js';
import type { Evidence } from '../../src/doctor/evidence.js';
import { CA_CAPABILITIES } from '../../src/scep/service.js';
import { writeCertsOnly } from '../../src/scep/codec/index.js';

// The doctor on the CA key type (issue 13, docs/ca-keys.md): a P-256 CA warns
// only the clients that need an RSA chain (Windows 8.1), and MDMGW_CA_KEY set
// to another type than the existing CA's is reported (it applies to new CAs).

const NOW = new Date();
let dir: string;
let rsa: { ca: Uint8Array; ra: Uint8Array };
let p256: { ca: Uint8Array; ra: Uint8Array };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-doctor-key-'));
  const a = await loadOrCreateCaMaterial(path.join(dir, 'rsa'));
  const b = await loadOrCreateCaMaterial(path.join(dir, 'p256'), { caKey: 'p256' });
  rsa = { ca: a.root.certificate, ra: a.ra.certificate };
  p256 = { ca: b.root.certificate, ra: b.ra.certificate };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const text = (s: string) => new Uint8Array(Buffer.from(s));

function evidence(pair: { ca: Uint8Array; ra: Uint8Array }, requestedCaKey?: 'rsa3072' | 'p256'): Evidence {
  return {
    mode: 'config',
    now: NOW,
    certificates: { origin: 'test', ca: pair.ca, ra: pair.ra, errors: [] },
    probe: {
      scepUrl: 'https://mdm.example.com/certsrv/mscep/mscep.dll',
      caps: { status: 200, contentType: 'text/plain; charset=utf-8', body: text(CA_CAPABILITIES.join('\n')) },
      caCert: { status: 200, contentType: 'application/x-x509-ca-ra-cert', body: writeCertsOnly([pair.ra, pair.ca]) },
      pkiGet: { status: 400, contentType: 'text/plain', body: text('PKIOperation by GET needs a message= parameter\n') },
      healthz: { status: 200, contentType: 'application/json', body: text('{"status":"ok"}') },
      clock: { server: NOW, local: NOW },
    },
    apns: { state: 'present', topic: 'com.apple.mgmt.External.0f1e', notAfter: new Date(NOW.getTime() + 300 * 86_400_000) },
    ...(requestedCaKey && { requestedCaKey }),
  };
}

const statusOf = (r: DoctorReport) => Object.fromEntries(r.clients.map((c) => [c.client, c.status]));
const caFindings = (r: DoctorReport) => r.checks.find((c) => c.check === 'ca-certificate')!.findings;

describe('doctor: CA key type', () => {
  it('a P-256 CA: no problem; only Windows 8.1 is warned (it needs an RSA chain)', async () => {
    const r = await diagnose(evidence(p256, 'p256'), 'test');
    expect(r.problems).toBe(0);
    expect(statusOf(r)).toMatchObject({ apple: 'OK', windows10: 'OK', windows81: 'WARN', android: 'OK', certmonger: 'OK', scepclient: 'OK' });
    expect(caFindings(r)).toContainEqual(expect.objectContaining({ severity: 'warning', message: 'CA key is EC P-256, not RSA', clients: ['windows81'] }));
    expect(caFindings(r).map((f) => f.message).join('\n')).not.toContain('applies to new CAs');
  });

  it('MDMGW_CA_KEY=p256 with an existing RSA CA: a warning that it applies to new CAs; nothing when it matches or is unset', async () => {
    const r = await diagnose(evidence(rsa, 'p256'), 'test');
    expect(r.problems).toBe(0);
    expect(caFindings(r)).toContainEqual(
      expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/^MDMGW_CA_KEY=p256 applies to new CAs: the existing CA is RSA-3072 and keeps working as it is/) }),
    );
    for (const requested of ['rsa3072', undefined] as const) {
      const quiet = await diagnose(evidence(rsa, requested), 'test');
      expect(caFindings(quiet).every((f) => f.severity === 'ok'), String(requested)).toBe(true);
    }
  });
});
