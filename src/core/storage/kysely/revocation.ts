import type { Transaction } from 'kysely';
import type { CertificateKind, RevocationReason } from '../../model.js';
import type { Database } from '../schema.js';

// The revocation walk, shared by the directory's lifecycle transactions and
// by issuance (chain and pending-removal revocations). Always inside the
// caller's transaction, which also advances the plan generation of every
// device holding a certificate it revoked (bumpHolders).

/**
 * Revokes the unrevoked certificates whose `column` is `id` (profile ones
 * only when `kind` says so), then their renewals; returns the serials newly
 * revoked, own ones first.
 */
export async function revokeOwned(
  trx: Transaction<Database>,
  column: 'device_id' | 'user_id',
  id: string,
  at: string,
  reason: RevocationReason,
  kind?: CertificateKind,
): Promise<string[]> {
  let q = trx.selectFrom('certificates').select(['serial_number', 'revoked_at']).where(column, '=', id);
  if (kind) q = q.where('kind', '=', kind);
  const own = await q.orderBy('issued_at').orderBy('serial_number').execute();
  const current = own.filter((c) => c.revoked_at === null).map((c) => c.serial_number);
  if (current.length > 0) {
    await trx
      .updateTable('certificates')
      .set({ revoked_at: at, revocation_reason: reason })
      .where('serial_number', 'in', current)
      .where('revoked_at', 'is', null)
      .execute();
  }
  const successors = await revokeSuccessors(trx, own.map((c) => c.serial_number), at, reason);
  // Revoked certificates no longer wait for a removal.
  const done = [...current, ...successors];
  if (done.length > 0) await trx.deleteFrom('pending_removals').where('serial_number', 'in', done).execute();
  await bumpHolders(trx, done);
  return done;
}

/**
 * Revokes one certificate if it is not revoked yet, then its renewals;
 * returns the serials newly revoked (`serial` first), or null when the
 * certificate is missing or was already revoked (its renewals untouched).
 */
export async function revokeChainFrom(trx: Transaction<Database>, serial: string, at: string, reason: RevocationReason): Promise<string[] | null> {
  if (!(await revokeOne(trx, serial, at, reason))) return null;
  const revoked = [serial, ...(await revokeSuccessors(trx, [serial], at, reason))];
  await bumpHolders(trx, revoked);
  return revoked;
}

/**
 * Revokes one certificate if it is not revoked yet (a revoked one keeps its
 * first time and reason); false when it is missing or already revoked. The
 * caller bumps the holder's plan generation in the same transaction.
 */
export async function revokeOne(trx: Transaction<Database>, serial: string, at: string, reason: RevocationReason): Promise<boolean> {
  const row = await trx
    .updateTable('certificates')
    .set({ revoked_at: at, revocation_reason: reason })
    .where('serial_number', '=', serial)
    .where('revoked_at', 'is', null)
    .returning('serial_number')
    .executeTakeFirst();
  return row !== undefined;
}

/**
 * Advances the plan generation (core/plan-generation.ts, 0018) of the devices
 * holding these certificates, in the revoking transaction: a check-in that
 * read the generation before the commit keeps no answer past it, and the
 * other devices keep theirs. A certificate without a device is in no
 * device's plan (plans read certificates by device).
 */
export async function bumpHolders(trx: Transaction<Database>, serials: readonly string[]): Promise<void> {
  // In chunks: SQLite and PostgreSQL both cap bound parameters per statement.
  for (let i = 0; i < serials.length; i += 500) {
    const chunk = serials.slice(i, i + 500);
    await trx
      .updateTable('devices')
      .set((eb) => ({ plan_generation: eb(eb.ref('plan_generation'), '+', 1) }))
      .where((eb) => eb('id', 'in', eb.selectFrom('certificates').select('device_id').where('serial_number', 'in', chunk).where('device_id', 'is not', null)))
      .execute();
  }
}

/**
 * Revokes every certificate renewed from `roots`, transitively, breadth
 * first; returns the serials newly revoked. Already revoked successors are
 * walked through (their own renewals still get revoked) but keep their time
 * and reason. `seen` guards against a cycle a corrupted table could hold.
 */
export async function revokeSuccessors(trx: Transaction<Database>, roots: string[], at: string, reason: RevocationReason): Promise<string[]> {
  const seen = new Set(roots);
  const revoked: string[] = [];
  let frontier = roots;
  while (frontier.length > 0) {
    const rows = await trx
      .selectFrom('certificates')
      .select('serial_number')
      .where('renewal_of', 'in', frontier)
      .orderBy('issued_at')
      .orderBy('serial_number')
      .execute();
    const next = rows.map((r) => r.serial_number).filter((serial) => !seen.has(serial));
    for (const serial of next) seen.add(serial);
    if (next.length > 0) {
      const updated = await trx
        .updateTable('certificates')
        .set({ revoked_at: at, revocation_reason: reason })
        .where('serial_number', 'in', next)
        .where('revoked_at', 'is', null)
        .returning('serial_number')
        .execute();
      const done = new Set(updated.map((r) => r.serial_number));
      revoked.push(...next.filter((serial) => done.has(serial)));
    }
    frontier = next;
  }
  return revoked;
}
