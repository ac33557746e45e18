import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { loadOrCreateSecretBox } from '../../src/core/secret-box.js';
import { configEvidence } from '../../src/doctor/sources/config-source.js';
import { diagnose } from '../../src/doctor/index.js';
import { freePort, startTestGateway } from '../helpers/gateway.js';

// Config mode reads the data directory as it is, and only reads it.

const configFor = (dataDir: string, publicUrl: string) => loadConfig({ flags: { dataDir }, env: { MDMGW_PUBLIC_URL: publicUrl }, cwd: '/' });

describe('doctor config mode', () => {
  it('reads the APNs push certificate sealed in the database (topic and expiry only)', async () => {
    const t = await startTestGateway();
    try {
      const notAfter = '2027-03-01T00:00:00.000Z';
      const box = await loadOrCreateSecretBox(t.dataDir);
      // The shape the Apple adapter stores (adapter-secrets.ts: apple.secret.push-certificate).
      await t.gw.storage.putSetting('apple.secret.push-certificate', box.seal(JSON.stringify({ topic: 'com.apple.mgmt.External.abc', notAfter, certPem: 'x', keyPem: 'never read' })));
      const ev = await configEvidence(configFor(t.dataDir, t.url), new Date('2027-01-01T00:00:00Z'));
      expect(ev.apns).toEqual({ state: 'present', topic: 'com.apple.mgmt.External.abc', notAfter: new Date(notAfter) });
      const report = await diagnose(ev, 'test');
      expect(report.checks.find((c) => c.check === 'apns')!.findings[0]!.message).toBe('APNs push certificate com.apple.mgmt.External.abc, 59 days left');
    } finally {
      await t.stop();
    }
  }, 60_000);

  it('an empty data directory: problems saying to start the gateway once, and nothing is created', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-doctor-empty-'));
    try {
      const port = await freePort();
      const report = await diagnose(await configEvidence(configFor(dir, `http://127.0.0.1:${port}`), new Date()), 'test');
      const files = report.checks.find((c) => c.check === 'certificate-files')!.findings;
      expect(files.map((f) => f.message)).toEqual([`${path.join(dir, 'ca.pem')} is missing`, `${path.join(dir, 'ra.pem')} is missing`]);
      expect(files[0]!.fix).toContain('start the gateway once (mdmgw serve)');
      expect(report.checks.find((c) => c.check === 'ca-certificate')!.skipped).toBe('no readable ca.pem');
      expect(report.checks.find((c) => c.check === 'apns')!.findings[0]!.message).toContain('no database at');
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
