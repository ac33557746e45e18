import type { Transaction } from 'kysely';
import type { CertificateKind, RevocationReason } from '../../model.js';
import type { Database } from '../schema.js';

// The revocation walk, shared by the directory's lifecycle transactions and
// by issuance (chain and pending-removal revocations). Always inside the
// caller's transaction.

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
  return done;
}

/**
 * Revokes one certificate if it is not revoked yet, then its renewals;
 * returns the serials newly revoked (`serial` first), or null when the
 * certificate is missing or was already revoked (its renewals untouched).
 */
export async function revokeChainFrom(trx: Transaction<Database>, serial: string, at: string, reason: RevocationReason): Promise<string[] | null> {
  const root = await trx
    .updateTable('certificates')
    .set({ revoked_at: at, revocation_reason: reason })
    .where('serial_number', '=', serial)
    .where('revoked_at', 'is', null)
    .returning('serial_number')
    .executeTakeFirst();
  if (!root) return null;
  return [serial, ...(await revokeSuccessors(trx, [serial], at, reason))];
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
