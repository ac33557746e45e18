// Child process for the cross-process test in sqlite.test.ts (not a test file itself).
// argv: <database file> <worker index> <attempts> <start at epoch ms>
// Opens (and so migrates) the file at the agreed moment, then tries to spend one
// shared challenge `attempts` times; prints the results as JSON on stdout.
import { openSqliteStorage } from '../../src/core/storage/sqlite.js';

const [file, index, attempts, startAt] = process.argv.slice(2);
if (!file || !index || !attempts || !startAt) throw new Error('usage: race-worker FILE INDEX ATTEMPTS START_AT');

await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
const storage = await openSqliteStorage(file);
const results = [];
for (let i = 0; i < Number(attempts); i++) {
  const tx = `tx-${index}-${i}`;
  const result = await storage.recordEnrollment(
    { id: 'shared-challenge', expiresAt: '2030-01-01T00:00:00.000Z' },
    {
      transactionId: tx,
      status: 'issued',
      kind: 'profile',
      challengeId: 'shared-challenge',
      profileId: null,
      profileVersion: null,
      deviceId: `dev-${index}`,
      userId: null,
      csrSha256: '00'.repeat(32),
      csrDer: new Uint8Array([1, 2, 3]),
      resolved: null,
    },
    {
      serialNumber: `${index}0${i}`,
      kind: 'profile',
      subject: 'CN=x',
      notBefore: '2026-01-01T00:00:00.000Z',
      notAfter: '2027-01-01T00:00:00.000Z',
      thumbprint: 'AA'.repeat(20),
      sha256: 'bb'.repeat(32),
      transactionId: tx,
      profileId: null,
      profileVersion: null,
      deviceId: `dev-${index}`,
      userId: null,
      der: new Uint8Array([4, 5, 6]),
    },
  );
  await storage.appendAudit({ transactionId: tx, type: 'race', reasonCode: null, actor: `worker:${index}`, details: { ok: result.ok } });
  results.push({ tx, ...result });
}
await storage.close();
process.stdout.write(JSON.stringify(results));
