import type { SelectQueryBuilder, Transaction } from 'kysely';
import type { AuditEvent, Enrollment, IssuedCertificate, RevocationReason, PendingRemoval } from '../../model.js';
import { StorageConflictError, type ChallengeUse, type NewEnrollment, type NewCertificate, type ConsumeResult, type RevokeResult, type RevokedEntry, type RevokedSetState, type CertificateStatus, type CertificateFilter, type CertificateWithDevice } from '../storage.js';
import type { IssuanceStore } from '../issuance-store.js';
import type { CertificateRow, Database, NewCertificateRow, NewEnrollmentRow } from '../schema.js';
import type { Insertable } from 'kysely';
import type { AuditEventsTable } from '../schema.js';
import { columnsOf, prepared, type PreparedQuery } from './prepared.js';
import { KyselyStore, Rollback, isoTimestamp, toBuffer, toNumber, isUniqueViolation } from './support.js';
import { rowToEnrollment, rowToCertificate, rowToDevice } from './rows.js';
import { bumpHolders, revokeChainFrom, revokeOne } from './revocation.js';
import { auditRow } from './audit.js';
import { PLAN_GENERATION_SETTING } from '../plan-generation-store.js';
import type { ChallengeUseAndGenerations, RecordSeen } from '../issuance-store.js';

// The queries of an enrollment, compiled once per store (prepared.ts: issue 13).
const ENROLLMENT_BY_ID = prepared('enrollment by transaction id', (db, p: { id: string }) =>
  db.selectFrom('enrollments').selectAll().where('transaction_id', '=', p.id),
);
const CHALLENGE_USED = prepared('used challenge by id', (db, p: { id: string }) => db.selectFrom('used_challenges').select('id').where('id', '=', p.id));
/**
 * The CRP's early used-challenge answer and the plan generations its read
 * cache is keyed by (core/crp/read-cache.ts), in one statement: the cache
 * costs no round trip of its own (issue 13).
 */
const CHALLENGE_USE_AND_GENERATIONS = prepared('used challenge and plan generations', (db, p: { id: string; deviceId: string }) =>
  db.selectNoFrom((eb) => [
    eb.selectFrom('used_challenges').select('id').where('id', '=', p.id).as('used'),
    eb.selectFrom('settings').select('value').where('key', '=', PLAN_GENERATION_SETTING).as('global'),
    eb.selectFrom('devices').select('plan_generation').where('id', '=', p.deviceId).as('device'),
  ]),
);
const RENEWAL_LINK = prepared('identity renewal link', (db, p: { id: string }) =>
  db.selectFrom('identity_renewal_challenges').select('renewal_of').where('challenge_id', '=', p.id),
);
const ENROLLMENT_COLUMNS = [
  'transaction_id', 'status', 'kind', 'challenge_id', 'profile_id', 'profile_version', 'device_id', 'user_id',
  'csr_sha256', 'csr_der', 'resolved', 'renewal_of', 'certificate_serial', 'created_at', 'updated_at',
] as const satisfies readonly (keyof NewEnrollmentRow)[];
const INSERT_ENROLLMENT = prepared('insert enrollment', (db, p: NewEnrollmentRow) => db.insertInto('enrollments').values(columnsOf(p, ENROLLMENT_COLUMNS)));
const INSERT_USED_CHALLENGE = prepared('insert used challenge', (db, p: { id: string; transaction_id: string; used_at: string; expires_at: string }) =>
  db.insertInto('used_challenges').values({ id: p.id, transaction_id: p.transaction_id, used_at: p.used_at, expires_at: p.expires_at }),
);
const CERTIFICATE_COLUMNS = [
  'serial_number', 'kind', 'subject', 'not_before', 'not_after', 'thumbprint', 'sha256', 'transaction_id', 'profile_id', 'profile_version',
  'device_id', 'user_id', 'der', 'issued_at', 'revoked_at', 'revocation_reason', 'renewal_of', 'issuer_id',
] as const satisfies readonly (keyof NewCertificateRow)[];
const INSERT_CERTIFICATE = prepared('insert certificate', (db, p: NewCertificateRow) => db.insertInto('certificates').values(columnsOf(p, CERTIFICATE_COLUMNS)));
/**
 * UPDATEs that take the row's write lock (see #issuanceRefusal). The device's
 * one also advances its plan generation (core/plan-generation.ts), so the
 * issuing transaction drops only this device's cached check-in answer.
 */
const LOCK_DEVICE = prepared('lock device for issuance', (db, p: { id: string }) =>
  db
    .updateTable('devices')
    .set((eb) => ({ plan_generation: eb(eb.ref('plan_generation'), '+', 1) }))
    .where('id', '=', p.id)
    .returning(['blocked_at', 'retired_at', 'retiring_since', 'plan_generation']),
);
const LOCK_PREDECESSOR = prepared('lock renewed certificate for issuance', (db, p: { serial: string }) =>
  db
    .updateTable('certificates')
    .set((eb) => ({ revoked_at: eb.ref('revoked_at') }))
    .where('serial_number', '=', p.serial)
    .returning('revoked_at'),
);
/**
 * The identity a check-in presents, with its device (getCertificateWithDevice):
 * every check-in runs it, so it is compiled once (issue 13).
 */
const CERTIFICATE_WITH_DEVICE = prepared('certificate with its device', (db, p: { serial: string }) =>
  db
    .selectFrom('certificates as c')
    .leftJoin('devices as d', (j) => j.onRef('d.id', '=', 'c.device_id').on('d.deleted_at', 'is', null))
    .selectAll('c')
    .select([
      'd.id as d_id',
      'd.name as d_name',
      'd.platform as d_platform',
      'd.serial_number as d_serial_number',
      'd.user_id as d_user_id',
      'd.attributes as d_attributes',
      'd.created_at as d_created_at',
      'd.blocked_at as d_blocked_at',
      'd.reported_name as d_reported_name',
      'd.reported_serial_number as d_reported_serial_number',
      'd.reported_conflicts as d_reported_conflicts',
      'd.reported_at as d_reported_at',
      'd.retired_at as d_retired_at',
      'd.retiring_since as d_retiring_since',
      'd.plan_generation as d_plan_generation',
    ])
    .select((eb) =>
      eb
        .exists(
          eb
            .selectFrom('certificates as o')
            .select('o.serial_number')
            .whereRef('o.device_id', '=', 'c.device_id')
            .where('o.kind', '=', 'identity')
            .where('o.revoked_at', 'is', null)
            .whereRef('o.serial_number', '<>', 'c.serial_number'),
        )
        .as('other_unrevoked_identities'),
    )
    // The global plan generation in the same round trip: a kept check-in reads nothing else for its key (issue 13).
    .select((eb) => eb.selectFrom('settings').select('value').where('key', '=', PLAN_GENERATION_SETTING).as('plan_generation_global'))
    .where('c.serial_number', '=', p.serial),
);
const AUDIT_COLUMNS = ['at', 'transaction_id', 'type', 'reason_code', 'actor', 'details'] as const;
/** The audit records of an enrollment in one insert: one prepared query per row count up to this (three in the common case). */
const PREPARED_AUDIT_ROWS = 8;
const auditInserts = new Map<number, PreparedQuery<Record<string, unknown>, unknown>>();
function auditInsert(rows: number): PreparedQuery<Record<string, unknown>, unknown> {
  let q = auditInserts.get(rows);
  if (!q) {
    q = prepared(`insert ${rows} audit records`, (db, p: Record<string, unknown>) =>
      db.insertInto('audit_events').values(Array.from({ length: rows }, (_, i) => Object.fromEntries(AUDIT_COLUMNS.map((c) => [c, p[`${c}${i}`]])) as Insertable<AuditEventsTable>)),
    );
    auditInserts.set(rows, q);
  }
  return q;
}
function auditParams(rows: readonly Insertable<AuditEventsTable>[]): Record<string, unknown> {
  const p: Record<string, unknown> = {};
  rows.forEach((r, i) => {
    for (const c of AUDIT_COLUMNS) p[`${c}${i}`] = r[c] ?? null;
  });
  return p;
}

// Enrollments, certificates, spent challenges, revocation, CRL state and
// pending removals. Issuance re-checks the device (blocked/retired) inside its
// transaction, so it reads the devices table too.
export class KyselyIssuanceStore extends KyselyStore implements IssuanceStore {
  async addPendingRemovals(entries: Omit<PendingRemoval, 'since'>[], since: string): Promise<PendingRemoval[]> {
    const stamp = isoTimestamp(since, 'since');
    if (entries.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const added: PendingRemoval[] = [];
      for (const e of entries) {
        const row = await trx
          .insertInto('pending_removals')
          .values({ serial_number: e.serialNumber, device_id: e.deviceId, profile_id: e.profileId, since: stamp })
          .onConflict((oc) => oc.column('serial_number').doNothing())
          .returning('serial_number')
          .executeTakeFirst();
        if (row) added.push({ ...e, since: stamp });
      }
      return added;
    });
  }

  async listPendingRemovals(filter?: { deviceId?: string; before?: string }): Promise<PendingRemoval[]> {
    let q = this.db.selectFrom('pending_removals').selectAll();
    if (filter?.deviceId !== undefined) q = q.where('device_id', '=', filter.deviceId);
    if (filter?.before !== undefined) q = q.where('since', '<', isoTimestamp(filter.before, 'before'));
    const rows = await q.orderBy('since').orderBy('serial_number').execute();
    return rows.map((r) => ({ serialNumber: r.serial_number, deviceId: r.device_id, profileId: r.profile_id, since: r.since }));
  }

  async cancelPendingRemovals(serialNumbers: string[]): Promise<number> {
    if (serialNumbers.length === 0) return 0;
    // The devices whose removals went advance their plan generation in the same transaction
    // (core/plan-generation.ts): only their cached answers are dropped, not every device's (issue 13).
    return this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('pending_removals').where('serial_number', 'in', serialNumbers).returning('device_id').execute();
      const devices = [...new Set(gone.map((r) => r.device_id))];
      if (devices.length > 0) {
        await trx
          .updateTable('devices')
          .set((eb) => ({ plan_generation: eb(eb.ref('plan_generation'), '+', 1) }))
          .where('id', 'in', devices)
          .execute();
      }
      return gone.length;
    });
  }

  async revokePendingRemoval(serialNumber: string, at: string, reason: RevocationReason): Promise<string[] | null> {
    const stamp = isoTimestamp(at, 'at');
    return this.db.transaction().execute(async (trx) => {
      const gone = await trx.deleteFrom('pending_removals').where('serial_number', '=', serialNumber).executeTakeFirst();
      if (Number(gone.numDeletedRows) === 0) return null;
      return (await revokeChainFrom(trx, serialNumber, stamp, reason)) ?? [];
    });
  }

  #certificateRow(c: NewCertificate, issuedAt: string): NewCertificateRow {
    return {
      serial_number: c.serialNumber,
      kind: c.kind,
      subject: c.subject,
      not_before: isoTimestamp(c.notBefore, 'notBefore'),
      not_after: isoTimestamp(c.notAfter, 'notAfter'),
      thumbprint: c.thumbprint,
      sha256: c.sha256,
      transaction_id: c.transactionId,
      profile_id: c.profileId,
      profile_version: c.profileVersion,
      device_id: c.deviceId,
      user_id: c.userId,
      der: toBuffer(c.der, 'certificate.der'),
      issued_at: issuedAt,
      revoked_at: null,
      revocation_reason: null,
      renewal_of: c.renewalOf ?? null,
      issuer_id: c.issuerId ?? null,
    };
  }

  /**
   * Inside an issuance transaction: what may have changed since the policy
   * said yes. Both reads are UPDATEs so they take the row's write lock:
   * a concurrent blockDevice / revokeCertificateChain either committed first
   * (and is seen here) or waits for this transaction and then finds the new
   * certificate to revoke. (SQLite serialises write transactions anyway.)
   * The device's is also the plan-generation bump of the issuance
   * (core/plan-generation.ts, 0018): the new certificate and the device's new
   * generation commit together, and only that device's cached check-in answer
   * is dropped. The predecessor's is a no-op.
   * A device we have no record of is not ours to block (the CRP checked the
   * target); an unknown predecessor counts as revoked.
   */
  async #issuanceRefusal(
    trx: Transaction<Database>,
    deviceId: string | null,
    renewalOf: string | null,
    /** Receives the device's plan generation after this transaction's bump (the CRP's read cache: core/crp/read-cache.ts). */
    seen: RecordSeen,
  ): Promise<'device-blocked' | 'predecessor-revoked' | null> {
    if (deviceId !== null) {
      const device = await LOCK_DEVICE.first(this.db, { id: deviceId }, trx);
      if (device) seen.devicePlanGeneration = toNumber(device.plan_generation);
      // A retired or retiring (or deleted, which retires) device gets no certificate either.
      if (device && (device.blocked_at !== null || device.retired_at !== null || device.retiring_since !== null)) return 'device-blocked';
    }
    if (renewalOf !== null) {
      const predecessor = await LOCK_PREDECESSOR.first(this.db, { serial: renewalOf }, trx);
      if (!predecessor || predecessor.revoked_at !== null) return 'predecessor-revoked';
    }
    return null;
  }

  async #insertCertificate(trx: Transaction<Database>, row: NewCertificateRow): Promise<void> {
    try {
      await INSERT_CERTIFICATE.execute(this.db, row, trx);
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new StorageConflictError(`a certificate with serial number ${row.serial_number} already exists`, 'conflict');
      }
      throw e;
    }
  }

  async getEnrollment(transactionId: string): Promise<Enrollment | null> {
    const row = await ENROLLMENT_BY_ID.first(this.db, { id: transactionId });
    return row ? rowToEnrollment(row) : null;
  }

  async listRecentEnrollments(limit: number): Promise<Enrollment[]> {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`enrollment limit must be a positive integer, got ${limit}`);
    // enrollments_created_at_idx (0011) serves the order and the limit.
    const rows = await this.db
      .selectFrom('enrollments')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('transaction_id', 'desc')
      .limit(limit)
      .execute();
    return rows.map(rowToEnrollment);
  }

  async recordEnrollment(
    challenge: ChallengeUse | null,
    enrollment: NewEnrollment,
    certificate: NewCertificate | null,
    audit: readonly (Omit<AuditEvent, 'id' | 'at'> & { at?: string })[] = [],
    seen: RecordSeen = {},
  ): Promise<ConsumeResult> {
    if ((certificate !== null) !== (enrollment.status === 'issued')) {
      throw new TypeError('recordEnrollment: a certificate is given exactly when the enrollment status is "issued"');
    }
    if (challenge !== null && enrollment.challengeId != null && enrollment.challengeId !== challenge.id) {
      throw new TypeError('recordEnrollment: enrollment.challengeId differs from the challenge being spent');
    }
    const now = this.stamp();
    const challengeRow = challenge && {
      id: challenge.id,
      transaction_id: enrollment.transactionId,
      used_at: now,
      expires_at: isoTimestamp(challenge.expiresAt, 'challenge.expiresAt'),
    };
    const enrollmentRow = {
      transaction_id: enrollment.transactionId,
      status: enrollment.status,
      kind: enrollment.kind,
      challenge_id: enrollment.challengeId ?? challenge?.id ?? null,
      profile_id: enrollment.profileId,
      profile_version: enrollment.profileVersion,
      device_id: enrollment.deviceId,
      user_id: enrollment.userId,
      csr_sha256: enrollment.csrSha256,
      csr_der: toBuffer(enrollment.csrDer, 'enrollment.csrDer'),
      resolved: enrollment.resolved === null ? null : JSON.stringify(enrollment.resolved),
      renewal_of: enrollment.renewalOf ?? null,
      certificate_serial: certificate?.serialNumber ?? null,
      created_at: now,
      updated_at: now,
    };
    const certificateRow = certificate && this.#certificateRow(certificate, now);
    const auditRows = audit.map((e) => auditRow(e, now));

    try {
      await this.db.transaction().execute(async (trx) => {
        // An identity challenge minted to renew an identity: what it renews (noteIdentityRenewalChallenge).
        // Only identity challenges are noted so: a profile certificate's enrollment does not look (issue 13).
        if (challengeRow && enrollmentRow.renewal_of === null && enrollmentRow.kind === 'identity') {
          const link = await RENEWAL_LINK.first(this.db, { id: challengeRow.id }, trx);
          if (link) enrollmentRow.renewal_of = link.renewal_of;
        }
        // The enrollment first: a retried request that also re-spends its own
        // challenge is reported as transaction-exists, which lets the caller
        // answer from the stored enrollment.
        try {
          await INSERT_ENROLLMENT.execute(this.db, enrollmentRow, trx);
        } catch (e) {
          if (isUniqueViolation(e)) throw new Rollback<ConsumeResult>({ ok: false, reason: 'transaction-exists' });
          throw e;
        }
        if (challengeRow) {
          try {
            await INSERT_USED_CHALLENGE.execute(this.db, challengeRow, trx);
          } catch (e) {
            if (isUniqueViolation(e)) throw new Rollback<ConsumeResult>({ ok: false, reason: 'challenge-used' });
            throw e;
          }
        }
        if (certificateRow) {
          const refusal = await this.#issuanceRefusal(trx, certificateRow.device_id ?? null, certificateRow.renewal_of ?? enrollmentRow.renewal_of, seen);
          if (refusal) throw new Rollback<ConsumeResult>({ ok: false, reason: refusal });
          await this.#insertCertificate(trx, { ...certificateRow, renewal_of: certificateRow.renewal_of ?? enrollmentRow.renewal_of });
        }
        // Last, one multi-row insert: ids follow the list order on both databases.
        if (auditRows.length > PREPARED_AUDIT_ROWS) await trx.insertInto('audit_events').values(auditRows).execute();
        else if (auditRows.length > 0) await auditInsert(auditRows.length).execute(this.db, auditParams(auditRows), trx);
      });
    } catch (e) {
      if (e instanceof Rollback) return e.result as ConsumeResult;
      throw e;
    }
    return { ok: true };
  }

  async completeEnrollment(transactionId: string, certificate: NewCertificate): Promise<boolean> {
    const now = this.stamp();
    const certificateRow = this.#certificateRow(certificate, now);
    return this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('enrollments')
        .set({ status: 'issued', certificate_serial: certificate.serialNumber, updated_at: now })
        .where('transaction_id', '=', transactionId)
        .where('status', '=', 'pending')
        .returning(['renewal_of'])
        .executeTakeFirst();
      if (!updated) return false;
      const renewalOf = certificateRow.renewal_of ?? updated.renewal_of;
      const refusal = await this.#issuanceRefusal(trx, certificateRow.device_id ?? null, renewalOf, {});
      if (refusal === 'device-blocked') throw new StorageConflictError(`device ${certificateRow.device_id} is blocked`, 'conflict');
      if (refusal) throw new StorageConflictError(`the certificate this enrollment renews (${renewalOf}) is revoked`, 'conflict');
      await this.#insertCertificate(trx, { ...certificateRow, renewal_of: renewalOf });
      return true;
    });
  }

  async rejectEnrollment(transactionId: string): Promise<boolean> {
    const result = await this.db
      .updateTable('enrollments')
      .set({ status: 'rejected', updated_at: this.stamp() })
      .where('transaction_id', '=', transactionId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  async getCertificate(serialNumber: string): Promise<IssuedCertificate | null> {
    const row = await this.db.selectFrom('certificates').selectAll().where('serial_number', '=', serialNumber).executeTakeFirst();
    return row ? rowToCertificate(row) : null;
  }

  async getCertificateWithDevice(serialNumber: string): Promise<CertificateWithDevice | null> {
    // One statement instead of three on every device check-in (issue 13): the device's
    // columns under d_ names (both tables have serial_number and user_id), a deleted device as none.
    const row = await CERTIFICATE_WITH_DEVICE.first(this.db, { serial: serialNumber });
    if (!row) return null;
    const device =
      row.d_id === null
        ? null
        : rowToDevice({
            id: row.d_id,
            name: row.d_name!,
            platform: row.d_platform!,
            serial_number: row.d_serial_number,
            user_id: row.d_user_id,
            attributes: row.d_attributes!,
            created_at: row.d_created_at!,
            blocked_at: row.d_blocked_at,
            reported_name: row.d_reported_name,
            reported_serial_number: row.d_reported_serial_number,
            reported_conflicts: row.d_reported_conflicts!,
            reported_at: row.d_reported_at,
            retired_at: row.d_retired_at,
            deleted_at: null,
            retiring_since: row.d_retiring_since,
            plan_generation: row.d_plan_generation!,
          });
    // SQLite answers EXISTS with 0/1, PostgreSQL with a boolean.
    const planGenerations = { global: row.plan_generation_global ?? null, device: device === null ? null : toNumber(row.d_plan_generation!) };
    return { certificate: rowToCertificate(row), device, otherUnrevokedIdentities: Boolean(row.other_unrevoked_identities), planGenerations };
  }

  async listCertificates(filter: CertificateFilter = {}): Promise<IssuedCertificate[]> {
    if (filter.deviceIds?.length === 0) return [];
    let q = this.#certificatesWhere(this.db.selectFrom('certificates').selectAll(), filter);
    if (filter.order === 'expiry') return this.#listByExpiry(q, filter);
    if (filter.afterExpiry !== undefined) throw new RangeError('afterExpiry pages the expiry order: give order: expiry');
    // Keyset paging on the list order: stable under inserts, no OFFSET scan.
    if (filter.after !== undefined) q = afterKey(q, 'issued_at', isoTimestamp(filter.after.issuedAt, 'after.issuedAt'), filter.after.serialNumber);
    return (await limited(q.orderBy('issued_at').orderBy('serial_number'), filter.limit).execute()).map(rowToCertificate);
  }

  /** The expiry report's order, (not_after, serial_number): a range of certificates_expiry_page_idx (0020) stopped by LIMIT, no sort. */
  async #listByExpiry(q: SelectQueryBuilder<Database, 'certificates', CertificateRow>, filter: CertificateFilter): Promise<IssuedCertificate[]> {
    if (filter.after !== undefined) throw new RangeError('after pages the issue order: give afterExpiry with order: expiry');
    if (filter.afterExpiry !== undefined) q = afterKey(q, 'not_after', isoTimestamp(filter.afterExpiry.notAfter, 'afterExpiry.notAfter'), filter.afterExpiry.serialNumber);
    return (await limited(q.orderBy('not_after').orderBy('serial_number'), filter.limit).execute()).map(rowToCertificate);
  }

  async countCertificates(filter: CertificateFilter = {}): Promise<Record<CertificateStatus, number>> {
    const counts: Record<CertificateStatus, number> = { valid: 0, revoked: 0, expired: 0 };
    if (filter.deviceIds?.length === 0) return counts;
    const asOf = filter.asOf === undefined ? this.stamp() : isoTimestamp(filter.asOf, 'asOf');
    const base = this.db
      .selectFrom('certificates')
      .select((eb) => [
        eb
          .case()
          .when('revoked_at', 'is not', null)
          .then('revoked')
          .when('not_after', '<', asOf)
          .then('expired')
          .else('valid')
          .end()
          .as('status'),
        eb.fn.countAll().as('n'),
      ]);
    // A long device list goes in chunks: SQLite and PostgreSQL both cap bound parameters per statement.
    const ids = filter.deviceIds;
    const chunks = ids === undefined ? [undefined] : Array.from({ length: Math.ceil(ids.length / 500) }, (_, i) => ids.slice(i * 500, i * 500 + 500));
    for (const deviceIds of chunks) {
      const rows = await this.#certificatesWhere(base, { ...filter, deviceIds }).groupBy('status').execute();
      for (const r of rows) counts[r.status as CertificateStatus] += toNumber(r.n as number | string | bigint);
    }
    return counts;
  }

  /** The filter's row conditions, shared by list and count (timestamps compare as ISO text). */
  #certificatesWhere<Q extends SelectQueryBuilder<Database, 'certificates', any>>(q: Q, filter: CertificateFilter): Q {
    let w = q as SelectQueryBuilder<Database, 'certificates', any>;
    if (filter.deviceId !== undefined) w = w.where('device_id', '=', filter.deviceId);
    if (filter.userId !== undefined) w = w.where('user_id', '=', filter.userId);
    if (filter.profileId !== undefined) w = w.where('profile_id', '=', filter.profileId);
    if (filter.transactionId !== undefined) w = w.where('transaction_id', '=', filter.transactionId);
    if (filter.kind !== undefined) w = w.where('kind', '=', filter.kind);
    if (filter.deviceIds !== undefined) w = w.where('device_id', 'in', [...filter.deviceIds]);
    if (filter.notAfterUntil !== undefined) w = w.where('not_after', '<=', isoTimestamp(filter.notAfterUntil, 'notAfterUntil'));
    if (filter.status !== undefined) {
      const asOf = filter.asOf === undefined ? this.stamp() : isoTimestamp(filter.asOf, 'asOf');
      if (filter.status === 'revoked') w = w.where('revoked_at', 'is not', null);
      else w = w.where('revoked_at', 'is', null).where('not_after', filter.status === 'expired' ? '<' : '>=', asOf);
    }
    return w as Q;
  }

  async findCertificateByThumbprint(thumbprint: string): Promise<IssuedCertificate | null> {
    const row = await this.db.selectFrom('certificates').selectAll().where('thumbprint', '=', thumbprint.toUpperCase()).executeTakeFirst();
    return row ? rowToCertificate(row) : null;
  }

  async revokeCertificateChain(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult> {
    const revokedAt = isoTimestamp(at, 'revokedAt');
    return this.db.transaction().execute(async (trx): Promise<RevokeResult> => {
      const revoked = await revokeChainFrom(trx, serialNumber, revokedAt, reason);
      if (revoked) return { ok: true, revoked };
      const exists = await trx.selectFrom('certificates').select('serial_number').where('serial_number', '=', serialNumber).executeTakeFirst();
      return { ok: false, reason: exists ? 'already-revoked' : 'not-found' };
    });
  }

  async assignLegacyIssuer(issuerId: string): Promise<number> {
    const result = await this.db.updateTable('certificates').set({ issuer_id: issuerId }).where('issuer_id', 'is', null).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  // ---- CRL publication (src/ca/crl-publisher.ts) ----

  async listRevoked(issuerId: string): Promise<RevokedEntry[]> {
    const rows = await this.db
      .selectFrom('certificates')
      .select(['serial_number', 'revoked_at', 'revocation_reason'])
      .where('issuer_id', '=', issuerId)
      .where('revoked_at', 'is not', null)
      .orderBy('revoked_at')
      .orderBy('serial_number')
      .execute();
    return rows.map((r) => ({
      serialNumber: r.serial_number,
      revokedAt: r.revoked_at!,
      reason: (r.revocation_reason ?? 'unspecified') as RevocationReason,
    }));
  }

  async revokedSetState(issuerId: string): Promise<RevokedSetState> {
    // Served by certificates_issuer_revoked_idx (0005).
    const row = await this.db
      .selectFrom('certificates')
      .select((eb) => [eb.fn.countAll().as('count'), eb.fn.max('revoked_at').as('latest')])
      .where('issuer_id', '=', issuerId)
      .where('revoked_at', 'is not', null)
      .executeTakeFirstOrThrow();
    return { count: toNumber(row.count as number | string | bigint), latest: (row.latest as string | null) ?? null };
  }

  async nextCrlNumber(issuerId: string): Promise<number> {
    // One statement: the upsert's row lock (PostgreSQL) or the write lock
    // (SQLite) serialises concurrent callers, so no two get the same number.
    const row = await this.db
      .insertInto('crl_state')
      .values({ issuer_id: issuerId, crl_number: 1, updated_at: this.stamp() })
      .onConflict((oc) =>
        oc.column('issuer_id').doUpdateSet((eb) => ({
          crl_number: eb(eb.ref('crl_state.crl_number'), '+', 1),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .returning('crl_number')
      .executeTakeFirstOrThrow();
    return toNumber(row.crl_number);
  }

  async revokeCertificate(serialNumber: string, at: string, reason: RevocationReason): Promise<RevokeResult> {
    const revokedAt = isoTimestamp(at, 'revokedAt');
    // One transaction with the holder's plan-generation bump (revocation.ts).
    return this.db.transaction().execute(async (trx): Promise<RevokeResult> => {
      if (await revokeOne(trx, serialNumber, revokedAt, reason)) {
        await bumpHolders(trx, [serialNumber]);
        return { ok: true, revoked: [serialNumber] };
      }
      const exists = await trx.selectFrom('certificates').select('serial_number').where('serial_number', '=', serialNumber).executeTakeFirst();
      return { ok: false, reason: exists ? 'already-revoked' : 'not-found' };
    });
  }

  async noteIdentityRenewalChallenge(challengeId: string, renewalOf: string, expiresAt: string): Promise<void> {
    await this.db
      .insertInto('identity_renewal_challenges')
      .values({ challenge_id: challengeId, renewal_of: renewalOf, expires_at: isoTimestamp(expiresAt, 'expiresAt') })
      .execute();
  }

  async lastExpiryByIssuer(issuerId: string): Promise<string | null> {
    // ISO timestamps in one format (isoTimestamp) compare as strings.
    const row = await this.db.selectFrom('certificates').select((eb) => eb.fn.max('not_after').as('last')).where('issuer_id', '=', issuerId).executeTakeFirst();
    return (row?.last as string | null | undefined) ?? null;
  }

  // ---- challenges (spent by recordEnrollment; the used-record is kept until the challenge expires) ----

  async isChallengeUsed(id: string): Promise<boolean> {
    return (await CHALLENGE_USED.first(this.db, { id })) !== undefined;
  }

  async getChallengeUse(id: string, deviceId: string | null): Promise<ChallengeUseAndGenerations> {
    // No device has the empty id: a null device reads as no generation.
    const row = await CHALLENGE_USE_AND_GENERATIONS.first(this.db, { id, deviceId: deviceId ?? '' });
    if (!row) throw new Error('challenge use: the select without FROM returned no row');
    return {
      used: row.used !== null && row.used !== undefined,
      planGenerations: { global: row.global ?? null, device: row.device === null || row.device === undefined ? null : toNumber(row.device) },
    };
  }

  async purgeExpiredChallenges(now: string): Promise<number> {
    const result = await this.db
      .deleteFrom('used_challenges')
      .where('expires_at', '<', isoTimestamp(now, 'now'))
      .executeTakeFirst();
    // Renewal links of expired identity challenges go with them (not counted: they are not used-challenge records).
    await this.db.deleteFrom('identity_renewal_challenges').where('expires_at', '<', isoTimestamp(now, 'now')).execute();
    return Number(result.numDeletedRows);
  }
}

type CertificateQuery = SelectQueryBuilder<Database, 'certificates', CertificateRow>;

/**
 * The rows after a keyset cursor on (column, serial_number). The leading
 * `column >=` lets the index seek to the cursor; the OR alone walks it from
 * the first row (deep pages would cost their depth).
 */
function afterKey(q: CertificateQuery, column: 'issued_at' | 'not_after', at: string, serialNumber: string): CertificateQuery {
  return q.where(column, '>=', at).where((eb) => eb.or([eb(column, '>', at), eb('serial_number', '>', serialNumber)]));
}

/** At most `limit` rows (1..10000) when given. */
function limited(q: CertificateQuery, limit: number | undefined): CertificateQuery {
  if (limit === undefined) return q;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new RangeError(`limit must be 1..10000: ${limit}`);
  return q.limit(limit);
}
