import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { windowsAdapter } from '../../src/adapters/windows/index.js';
import { SUPPRESSED_TYPE } from '../../src/core/audit-log.js';
import type { AuditEvent } from '../../src/core/model.js';
import { REFUSAL_LIMITS } from '../../src/core/refusal-limiter.js';
import { buildCsr, generateDeviceKey, scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { AndroidAgentSim, PIXEL_8 } from '../../src/sim/android.js';
import { WindowsSimulator } from '../../src/sim/windows.js';

// Issue #15 (S2): refusals of unauthenticated requests must not fill the disk.
// Every audit record is cut to a bound, and past a few rows per source and
// window the refusals are only counted into one summary row.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter, androidAdapter] });
});
afterAll(async () => {
  await t.stop();
});

async function auditAfter(id: number): Promise<AuditEvent[]> {
  return (await t.gw.storage.listAudit()).filter((e) => e.id > id);
}
const lastId = async () => (await t.gw.storage.listAudit({ limit: 1 }))[0]?.id ?? 0;
const bytesOf = (events: AuditEvent[]) => events.reduce((n, e) => n + Buffer.byteLength(JSON.stringify(e)), 0);

describe('audit log under a flood of unauthenticated refusals (S2)', () => {
  it('40 refused Windows enrollments with a 500 KB Username add a few small rows and one summary', async () => {
    const mark = await lastId();
    const upn = `${'u'.repeat(500_000)}@contoso.com`;
    const sim = new WindowsSimulator({ baseUrl: t.url, upn, password: 'not-a-token' });
    const enrollmentUrl = `${t.url}/EnrollmentServer/Enrollment.svc`;
    // 40 is enough to pass the per-source row limit several times over (the finding used 200: 100 MB).
    const n = 40;
    for (let i = 0; i < n; i++) {
      const r = await sim.requestSecurityToken(enrollmentUrl);
      expect(r.fault?.subcode).toMatch(/Authentication/);
    }
    await t.gw.auditLog.flush(true);

    const added = await auditAfter(mark);
    const refused = added.filter((e) => e.type === 'windows.enrollment.refused');
    expect(refused).toHaveLength(REFUSAL_LIMITS.perSource);
    // The Username is kept, cut, with the original size visible.
    for (const e of refused) expect(e.details.upn).toMatch(/^u{512}…\(truncated, 500012 bytes\)$/);
    const summaries = added.filter((e) => e.type === SUPPRESSED_TYPE);
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.details).toMatchObject({ kind: 'windows.enrollment.refused', suppressed: n - REFUSAL_LIMITS.perSource, stored: REFUSAL_LIMITS.perSource });
    expect(summaries[0]!.details.source).toMatch(/127\.0\.0\.1/);
    expect(added).toHaveLength(REFUSAL_LIMITS.perSource + 1);
    // About 20 MB before the fix (500 KB a row).
    expect(bytesOf(added)).toBeLessThan(16 * 1024);
  }, 180_000);

  it('refused PKCSReqs without a valid challenge store a small record (no CSR copy), the rest are counted', async () => {
    const mark = await lastId();
    const key = await generateDeviceKey('RSA', 2048);
    // 40 RDNs of 1,000 characters and 40 SANs of 300: the names a refused request used to have copied
    // (the CSR stays under the 64 KiB CSR bound, which would refuse it earlier as MESSAGE_MALFORMED).
    const subject = Array.from({ length: 40 }, (_, i) => `OU=${String(i).padStart(2, '0')}${'o'.repeat(1000)}`).join(', ');
    const sans = Array.from({ length: 40 }, (_, i) => ({ type: 'dns' as const, value: `h${i}${'d'.repeat(300)}.example.com` }));
    const csr = await buildCsr(key, { subject: `CN=flood, ${subject}`, challenge: 'not-a-challenge', sans });
    const n = REFUSAL_LIMITS.perSource + 5;
    for (let i = 0; i < n; i++) {
      const r = await scepEnroll({ scepUrl: t.scepUrl, key, subject: 'CN=flood', csrOverride: csr });
      expect(r.status).toBe('FAILURE');
      expect(r.failInfoText).toMatch(/^CHALLENGE_MALFORMED/);
    }
    await t.gw.auditLog.flush(true);
    const added = await auditAfter(mark);
    const refused = added.filter((e) => e.type === 'crp.refused');
    expect(refused).toHaveLength(REFUSAL_LIMITS.perSource);
    // Each stored refusal keeps its scep.received record (same transaction), and nothing of a suppressed one is stored.
    const received = added.filter((e) => e.type === 'scep.received');
    expect(received.map((e) => e.transactionId)).toEqual(refused.map((e) => e.transactionId));
    expect(added.filter((e) => e.type === SUPPRESSED_TYPE).map((e) => e.details.suppressed)).toEqual([n - REFUSAL_LIMITS.perSource]);
    for (const e of received) {
      expect(Buffer.byteLength(JSON.stringify(e))).toBeLessThan(2560); // 18 KB before (32 RDNs and 32 SANs of 256 characters)
      expect(e.details.subject).toMatch(/^CN=flood, OU=00o+…\(truncated, \d+ bytes\)$/);
      expect(e.details.subjectAltNames).toHaveLength(8);
      expect((e.details.subjectAltNames as { value: string }[])[0]!.value).toMatch(/^h0d+…\(truncated, 314 bytes\)$/);
      expect(e.details.subjectAltNameCount).toBe(40);
      expect(e.details.csrSha256).toMatch(/^[0-9a-f]{64}$/);
    }
    // A refused request leaves no enrollment behind.
    expect(await t.gw.storage.getEnrollment(refused[0]!.transactionId!)).toBeNull();
  }, 120_000);

  it('refused Android enrollments (bad token): the first rows are stored as before, the rest counted', async () => {
    const mark = await lastId();
    const agent = new AndroidAgentSim(t.url);
    for (let i = 0; i < REFUSAL_LIMITS.perSource + 3; i++) {
      const res = await agent.postEnroll(`${t.url}/android/v1/enroll?token=${'A'.repeat(32)}`, PIXEL_8, { supportedSchemaVersions: [1] });
      expect(res.status).toBe(401);
    }
    await t.gw.auditLog.flush(true);
    const added = await auditAfter(mark);
    expect(added.filter((e) => e.type === 'android.enroll.refused').map((e) => e.details)).toEqual(Array(REFUSAL_LIMITS.perSource).fill({ reason: 'unknown' }));
    expect(added.filter((e) => e.type === SUPPRESSED_TYPE).map((e) => [e.details.kind, e.details.suppressed])).toEqual([['android.enroll.refused', 3]]);
  });
});
