import { beforeEach, describe, expect, it } from 'vitest';
import { PLAN_GENERATION_SETTING } from '../../../src/core/storage/plan-generation-store.js';
import type { IssuedCertificate } from '../../../src/core/model.js';
import { type CertificateFilter, type CertificatePosition, type NewCertificate, type Storage } from '../../../src/core/storage/storage.js';
import { expectStorageError, isIso, resolved, enrollment, certificate, challenge, sortedBy } from './fixtures.js';

/** The IssuanceStore part of the storage contract; `current` is the fresh storage of the running test. */
export function issuanceContract(current: () => Storage): void {
  describe('IssuanceStore', () => {
    let s: Storage;
    beforeEach(() => {
      s = current();
    });

    describe('recordEnrollment', () => {
      it('records an issued enrollment, its certificate and the spent challenge', async () => {
        const result = await s.recordEnrollment(
          challenge('ch-1', '2030-06-01T12:00:00Z'),
          enrollment('tx-1', { challengeId: 'ch-1', profileId: 'p-1', profileVersion: 3, userId: 'u-1' }),
          certificate('0a1b', { transactionId: 'tx-1', profileId: 'p-1', profileVersion: 3, userId: 'u-1' }),
        );
        expect(result).toEqual({ ok: true });

        const e = await s.getEnrollment('tx-1');
        expect(e).toMatchObject({
          transactionId: 'tx-1',
          status: 'issued',
          kind: 'profile',
          challengeId: 'ch-1',
          profileId: 'p-1',
          profileVersion: 3,
          deviceId: 'dev-1',
          userId: 'u-1',
          csrSha256: 'ab'.repeat(32),
          certificateSerial: '0a1b',
          resolved,
        });
        expect(e!.csrDer).toEqual(new Uint8Array([0x30, 0x82, 0x00, 0x01, 0xff, 0x00, 0x7f]));
        expect(Object.getPrototypeOf(e!.csrDer)).toBe(Uint8Array.prototype);
        expect(isIso(e!.createdAt)).toBe(true);
        expect(e!.updatedAt).toBe(e!.createdAt);

        const c = await s.getCertificate('0a1b');
        expect(c).toMatchObject({
          serialNumber: '0a1b',
          kind: 'profile',
          transactionId: 'tx-1',
          profileId: 'p-1',
          profileVersion: 3,
          deviceId: 'dev-1',
          userId: 'u-1',
          revokedAt: null,
          notBefore: '2026-01-01T00:00:00.000Z',
        });
        expect(c!.der).toEqual(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef]));
        expect(Object.getPrototypeOf(c!.der)).toBe(Uint8Array.prototype);
        expect(isIso(c!.issuedAt)).toBe(true);

        expect(await s.isChallengeUsed('ch-1')).toBe(true);
        expect(await s.isChallengeUsed('ch-2')).toBe(false);
      });

      it("tells the caller the certificate's device's plan generation after its own bump (the CRP read cache: core/crp/read-cache.ts)", async () => {
        const d = await s.createDevice({ name: 'gen', platform: 'windows' });
        const before = (await s.getPlanGenerations(d.id)).device!;
        const seen: { devicePlanGeneration?: number } = {};
        const r = await s.recordEnrollment(
          challenge('ch-g', '2030-06-01T12:00:00Z'),
          enrollment('tx-g', { challengeId: 'ch-g', deviceId: d.id }),
          certificate('0a1c', { transactionId: 'tx-g', deviceId: d.id }),
          [],
          seen,
        );
        expect(r).toEqual({ ok: true });
        expect(seen).toEqual({ devicePlanGeneration: before + 1 });
        // No device row (an unknown id): nothing seen.
        const none: { devicePlanGeneration?: number } = {};
        await s.recordEnrollment(challenge('ch-h'), enrollment('tx-h', { challengeId: 'ch-h' }), certificate('0a1d', { transactionId: 'tx-h' }), [], none);
        expect(none).toEqual({});
        expect((await s.getPlanGenerations(d.id)).device).toBe(before + 1);
      });

      it('getChallengeUse: whether the challenge is spent and the plan generations, in one read', async () => {
        const d = await s.createDevice({ name: 'use', platform: 'windows' });
        await s.putSetting(PLAN_GENERATION_SETTING, 'g-1');
        const gens = await s.getPlanGenerations(d.id);
        expect(await s.getChallengeUse('ch-u', d.id)).toEqual({ used: false, planGenerations: gens });
        await s.recordEnrollment(challenge('ch-u', '2030-06-01T12:00:00Z'), enrollment('tx-u', { challengeId: 'ch-u', status: 'pending' }), null);
        expect(await s.getChallengeUse('ch-u', d.id)).toEqual({ used: true, planGenerations: gens });
        expect(await s.getChallengeUse('ch-u', null)).toEqual({ used: true, planGenerations: { global: 'g-1', device: null } });
        expect(await s.getChallengeUse('ch-none', 'no-such-device')).toEqual({ used: false, planGenerations: { global: 'g-1', device: null } });
      });

      it('records a pending enrollment without a certificate', async () => {
        expect(
          await s.recordEnrollment(challenge('ch-p'), enrollment('tx-p', { status: 'pending', challengeId: 'ch-p' }), null),
        ).toEqual({ ok: true });
        const e = await s.getEnrollment('tx-p');
        expect(e).toMatchObject({ status: 'pending', certificateSerial: null, challengeId: 'ch-p' });
        expect(await s.listCertificates()).toEqual([]);
        expect(await s.isChallengeUsed('ch-p')).toBe(true);
      });

      it('records an enrollment without a challenge (renewal) and a null resolved request', async () => {
        expect(
          await s.recordEnrollment(null, enrollment('tx-r', { kind: 'identity', resolved: null }), certificate('11', { kind: 'identity' })),
        ).toEqual({ ok: true });
        expect(await s.getEnrollment('tx-r')).toMatchObject({ kind: 'identity', challengeId: null, resolved: null });
        expect((await s.getCertificate('11'))?.kind).toBe('identity');
      });

      it('fills challengeId from the challenge being spent', async () => {
        await s.recordEnrollment(challenge('ch-f'), enrollment('tx-f', { challengeId: null }), certificate('f1'));
        expect((await s.getEnrollment('tx-f'))?.challengeId).toBe('ch-f');
      });

      it('returns null for an unknown transaction', async () => {
        expect(await s.getEnrollment('nope')).toBeNull();
      });

      it('writes the audit records it is given in the same transaction, in order and bounded', async () => {
        await s.appendAudit({ transactionId: 'other', type: 'before', reasonCode: null, actor: 'admin', details: {} });
        const trail = [
          { transactionId: 'tx-a', type: 'scep.received', reasonCode: null, actor: 'scep', details: { csrSha256: 'ab'.repeat(32) } },
          { transactionId: 'tx-a', type: 'crp.passed', reasonCode: null, actor: 'scep', details: { upn: 'u'.repeat(5000) } },
          { transactionId: 'tx-a', type: 'ca.issued', reasonCode: null, actor: 'scep', details: { serialNumber: 'a1' }, at: '2020-01-01T00:00:00Z' },
        ];
        expect(await s.recordEnrollment(challenge('ch-a'), enrollment('tx-a', { challengeId: 'ch-a' }), certificate('a1', { transactionId: 'tx-a' }), trail)).toEqual({ ok: true });
        const all = await s.listAudit();
        expect(all.map((e) => e.type)).toEqual(['before', 'scep.received', 'crp.passed', 'ca.issued']);
        expect(all[1]!.id).toBeLessThan(all[2]!.id);
        expect(all[2]!.id).toBeLessThan(all[3]!.id);
        // Stamped with the enrollment's time unless given; cut like appendAudit.
        expect(all[1]!.at).toBe((await s.getEnrollment('tx-a'))!.createdAt);
        expect(all[3]!.at).toBe('2020-01-01T00:00:00.000Z');
        expect(all[2]!.details.upn).toBe(`${'u'.repeat(512)}…(truncated, 5000 bytes)`);
        expect(all[3]).toMatchObject({ transactionId: 'tx-a', actor: 'scep', reasonCode: null, details: { serialNumber: 'a1' } });
      });

      it('writes none of its audit records when nothing is recorded (challenge-used, transaction-exists, a failing statement)', async () => {
        const trail = (tx: string) => [{ transactionId: tx, type: 'ca.issued', reasonCode: null, actor: 'scep', details: {} }];
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'), trail('tx-1'))).toEqual({ ok: true });
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-2'), certificate('02'), trail('tx-2'))).toEqual({ ok: false, reason: 'challenge-used' });
        expect(await s.recordEnrollment(challenge('ch-3'), enrollment('tx-1'), certificate('03'), trail('tx-3'))).toEqual({ ok: false, reason: 'transaction-exists' });
        await expectStorageError(s.recordEnrollment(challenge('ch-4'), enrollment('tx-4'), certificate('01'), trail('tx-4')), 'conflict');
        expect((await s.listAudit()).map((e) => e.transactionId)).toEqual(['tx-1']);
      });

      it('a second use of a challenge is challenge-used and writes nothing', async () => {
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'))).toEqual({ ok: true });
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-2'), certificate('02'))).toEqual({
          ok: false,
          reason: 'challenge-used',
        });
        expect(await s.getEnrollment('tx-2')).toBeNull();
        expect(await s.getCertificate('02')).toBeNull();
        expect((await s.listCertificates()).map((c) => c.serialNumber)).toEqual(['01']);
        // Also for a pending enrollment without a certificate.
        expect(
          await s.recordEnrollment(challenge('ch-1'), enrollment('tx-3', { status: 'pending' }), null),
        ).toEqual({ ok: false, reason: 'challenge-used' });
        expect(await s.getEnrollment('tx-3')).toBeNull();
      });

      it('an existing transactionId is transaction-exists and writes nothing', async () => {
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'))).toEqual({ ok: true });
        const before = await s.getEnrollment('tx-1');
        expect(
          await s.recordEnrollment(challenge('ch-2'), enrollment('tx-1', { csrSha256: 'cd'.repeat(32) }), certificate('02')),
        ).toEqual({ ok: false, reason: 'transaction-exists' });
        expect(await s.isChallengeUsed('ch-2')).toBe(false);
        expect(await s.getCertificate('02')).toBeNull();
        expect(await s.getEnrollment('tx-1')).toEqual(before);
        // Same transaction and same challenge (a retry): transaction-exists wins.
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('03'))).toEqual({
          ok: false,
          reason: 'transaction-exists',
        });
        expect(await s.getCertificate('03')).toBeNull();
      });

      it('rolls everything back when a later statement fails (duplicate certificate serial)', async () => {
        expect(await s.recordEnrollment(challenge('ch-1'), enrollment('tx-1'), certificate('01'))).toEqual({ ok: true });
        // The enrollment and the challenge are written before the certificate fails.
        await expectStorageError(s.recordEnrollment(challenge('ch-2'), enrollment('tx-2'), certificate('01')), 'conflict');
        expect(await s.getEnrollment('tx-2')).toBeNull();
        expect(await s.isChallengeUsed('ch-2')).toBe(false);
        expect(await s.listCertificates()).toHaveLength(1);
        // The storage is usable afterwards and the challenge is still spendable.
        expect(await s.recordEnrollment(challenge('ch-2'), enrollment('tx-2'), certificate('02'))).toEqual({ ok: true });
      });

      it('refuses a certificate/status or challenge id mismatch without writing', async () => {
        await expect(s.recordEnrollment(challenge('ch-1'), enrollment('tx-1', { status: 'issued' }), null)).rejects.toThrow(TypeError);
        await expect(
          s.recordEnrollment(challenge('ch-1'), enrollment('tx-1', { status: 'pending' }), certificate('01')),
        ).rejects.toThrow(TypeError);
        await expect(
          s.recordEnrollment(challenge('ch-1'), enrollment('tx-1', { challengeId: 'some-other-challenge' }), certificate('01')),
        ).rejects.toThrow(TypeError);
        expect(await s.getEnrollment('tx-1')).toBeNull();
        expect(await s.isChallengeUsed('ch-1')).toBe(false);
      });

      it('20 parallel uses of one challenge: exactly one succeeds', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            s.recordEnrollment(challenge('ch-race'), enrollment(`tx-${i}`, { challengeId: 'ch-race' }), certificate(`c${i}`, { transactionId: `tx-${i}` })),
          ),
        );
        const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
        expect(winners).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'challenge-used')).toHaveLength(19);
        const w = winners[0]!;
        const enrollments = await Promise.all(Array.from({ length: 20 }, (_, i) => s.getEnrollment(`tx-${i}`)));
        expect(enrollments.filter((e) => e !== null).map((e) => e!.transactionId)).toEqual([`tx-${w}`]);
        expect((await s.listCertificates()).map((c) => c.serialNumber)).toEqual([`c${w}`]);
      });

      it('20 parallel requests with one transactionId: exactly one succeeds', async () => {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => s.recordEnrollment(challenge(`ch-${i}`), enrollment('tx-same'), certificate(`c${i}`))),
        );
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'transaction-exists')).toHaveLength(19);
        const used = await Promise.all(Array.from({ length: 20 }, (_, i) => s.isChallengeUsed(`ch-${i}`)));
        expect(used.filter(Boolean)).toHaveLength(1);
        expect(await s.listCertificates()).toHaveLength(1);
        const serial = (await s.getEnrollment('tx-same'))!.certificateSerial;
        expect((await s.listCertificates())[0]!.serialNumber).toBe(serial);
      });
    });
    describe('completeEnrollment and rejectEnrollment', () => {
      async function pending(tx: string): Promise<void> {
        expect(await s.recordEnrollment(challenge(`ch-${tx}`), enrollment(tx, { status: 'pending' }), null)).toEqual({ ok: true });
      }

      it('pending -> issued links the certificate, once', async () => {
        await pending('tx-1');
        const before = await s.getEnrollment('tx-1');
        expect(await s.completeEnrollment('tx-1', certificate('aa', { transactionId: 'tx-1' }))).toBe(true);
        const after = await s.getEnrollment('tx-1');
        expect(after).toMatchObject({ status: 'issued', certificateSerial: 'aa', createdAt: before!.createdAt });
        expect(after!.updatedAt >= before!.updatedAt).toBe(true);
        expect((await s.getCertificate('aa'))?.transactionId).toBe('tx-1');

        expect(await s.completeEnrollment('tx-1', certificate('bb', { transactionId: 'tx-1' }))).toBe(false);
        expect(await s.getCertificate('bb')).toBeNull();
        expect((await s.getEnrollment('tx-1'))?.certificateSerial).toBe('aa');
        expect(await s.rejectEnrollment('tx-1')).toBe(false);
        expect((await s.getEnrollment('tx-1'))?.status).toBe('issued');
      });

      it('pending -> rejected, once; a rejected enrollment cannot be completed', async () => {
        await pending('tx-2');
        expect(await s.rejectEnrollment('tx-2')).toBe(true);
        expect(await s.getEnrollment('tx-2')).toMatchObject({ status: 'rejected', certificateSerial: null });
        expect(await s.rejectEnrollment('tx-2')).toBe(false);
        expect(await s.completeEnrollment('tx-2', certificate('cc'))).toBe(false);
        expect(await s.getCertificate('cc')).toBeNull();
        expect((await s.getEnrollment('tx-2'))?.status).toBe('rejected');
      });

      it('unknown transactions are neither completed nor rejected', async () => {
        expect(await s.completeEnrollment('nope', certificate('dd'))).toBe(false);
        expect(await s.rejectEnrollment('nope')).toBe(false);
        expect(await s.getCertificate('dd')).toBeNull();
      });

      it('completing with a duplicate serial conflicts and leaves the enrollment pending', async () => {
        await s.recordEnrollment(null, enrollment('tx-0'), certificate('ee'));
        await pending('tx-3');
        await expectStorageError(s.completeEnrollment('tx-3', certificate('ee')), 'conflict');
        expect(await s.getEnrollment('tx-3')).toMatchObject({ status: 'pending', certificateSerial: null });
        expect(await s.completeEnrollment('tx-3', certificate('ff'))).toBe(true);
      });

      it('parallel completions of one enrollment: exactly one wins', async () => {
        await pending('tx-4');
        const results = await Promise.all(Array.from({ length: 10 }, (_, i) => s.completeEnrollment('tx-4', certificate(`p${i}`))));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await s.listCertificates()).toHaveLength(1);
      });
    });
    describe('listRecentEnrollments', () => {
      it('the newest first (createdAt, then transactionId, descending), at most `limit`, every status', async () => {
        expect(await s.listRecentEnrollments(50)).toEqual([]);
        await s.recordEnrollment(null, enrollment('tx-a'), certificate('0a', { transactionId: 'tx-a' }));
        await s.recordEnrollment(challenge('ch-b'), enrollment('tx-b', { status: 'pending', challengeId: 'ch-b' }), null);
        await s.recordEnrollment(challenge('ch-c'), enrollment('tx-c', { status: 'pending', challengeId: 'ch-c' }), null);
        expect(await s.rejectEnrollment('tx-c')).toBe(true);
        await s.recordEnrollment(null, enrollment('tx-d', { kind: 'identity', resolved: null }), certificate('0d', { transactionId: 'tx-d', kind: 'identity' }));

        const all = await s.listRecentEnrollments(50);
        expect(all.map((e) => e.transactionId).sort()).toEqual(['tx-a', 'tx-b', 'tx-c', 'tx-d']);
        expect(new Set(all.map((e) => e.status))).toEqual(new Set(['issued', 'pending', 'rejected']));
        const key = (e: { createdAt: string; transactionId: string }) => `${e.createdAt} ${e.transactionId}`;
        expect(sortedBy([...all].reverse(), key)).toBe(true);
        expect(all.find((e) => e.transactionId === 'tx-a')).toEqual(await s.getEnrollment('tx-a'));

        const two = await s.listRecentEnrollments(2);
        expect(two).toEqual(all.slice(0, 2));
      });

      it('a later enrollment comes before an earlier one', async () => {
        await s.recordEnrollment(null, enrollment('tx-z'), certificate('1a'));
        await new Promise((r) => setTimeout(r, 5));
        await s.recordEnrollment(null, enrollment('tx-a'), certificate('1b'));
        expect((await s.listRecentEnrollments(1)).map((e) => e.transactionId)).toEqual(['tx-a']);
      });

      it('refuses a limit that is not a positive integer', async () => {
        for (const bad of [0, -1, 1.5, Number.NaN]) await expect(s.listRecentEnrollments(bad)).rejects.toThrow(RangeError);
      });
    });

    // ---- certificates ------------------------------------------------------------------
    describe('certificates', () => {
      it('filters by device, user, profile, transaction and kind', async () => {
        const rows: Array<[string, Partial<NewCertificate>]> = [
          ['01', { deviceId: 'd1', userId: null, profileId: 'p1', transactionId: 't1' }],
          ['02', { deviceId: 'd1', userId: 'u1', profileId: 'p2', transactionId: 't2' }],
          ['03', { deviceId: 'd2', userId: 'u1', profileId: 'p1', transactionId: 't3' }],
          ['04', { deviceId: null, userId: 'u2', profileId: null, transactionId: null }],
          ['05', { deviceId: 'd1', userId: null, profileId: null, transactionId: 't5', kind: 'identity' }],
        ];
        for (const [serial, o] of rows) {
          const tx = o.transactionId ?? `tx-${serial}`;
          expect(await s.recordEnrollment(null, enrollment(tx), certificate(serial, o))).toEqual({ ok: true });
        }
        const serials = (list: IssuedCertificate[]) => list.map((c) => c.serialNumber).sort();

        const all = await s.listCertificates();
        expect(serials(all)).toEqual(['01', '02', '03', '04', '05']);
        expect(sortedBy(all, (c) => c.issuedAt)).toBe(true);
        expect(serials(await s.listCertificates({}))).toEqual(['01', '02', '03', '04', '05']);
        expect(serials(await s.listCertificates({ deviceId: 'd1' }))).toEqual(['01', '02', '05']);
        expect(serials(await s.listCertificates({ deviceId: 'd1', kind: 'identity' }))).toEqual(['05']);
        expect(serials(await s.listCertificates({ kind: 'profile' }))).toEqual(['01', '02', '03', '04']);
        expect(serials(await s.listCertificates({ userId: 'u1' }))).toEqual(['02', '03']);
        expect(serials(await s.listCertificates({ profileId: 'p1' }))).toEqual(['01', '03']);
        expect(serials(await s.listCertificates({ transactionId: 't2' }))).toEqual(['02']);
        expect(serials(await s.listCertificates({ deviceId: 'd1', userId: 'u1' }))).toEqual(['02']);
        expect(serials(await s.listCertificates({ deviceId: 'd2', profileId: 'p2' }))).toEqual([]);
        expect(serials(await s.listCertificates({ userId: 'nobody' }))).toEqual([]);
        expect(await s.getCertificate('99')).toBeNull();
      });

      it('pages in expiry order, (notAfter, serialNumber), with its own cursor; refuses mixing the orders', async () => {
        // Issued in serial order, expiring in another; two share a notAfter (the serial breaks the tie).
        const rows: Array<[string, string]> = [
          ['21', '2026-09-01T00:00:00.000Z'],
          ['22', '2026-07-01T00:00:00.000Z'],
          ['23', '2026-08-01T00:00:00.000Z'],
          ['24', '2026-07-01T00:00:00.000Z'],
          ['25', '2026-06-15T00:00:00.000Z'],
        ];
        for (const [serial, notAfter] of rows) expect(await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial, { notAfter }))).toEqual({ ok: true });
        await s.revokeCertificateChain('23', '2026-02-01T00:00:00.000Z', 'superseded');
        const filter = { status: 'valid', asOf: '2026-06-01T00:00:00.000Z', notAfterUntil: '2026-12-31T00:00:00.000Z', order: 'expiry' } as const;
        const seen: string[] = [];
        let afterExpiry: { notAfter: string; serialNumber: string } | undefined;
        for (let i = 0; i < 10; i++) {
          const page = await s.listCertificates({ ...filter, limit: 2, ...(afterExpiry && { afterExpiry }) });
          seen.push(...page.map((c) => c.serialNumber));
          if (page.length < 2) break;
          afterExpiry = { notAfter: page[1]!.notAfter, serialNumber: page[1]!.serialNumber };
        }
        expect(seen).toEqual(['25', '22', '24', '21']);
        await expect(s.listCertificates({ ...filter, after: { issuedAt: '2026-01-01T00:00:00.000Z', serialNumber: '21' } })).rejects.toThrow(RangeError);
        await expect(s.listCertificates({ afterExpiry: { notAfter: '2026-01-01T00:00:00.000Z', serialNumber: '21' } })).rejects.toThrow(RangeError);
      });

      it('filters by status at a given time, by expiry and by a device list, and counts per status', async () => {
        const asOf = '2026-06-01T00:00:00.000Z';
        const rows: Array<[string, string, string]> = [
          // serial, device, notAfter
          ['11', 'd1', '2026-05-31T23:59:59.999Z'], // expired a moment before asOf
          ['12', 'd1', '2026-06-01T00:00:00.000Z'], // expires exactly at asOf: still valid
          ['13', 'd2', '2026-06-10T00:00:00.000Z'], // valid, expiring within 10 days
          ['14', 'd2', '2027-06-01T00:00:00.000Z'], // valid for a year
          ['15', 'd3', '2026-01-01T00:00:00.000Z'], // expired and revoked: revoked wins
          ['16', 'd3', '2027-01-01T00:00:00.000Z'], // revoked
        ];
        for (const [serial, deviceId, notAfter] of rows) {
          expect(await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial, { deviceId, notAfter }))).toEqual({ ok: true });
        }
        await s.revokeCertificateChain('15', '2026-02-01T00:00:00.000Z', 'superseded');
        await s.revokeCertificateChain('16', '2026-02-01T00:00:00.000Z', 'keyCompromise');
        const serials = async (f: CertificateFilter) => (await s.listCertificates(f)).map((c) => c.serialNumber).sort();

        expect(await serials({ status: 'valid', asOf })).toEqual(['12', '13', '14']);
        expect(await serials({ status: 'expired', asOf })).toEqual(['11']);
        expect(await serials({ status: 'revoked', asOf })).toEqual(['15', '16']);
        // A year later everything unrevoked has expired.
        expect(await serials({ status: 'expired', asOf: '2028-01-01T00:00:00.000Z' })).toEqual(['11', '12', '13', '14']);
        expect(await serials({ status: 'valid', asOf, notAfterUntil: '2026-06-11T00:00:00.000Z' })).toEqual(['12', '13']);
        expect(await serials({ deviceIds: ['d2', 'd3'] })).toEqual(['13', '14', '15', '16']);
        expect(await serials({ deviceIds: [] })).toEqual([]);
        expect(await serials({ deviceIds: ['d1'], status: 'valid', asOf })).toEqual(['12']);

        expect(await s.countCertificates({ asOf })).toEqual({ valid: 3, revoked: 2, expired: 1 });
        expect(await s.countCertificates({ asOf, deviceIds: ['d1'] })).toEqual({ valid: 1, revoked: 0, expired: 1 });
        expect(await s.countCertificates({ asOf, deviceIds: [] })).toEqual({ valid: 0, revoked: 0, expired: 0 });
        // More device ids than one statement may bind: counted in chunks, none lost.
        const many = [...Array.from({ length: 1200 }, (_, i) => `other-${i}`), 'd2', 'd3'];
        expect(await s.countCertificates({ asOf, deviceIds: many })).toEqual({ valid: 2, revoked: 2, expired: 0 });
        await expect(s.listCertificates({ status: 'valid', asOf: 'yesterday' })).rejects.toThrow(RangeError);
      });

      it('pages in list order from a position, stable under inserts', async () => {
        for (const serial of ['21', '22', '23', '24', '25', '26', '27']) {
          await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial));
        }
        const all = await s.listCertificates();
        const seen: string[] = [];
        let after: CertificatePosition | undefined;
        for (let page = 0; page < 10; page++) {
          const rows = await s.listCertificates({ limit: 3, ...(after && { after }) });
          if (rows.length === 0) break;
          expect(rows.length).toBeLessThanOrEqual(3);
          seen.push(...rows.map((c) => c.serialNumber));
          const last = rows[rows.length - 1]!;
          after = { issuedAt: last.issuedAt, serialNumber: last.serialNumber };
          // A certificate issued between two page reads comes after every position already handed out.
          if (page === 0) await s.recordEnrollment(null, enrollment('tx-28'), certificate('28'));
        }
        expect(seen).toEqual([...all.map((c) => c.serialNumber), '28']);
        await expect(s.listCertificates({ limit: 0 })).rejects.toThrow(RangeError);
        await expect(s.listCertificates({ limit: 10_001 })).rejects.toThrow(RangeError);
      });

      it('revokes once, with its reason, and keeps the first revocation', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        await s.recordEnrollment(null, enrollment('tx-2'), certificate('02'));
        expect(await s.getCertificate('01')).toMatchObject({ revokedAt: null, revocationReason: null, renewalOf: null });
        expect(await s.revokeCertificateChain('01', '2026-03-01T10:00:00.000Z', 'keyCompromise')).toEqual({ ok: true, revoked: ['01'] });
        expect(await s.revokeCertificateChain('01', '2026-04-01T10:00:00.000Z', 'superseded')).toEqual({ ok: false, reason: 'already-revoked' });
        expect(await s.getCertificate('01')).toMatchObject({ revokedAt: '2026-03-01T10:00:00.000Z', revocationReason: 'keyCompromise' });
        expect(await s.getCertificate('02')).toMatchObject({ revokedAt: null, revocationReason: null });
        expect(await s.revokeCertificateChain('99', '2026-03-01T10:00:00.000Z', 'unspecified')).toEqual({ ok: false, reason: 'not-found' });
      });

      it('records the signing CA, and gives legacy rows (no issuer) the one CA there was', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01', { issuerId: 'aa01' }));
        await s.recordEnrollment(null, enrollment('tx-2'), certificate('02'));
        await s.recordEnrollment(null, enrollment('tx-3'), certificate('03', { issuerId: null }));
        expect((await s.getCertificate('01'))?.issuerId).toBe('aa01');
        expect((await s.getCertificate('02'))?.issuerId).toBeNull();
        expect(await s.assignLegacyIssuer('bb02')).toBe(2);
        expect((await s.getCertificate('01'))?.issuerId).toBe('aa01');
        expect((await s.getCertificate('02'))?.issuerId).toBe('bb02');
        expect((await s.getCertificate('03'))?.issuerId).toBe('bb02');
        expect(await s.assignLegacyIssuer('cc03')).toBe(0);
      });

      it('lists the revoked certificates of one CA, with time and reason, for its CRL', async () => {
        const rows: Array<[string, string | null]> = [['01', 'aa01'], ['02', 'aa01'], ['03', 'bb02'], ['04', 'aa01'], ['05', null]];
        for (const [serial, issuerId] of rows) await s.recordEnrollment(null, enrollment(`tx-${serial}`), certificate(serial, { issuerId }));
        expect(await s.listRevoked('aa01')).toEqual([]);
        expect(await s.revokedSetState('aa01')).toEqual({ count: 0, latest: null });

        await s.revokeCertificateChain('04', '2026-03-02T00:00:00.000Z', 'keyCompromise');
        await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified');
        await s.revokeCertificateChain('03', '2026-03-05T00:00:00.000Z', 'superseded');
        await s.revokeCertificateChain('05', '2026-03-06T00:00:00.000Z', 'superseded');
        expect(await s.listRevoked('aa01')).toEqual([
          { serialNumber: '01', revokedAt: '2026-03-01T00:00:00.000Z', reason: 'unspecified' },
          { serialNumber: '04', revokedAt: '2026-03-02T00:00:00.000Z', reason: 'keyCompromise' },
        ]);
        expect(await s.listRevoked('bb02')).toEqual([{ serialNumber: '03', revokedAt: '2026-03-05T00:00:00.000Z', reason: 'superseded' }]);
        expect(await s.listRevoked('AA01')).toEqual([]);
        expect(await s.revokedSetState('aa01')).toEqual({ count: 2, latest: '2026-03-02T00:00:00.000Z' });
        expect(await s.revokedSetState('bb02')).toEqual({ count: 1, latest: '2026-03-05T00:00:00.000Z' });
        expect(await s.revokedSetState('cc03')).toEqual({ count: 0, latest: null });

        // A revocation back-dated before the newest one still changes the state (the count).
        const before = await s.revokedSetState('aa01');
        await s.revokeCertificateChain('02', '2026-01-01T00:00:00.000Z', 'affiliationChanged');
        expect(await s.revokedSetState('aa01')).not.toEqual(before);
        expect(await s.revokedSetState('aa01')).toEqual({ count: 3, latest: '2026-03-02T00:00:00.000Z' });
        // A legacy row given its issuer joins that CA's set.
        await s.assignLegacyIssuer('bb02');
        expect((await s.listRevoked('bb02')).map((e) => e.serialNumber)).toEqual(['03', '05']);
      });

      it('hands out CRL Numbers per CA that only grow, also under concurrency', async () => {
        expect(await s.nextCrlNumber('aa01')).toBe(1);
        expect(await s.nextCrlNumber('aa01')).toBe(2);
        expect(await s.nextCrlNumber('bb02')).toBe(1);
        const concurrent = await Promise.all(Array.from({ length: 8 }, () => s.nextCrlNumber('aa01')));
        expect([...concurrent].sort((a, b) => a - b)).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
        expect(await s.nextCrlNumber('bb02')).toBe(2);
      });

      it('tells the last expiry of what a CA signed, revoked certificates included (CA rollover)', async () => {
        expect(await s.lastExpiryByIssuer('aa01')).toBeNull();
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01', { issuerId: 'aa01', notAfter: '2027-01-01T00:00:00.000Z' }));
        await s.recordEnrollment(null, enrollment('tx-2'), certificate('02', { issuerId: 'aa01', notAfter: '2028-06-01T00:00:00.000Z' }));
        await s.recordEnrollment(null, enrollment('tx-3'), certificate('03', { issuerId: 'bb02', notAfter: '2030-01-01T00:00:00.000Z' }));
        expect(await s.revokeCertificateChain('02', '2026-03-01T00:00:00.000Z', 'superseded')).toMatchObject({ ok: true });
        expect(await s.lastExpiryByIssuer('aa01')).toBe('2028-06-01T00:00:00.000Z');
        expect(await s.lastExpiryByIssuer('bb02')).toBe('2030-01-01T00:00:00.000Z');
        expect(await s.lastExpiryByIssuer('cc03')).toBeNull();
      });

      it('revokes every renewal of a certificate, transitively, and nothing else', async () => {
        // 01 <- 02 <- 03 and 01 <- 04 (renewals), 05 unrelated, 03 <- 06 <- 07 where 06 was revoked on its own before
        const chain: Array<[string, string | null]> = [['01', null], ['02', '01'], ['03', '02'], ['04', '01'], ['05', null], ['06', '03'], ['07', '06']];
        for (const [serial, renewalOf] of chain) {
          expect(await s.recordEnrollment(null, enrollment(`tx-${serial}`, { renewalOf }), certificate(serial, { renewalOf }))).toEqual({ ok: true });
        }
        expect(await s.getEnrollment('tx-02')).toMatchObject({ renewalOf: '01' });
        expect(await s.getCertificate('03')).toMatchObject({ renewalOf: '02' });
        expect(await s.revokeCertificateChain('06', '2026-02-01T00:00:00.000Z', 'superseded')).toEqual({ ok: true, revoked: ['06', '07'] });

        // 06 keeps its own time and reason; the walk goes through it (07 was already revoked with it).
        expect(await s.revokeCertificateChain('02', '2026-03-01T00:00:00.000Z', 'keyCompromise')).toEqual({ ok: true, revoked: ['02', '03'] });
        expect(await s.getCertificate('03')).toMatchObject({ revokedAt: '2026-03-01T00:00:00.000Z', revocationReason: 'keyCompromise' });
        expect(await s.getCertificate('06')).toMatchObject({ revokedAt: '2026-02-01T00:00:00.000Z', revocationReason: 'superseded' });
        for (const serial of ['01', '04', '05']) expect((await s.getCertificate(serial))?.revokedAt).toBeNull();

        expect(await s.revokeCertificateChain('01', '2026-04-01T00:00:00.000Z', 'unspecified')).toEqual({ ok: true, revoked: ['01', '04'] });
        expect((await s.getCertificate('05'))?.revokedAt).toBeNull();
      });

      it('does not record a renewal of a revoked or unknown certificate', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified');
        expect(await s.recordEnrollment(null, enrollment('tx-2', { renewalOf: '01' }), certificate('02', { renewalOf: '01' }))).toEqual({
          ok: false,
          reason: 'predecessor-revoked',
        });
        expect(await s.recordEnrollment(null, enrollment('tx-3'), certificate('03', { renewalOf: 'ff' }))).toEqual({ ok: false, reason: 'predecessor-revoked' });
        expect(await s.getEnrollment('tx-2')).toBeNull();
        expect(await s.getCertificate('02')).toBeNull();
        expect(await s.getCertificate('03')).toBeNull();
      });

      it('a pending renewal whose predecessor was revoked meanwhile cannot be completed', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        expect(await s.recordEnrollment(null, enrollment('tx-2', { status: 'pending', renewalOf: '01' }), null)).toEqual({ ok: true });
        await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified');
        await expectStorageError(s.completeEnrollment('tx-2', certificate('02')), 'conflict');
        expect(await s.getEnrollment('tx-2')).toMatchObject({ status: 'pending', certificateSerial: null });
        expect(await s.getCertificate('02')).toBeNull();
      });

      it('completing a pending renewal records what it renews', async () => {
        await s.recordEnrollment(null, enrollment('tx-1'), certificate('01'));
        await s.recordEnrollment(null, enrollment('tx-2', { status: 'pending', renewalOf: '01' }), null);
        expect(await s.completeEnrollment('tx-2', certificate('02'))).toBe(true);
        expect(await s.getCertificate('02')).toMatchObject({ renewalOf: '01' });
        expect(await s.revokeCertificateChain('01', '2026-03-01T00:00:00.000Z', 'unspecified')).toEqual({ ok: true, revoked: ['01', '02'] });
      });

      it('revokeCertificate revokes that one certificate only: its renewal lives on', async () => {
        // 01 <- 02 <- 03: the predecessor superseded by its renewal
        for (const [serial, renewalOf] of [['01', null], ['02', '01'], ['03', '02']] as Array<[string, string | null]>) {
          await s.recordEnrollment(null, enrollment(`tx-${serial}`, { renewalOf }), certificate(serial, { renewalOf }));
        }
        expect(await s.revokeCertificate('02', '2026-03-01T00:00:00+01:00', 'superseded')).toEqual({ ok: true, revoked: ['02'] });
        expect(await s.getCertificate('02')).toMatchObject({ revokedAt: '2026-02-28T23:00:00.000Z', revocationReason: 'superseded' });
        for (const serial of ['01', '03']) expect(await s.getCertificate(serial)).toMatchObject({ revokedAt: null, revocationReason: null });
        expect(await s.revokeCertificate('02', '2026-04-01T00:00:00.000Z', 'keyCompromise')).toEqual({ ok: false, reason: 'already-revoked' });
        expect(await s.getCertificate('02')).toMatchObject({ revocationReason: 'superseded' });
        expect(await s.revokeCertificate('99', '2026-04-01T00:00:00.000Z', 'superseded')).toEqual({ ok: false, reason: 'not-found' });
        await expect(s.revokeCertificate('01', 'yesterday', 'superseded')).rejects.toThrow(RangeError);
        expect((await s.getCertificate('01'))?.revokedAt).toBeNull();
      });

      it('an identity challenge noted as a renewal records renewalOf on what it issues, and is refused once that was revoked', async () => {
        await s.recordEnrollment(null, enrollment('tx-1', { kind: 'identity' }), certificate('01', { kind: 'identity' }));
        await s.noteIdentityRenewalChallenge('ch-renew', '01', '2030-01-01T00:00:00.000Z');
        expect(await s.recordEnrollment(challenge('ch-renew'), enrollment('tx-2', { kind: 'identity' }), certificate('02', { kind: 'identity' }))).toEqual({ ok: true });
        expect(await s.getEnrollment('tx-2')).toMatchObject({ renewalOf: '01' });
        expect(await s.getCertificate('02')).toMatchObject({ renewalOf: '01' });
        // Another challenge is no renewal.
        expect(await s.recordEnrollment(challenge('ch-plain'), enrollment('tx-3', { kind: 'identity' }), certificate('03', { kind: 'identity' }))).toEqual({ ok: true });
        expect(await s.getCertificate('03')).toMatchObject({ renewalOf: null });
        // The renewed certificate revoked before the challenge is spent: nothing recorded, the challenge unspent.
        await s.noteIdentityRenewalChallenge('ch-late', '03', '2030-01-01T00:00:00.000Z');
        await s.revokeCertificate('03', '2026-03-01T00:00:00.000Z', 'keyCompromise');
        expect(await s.recordEnrollment(challenge('ch-late'), enrollment('tx-4', { kind: 'identity' }), certificate('04', { kind: 'identity' }))).toEqual({
          ok: false,
          reason: 'predecessor-revoked',
        });
        expect(await s.getCertificate('04')).toBeNull();
        expect(await s.isChallengeUsed('ch-late')).toBe(false);
        // A profile certificate's enrollment does not look for a renewal link (only identity challenges are noted).
        await s.noteIdentityRenewalChallenge('ch-profile', '01', '2030-01-01T00:00:00.000Z');
        expect(await s.recordEnrollment(challenge('ch-profile'), enrollment('tx-5'), certificate('05'))).toEqual({ ok: true });
        expect(await s.getCertificate('05')).toMatchObject({ renewalOf: null });
      });

      it('normalises timestamps to toISOString form', async () => {
        await s.recordEnrollment(
          null,
          enrollment('tx-1'),
          certificate('01', { notBefore: '2026-01-01T01:00:00+01:00', notAfter: '2027-01-01T00:00:00Z' }),
        );
        await s.revokeCertificateChain('01', '2026-05-05T05:05:05Z', 'unspecified');
        const c = await s.getCertificate('01');
        expect(c?.notBefore).toBe('2026-01-01T00:00:00.000Z');
        expect(c?.notAfter).toBe('2027-01-01T00:00:00.000Z');
        expect(c?.revokedAt).toBe('2026-05-05T05:05:05.000Z');
        await expect(s.revokeCertificateChain('01', 'yesterday', 'unspecified')).rejects.toThrow(RangeError);
      });
    });

    describe('getCertificateWithDevice', () => {
      const identity = (serial: string, deviceId: string | null) => s.recordEnrollment(null, enrollment(`tx-${serial}`, { kind: 'identity', deviceId }), certificate(serial, { kind: 'identity', deviceId }));

      it('answers the certificate and its device as getCertificate and getDevice do, in one read', async () => {
        const u = await s.createUser({ userPrincipalName: 'cwd@contoso.example', email: 'cwd@example.com', displayName: 'C' });
        const d = await s.createDevice({ name: 'phone', platform: 'android', serialNumber: 'SN-CWD', userId: u.id, attributes: { site: 'HQ' } });
        await s.setDeviceReported(d.id, { name: 'Pixel', serialNumber: 'R1', conflicts: ['serialNumber'], updatedAt: '2026-02-02T00:00:00.000Z' });
        await identity('c1', d.id);
        const got = await s.getCertificateWithDevice('c1');
        expect(got?.certificate).toEqual(await s.getCertificate('c1'));
        expect(got?.device).toEqual(await s.getDevice(d.id));
        expect(got?.device?.reported.conflicts).toEqual(['serialNumber']);
        expect(got?.otherUnrevokedIdentities).toBe(false);
        expect(await s.getCertificateWithDevice('nope')).toBeNull();
      });

      it('says whether the device holds another unrevoked identity certificate', async () => {
        const d = await s.createDevice({ name: 'd', platform: 'ios' });
        const other = await s.createDevice({ name: 'o', platform: 'ios' });
        await identity('a1', d.id);
        // A profile certificate of the same device and another device's identity do not count.
        await s.recordEnrollment(null, enrollment('tx-p1', { deviceId: d.id }), certificate('p1', { deviceId: d.id }));
        await identity('o1', other.id);
        expect((await s.getCertificateWithDevice('a1'))?.otherUnrevokedIdentities).toBe(false);
        await identity('a2', d.id);
        expect((await s.getCertificateWithDevice('a1'))?.otherUnrevokedIdentities).toBe(true);
        expect((await s.getCertificateWithDevice('a2'))?.otherUnrevokedIdentities).toBe(true);
        await s.revokeCertificate('a1', '2026-03-01T00:00:00.000Z', 'superseded');
        expect((await s.getCertificateWithDevice('a2'))?.otherUnrevokedIdentities).toBe(false);
        // The revoked one still sees its live successor.
        expect((await s.getCertificateWithDevice('a1'))?.otherUnrevokedIdentities).toBe(true);
        expect((await s.getCertificateWithDevice('a1'))?.certificate.revokedAt).toBe('2026-03-01T00:00:00.000Z');
      });

      it('answers no device for a certificate without one, or whose device was deleted', async () => {
        await identity('n1', null);
        expect(await s.getCertificateWithDevice('n1')).toMatchObject({ device: null, otherUnrevokedIdentities: false });
        const d = await s.createDevice({ name: 'gone', platform: 'windows' });
        await identity('g1', d.id);
        expect((await s.getCertificateWithDevice('g1'))?.device?.id).toBe(d.id);
        expect((await s.deleteDevice(d.id, '2026-03-01T00:00:00.000Z', 'cessationOfOperation')).ok).toBe(true);
        const after = await s.getCertificateWithDevice('g1');
        expect(after?.device).toBeNull();
        expect(after?.certificate.serialNumber).toBe('g1');
      });

      it('answers the plan generations in the same read, as getPlanGenerations does; none for the device of a certificate without one', async () => {
        const d = await s.createDevice({ name: 'gen', platform: 'android' });
        await identity('pg1', d.id);
        const gens = async () => (await s.getCertificateWithDevice('pg1'))?.planGenerations;
        expect(await gens()).toEqual(await s.getPlanGenerations(d.id));
        expect((await gens())?.global).toBeNull();
        await s.putSetting(PLAN_GENERATION_SETTING, 'global-2');
        await s.bumpDevicePlanGenerations([d.id]);
        expect(await gens()).toEqual(await s.getPlanGenerations(d.id));
        expect(await gens()).toMatchObject({ global: 'global-2' });
        const before = (await gens())!.device!;
        await s.bumpDevicePlanGenerations([d.id]);
        expect((await gens())?.device).toBe(before + 1);
        await identity('pg2', null);
        expect((await s.getCertificateWithDevice('pg2'))?.planGenerations).toEqual({ global: 'global-2', device: null });
      });

      it('shows a block and a retirement on the device it answers', async () => {
        const d = await s.createDevice({ name: 'b', platform: 'macos' });
        await identity('b1', d.id);
        await s.blockDevice(d.id, '2026-03-01T00:00:00.000Z', 'unspecified');
        expect((await s.getCertificateWithDevice('b1'))?.device?.blockedAt).toBe('2026-03-01T00:00:00.000Z');
        expect((await s.getCertificateWithDevice('b1'))?.certificate.revokedAt).not.toBeNull();
      });
    });

    // ---- used challenges ----------------------------------------------------------------
    describe('purgeExpiredChallenges', () => {
      it('deletes only used-challenge records that expired before now', async () => {
        await s.recordEnrollment(challenge('old', '2026-01-01T00:00:00.000Z'), enrollment('t-old'), certificate('01'));
        await s.recordEnrollment(challenge('edge', '2026-02-01T00:00:00.000Z'), enrollment('t-edge'), certificate('02'));
        await s.recordEnrollment(challenge('new', '2026-03-01T00:00:00.000Z'), enrollment('t-new'), certificate('03'));

        expect(await s.purgeExpiredChallenges('2025-12-31T00:00:00.000Z')).toBe(0);
        expect(await s.purgeExpiredChallenges('2026-02-01T00:00:00.000Z')).toBe(1); // 'edge' expires exactly now: kept
        expect(await s.isChallengeUsed('old')).toBe(false);
        expect(await s.isChallengeUsed('edge')).toBe(true);
        expect(await s.isChallengeUsed('new')).toBe(true);
        expect(await s.purgeExpiredChallenges('2026-02-01T00:00:00.000Z')).toBe(0);
        // Compared as instants, not as text: +01:00 is 23:00Z the day before the 'new' expiry.
        expect(await s.purgeExpiredChallenges('2026-03-01T00:00:00+01:00')).toBe(1);
        expect(await s.isChallengeUsed('edge')).toBe(false);
        expect(await s.isChallengeUsed('new')).toBe(true);
        // Enrollments and certificates are not touched.
        expect(await s.getEnrollment('t-old')).not.toBeNull();
        // Renewal links of expired identity challenges go too: a link past its challenge's expiry no longer applies.
        await s.recordEnrollment(null, enrollment('t-id', { kind: 'identity' }), certificate('10', { kind: 'identity' }));
        await s.noteIdentityRenewalChallenge('link-old', '10', '2026-02-15T00:00:00.000Z');
        await s.noteIdentityRenewalChallenge('link-new', '10', '2026-04-01T00:00:00.000Z');
        await s.purgeExpiredChallenges('2026-03-01T00:00:00.000Z');
        expect(await s.recordEnrollment(challenge('link-old'), enrollment('t-link-old', { kind: 'identity' }), certificate('11', { kind: 'identity' }))).toEqual({ ok: true });
        expect(await s.recordEnrollment(challenge('link-new'), enrollment('t-link-new', { kind: 'identity' }), certificate('12', { kind: 'identity' }))).toEqual({ ok: true });
        expect((await s.getCertificate('11'))?.renewalOf).toBeNull();
        expect((await s.getCertificate('12'))?.renewalOf).toBe('10');
        expect(await s.listCertificates()).toHaveLength(6);
      });
    });

    // ---- audit ----------------------------------------------------------------------------
  });
}
