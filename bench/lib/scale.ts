// `npm run bench -- --scale` (issue 13): a store the size of a large tenant,
// written straight into the gateway's SQLite file (already created and
// migrated by the gateway itself, so the schema is the real one) with
// prepared inserts in large transactions: 100,000 devices with users and
// group memberships, 300,000 certificates (identity + profile, some revoked,
// expired or renewed) with their enrollments and delivery states, 1,000,000
// audit rows, plus pending removals, device commands, used challenges and
// enrollment tokens. About a minute on the bench machine.
//
// Values are made up but shaped like the real ones (lengths, formats, the
// spread of timestamps), because index sizes and page counts are what a
// scale run measures. Every certificate row carries the same real DER (the
// CA's own certificate): nothing on a hot path parses another device's DER.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import Database from 'better-sqlite3';

export interface ScaleCounts {
  devices: number;
  users: number;
  groups: number;
  certificatesPerDevice: number;
  auditRows: number;
}

export const FULL_SCALE: ScaleCounts = { devices: 100_000, users: 50_000, groups: 200, certificatesPerDevice: 3, auditRows: 1_000_000 };
/** `--scale --quick`: a tenth, same shape. */
export const QUICK_SCALE: ScaleCounts = { devices: 10_000, users: 5_000, groups: 50, certificatesPerDevice: 3, auditRows: 100_000 };

export interface SeedResult {
  counts: Record<string, number>;
  seconds: number;
  fileMiB: number;
}

const DAY = 86_400_000;
const PLATFORMS = ['windows', 'windows', 'windows', 'windows', 'ios', 'ios', 'macos', 'android', 'android', 'android'] as const;
const ADAPTER: Record<string, string> = { windows: 'windows', ios: 'apple', macos: 'apple', android: 'android' };
const REVOCATION_REASONS = ['superseded', 'superseded', 'cessationOfOperation', 'keyCompromise', 'affiliationChanged'];
const AUDIT_TYPES = ['scep.enrollment.issued', 'scep.enrollment.rejected', 'challenge.minted', 'device.reported.changed', 'certificate.revoked', 'delivery.installed', 'admin.device.created', 'enrollment-token.redeemed'];

/** A deterministic generator, so two scale runs seed the same store. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
/** A serial as the CA writes it: 16 random bytes, lower-case hex, first byte below 0x80 and not 0. */
const serial = () => {
  const b = randomBytes(16);
  b[0] = (b[0]! % 0x7f) + 1;
  return b.toString('hex');
};

/** The CA id (lower-case hex SKI) the gateway stores in certificates.issuer_id. */
export function caIdOf(caPem: string): string {
  const ca = new x509.X509Certificate(caPem);
  const ski = ca.getExtension(x509.SubjectKeyIdentifierExtension);
  if (!ski) throw new Error('the CA certificate has no subject key identifier');
  return ski.keyId.toLowerCase();
}

/**
 * Seeds `dataDir/mdmgw.sqlite` (the gateway must be stopped). Profiles to
 * spread the certificates over are the ones already in the store (the bench
 * creates them through the admin API first, so their specs are real).
 */
export function seedScale(dataDir: string, counts: ScaleCounts, log: (m: string) => void = () => {}): SeedResult {
  const t0 = Date.now();
  const file = path.join(dataDir, 'mdmgw.sqlite');
  const caPem = readFileSync(path.join(dataDir, 'ca.pem'), 'utf8');
  const issuerId = caIdOf(caPem);
  const der = Buffer.from(new x509.X509Certificate(caPem).rawData);
  const csrDer = randomBytes(700); // an enrollment row's CSR is only read back by the admin API
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF'); // seeding only: a crash means seeding again
  db.pragma('cache_size = -262144'); // 256 MiB: random keys (serials, hashes) into large indexes
  const profiles = db.prepare('select p.id, p.current_version as version from profiles p where p.deleted_at is null').all() as { id: string; version: number }[];
  if (profiles.length === 0) throw new Error('seedScale: create some profiles first');
  const r = rng(13);
  const now = Date.now();
  const ago = (maxDays: number) => new Date(now - Math.floor(r() * maxDays * DAY)).toISOString();
  const out: Record<string, number> = {};
  const batch = <T>(table: string, n: number, make: (i: number) => T[], sql: string) => {
    const stmt = db.prepare(sql);
    const CHUNK = 20_000;
    for (let start = 0; start < n; start += CHUNK) {
      db.transaction(() => {
        for (let i = start; i < Math.min(n, start + CHUNK); i++) stmt.run(...(make(i) as unknown[]));
      })();
    }
    out[table] = (out[table] ?? 0) + n;
  };

  // Users, groups, memberships.
  const userIds = Array.from({ length: counts.users }, () => randomUUID());
  batch('users', counts.users, (i) => [userIds[i], `user${i}@scale.example.com`, `user${i}@scale.example.com`, `Scale User ${i}`, JSON.stringify({ department: `D${i % 40}` }), ago(730), i % 10 === 0 ? 'ldap' : 'local', i % 10 === 0 ? hex(16) : null],
    'insert into users (id, user_principal_name, email, display_name, attributes, created_at, source, external_id) values (?, ?, ?, ?, ?, ?, ?, ?)');
  const groupIds = Array.from({ length: counts.groups }, () => randomUUID());
  batch('groups', counts.groups, (i) => [groupIds[i], `Scale Group ${i}`, ago(730)], 'insert into groups (id, name, created_at) values (?, ?, ?)');
  batch('group_members', counts.users, (i) => [groupIds[i % counts.groups], userIds[i], null, ago(700)], 'insert into group_members (group_id, user_id, device_id, created_at) values (?, ?, ?, ?)');
  // Every profile reaches a few groups (what a check-in's assignment query walks).
  const assign = db.prepare("insert into assignments (id, profile_id, target_kind, target_id, created_at) values (?, ?, 'group', ?, ?)");
  db.transaction(() => {
    profiles.forEach((p, k) => {
      for (let g = k; g < counts.groups; g += profiles.length * 4) assign.run(randomUUID(), p.id, groupIds[g], ago(700));
    });
  })();
  log(`seeded ${counts.users} users, ${counts.groups} groups`);

  // Devices: a user's devices, a mix of platforms, some retired, blocked or deleted.
  const deviceIds = Array.from({ length: counts.devices }, () => randomUUID());
  const platformOf = (i: number) => PLATFORMS[i % PLATFORMS.length]!;
  batch('devices', counts.devices, (i) => {
    const retired = i % 100 === 7 ? ago(30) : null;
    return [deviceIds[i], i % 2 ? `SCALE-PC-${i}` : '', platformOf(i), i % 3 ? `SN${1_000_000 + i}` : null, userIds[i % counts.users], JSON.stringify({ site: `S${i % 12}` }), ago(720), i % 200 === 11 ? ago(10) : null,
      `scale-device-${i}`, `RSN${1_000_000 + i}`, '[]', ago(3), retired, i % 500 === 13 ? ago(20) : null];
  }, 'insert into devices (id, name, platform, serial_number, user_id, attributes, created_at, blocked_at, reported_name, reported_serial_number, reported_conflicts, reported_at, retired_at, deleted_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  batch('group_members', Math.floor(counts.devices / 10), (i) => [groupIds[i % counts.groups], null, deviceIds[i * 10], ago(500)], 'insert into group_members (group_id, user_id, device_id, created_at) values (?, ?, ?, ?)');
  batch('platform_state', counts.devices, (i) => [deviceIds[i], ADAPTER[platformOf(i)], JSON.stringify({ osVersion: '10.0.22631', lastSeen: ago(2), facts: { model: 'Scale', storage: 256 } }), ago(2)],
    'insert into platform_state (device_id, adapter, state, updated_at) values (?, ?, ?, ?)');
  log(`seeded ${counts.devices} devices`);

  // Certificates: per device one identity and (n-1) profile certificates; about 8% revoked
  // (mostly superseded by a renewal that is in the store too), 10% expired.
  const nCerts = counts.devices * counts.certificatesPerDevice;
  const certSql = 'insert into certificates (serial_number, kind, subject, not_before, not_after, thumbprint, sha256, transaction_id, profile_id, profile_version, device_id, user_id, der, issued_at, revoked_at, revocation_reason, renewal_of, issuer_id) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  const enrSql = 'insert into enrollments (transaction_id, status, kind, challenge_id, profile_id, profile_version, device_id, user_id, csr_sha256, csr_der, resolved, certificate_serial, created_at, updated_at, renewal_of) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
  const delSql = "insert or ignore into delivery_status (device_id, profile_id, profile_version, state, thumbprint, certificate_serial, error_code, detail, updated_at) values (?, ?, ?, 'installed', ?, ?, null, null, ?)";
  const certStmt = db.prepare(certSql);
  const enrStmt = db.prepare(enrSql);
  const delStmt = db.prepare(delSql);
  let revoked = 0;
  let deliveries = 0;
  const CHUNK = 10_000;
  for (let start = 0; start < nCerts; start += CHUNK) {
    db.transaction(() => {
      for (let i = start; i < Math.min(nCerts, start + CHUNK); i++) {
        const d = Math.floor(i / counts.certificatesPerDevice);
        const identity = i % counts.certificatesPerDevice === 0;
        const p = profiles[(d + i) % profiles.length]!;
        const issued = now - Math.floor(r() * 700 * DAY);
        const expired = r() < 0.1;
        const notAfter = expired ? now - Math.floor(r() * 30 * DAY) : issued + 365 * DAY + 30 * DAY;
        const s = serial();
        const tx = hex(16);
        const rev = r() < 0.08 ? { at: new Date(issued + Math.floor(r() * 100 * DAY)).toISOString(), reason: REVOCATION_REASONS[i % REVOCATION_REASONS.length]! } : null;
        if (rev) revoked++;
        const thumb = hex(20);
        const issuedAt = new Date(issued).toISOString();
        certStmt.run(s, identity ? 'identity' : 'profile', `CN=scale-device-${d},OU=${identity ? 'Devices' : `P${p.id.slice(0, 4)}`},O=Scale`, new Date(issued - 300_000).toISOString(), new Date(notAfter).toISOString(), thumb, hex(32), tx,
          identity ? null : p.id, identity ? null : p.version, deviceIds[d], userIds[d % counts.users], der, issuedAt, rev?.at ?? null, rev?.reason ?? null, null, issuerId);
        enrStmt.run(tx, 'issued', identity ? 'identity' : 'profile', identity ? null : hex(16), identity ? null : p.id, identity ? null : p.version, deviceIds[d], userIds[d % counts.users], createHash('sha256').update(tx).digest('hex'), csrDer, null, s, issuedAt, issuedAt, null);
        if (!identity && !rev) deliveries += delStmt.run(deviceIds[d], p.id, p.version, thumb, s, issuedAt).changes;
      }
    })();
    if ((start / CHUNK) % 5 === 0) log(`seeded ${start + CHUNK} of ${nCerts} certificates`);
  }
  out.certificates = nCerts;
  out.enrollments = nCerts;
  out.revoked = revoked;
  out.delivery_status = deliveries;
  // Refused enrollments (no certificate), as a store has them.
  batch('enrollments', Math.floor(nCerts / 50), (i) => { const at = ago(700); return [hex(16), 'rejected', 'profile', hex(16), profiles[i % profiles.length]!.id, 1, deviceIds[i % counts.devices], null, hex(32), csrDer, null, null, at, at, null]; }, enrSql);

  // Pending removals (some past their grace period: the next sweep revokes them), commands, challenges, tokens.
  const pendingSerials = db.prepare("select serial_number, device_id, profile_id from certificates where kind = 'profile' and revoked_at is null limit ?").all(Math.floor(counts.devices / 50)) as { serial_number: string; device_id: string; profile_id: string }[];
  batch('pending_removals', pendingSerials.length, (i) => [pendingSerials[i]!.serial_number, pendingSerials[i]!.device_id, pendingSerials[i]!.profile_id, i % 2 ? ago(0.5) : ago(5)], 'insert into pending_removals (serial_number, device_id, profile_id, since) values (?, ?, ?, ?)');
  const STATUSES = ['acknowledged', 'acknowledged', 'acknowledged', 'error', 'queued', 'sent', 'notnow'];
  batch('device_commands', Math.floor(counts.devices * 0.3), (i) => {
    const at = ago(60);
    return [randomUUID(), deviceIds[(i * 7) % counts.devices], 'mdm', 'InstallProfile', JSON.stringify({ profileId: profiles[i % profiles.length]!.id, payload: 'x'.repeat(200) }), profiles[i % profiles.length]!.id, 1, STATUSES[i % STATUSES.length], i % 7 < 4 ? JSON.stringify({ Status: 'Acknowledged' }) : null, at, at];
  }, 'insert into device_commands (id, device_id, channel, kind, payload, profile_id, profile_version, status, result, created_at, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  batch('used_challenges', Math.floor(counts.devices / 2), (i) => [hex(16), hex(16), ago(30), new Date(now + (i % 2 ? 1 : -1) * Math.floor(r() * 7 * DAY)).toISOString()], 'insert into used_challenges (id, transaction_id, used_at, expires_at) values (?, ?, ?, ?)');
  batch('enrollment_tokens', Math.floor(counts.devices / 10), (i) => { const at = ago(60); return [randomUUID(), hex(32), platformOf(i), userIds[i % counts.users], null, at, new Date(Date.parse(at) + 7 * DAY).toISOString(), i % 3 ? at : null]; },
    'insert into enrollment_tokens (id, token_sha256, platform, user_id, device_id, created_at, expires_at, used_at) values (?, ?, ?, ?, ?, ?, ?, ?)');

  // Audit: spread over the retention window (90 days by default), oldest first as appended.
  const auditStart = now - 89 * DAY;
  const step = (89 * DAY) / counts.auditRows;
  batch('audit_events', counts.auditRows, (i) => [new Date(auditStart + Math.floor(i * step)).toISOString(), i % 3 ? hex(16) : null, AUDIT_TYPES[i % AUDIT_TYPES.length], i % 8 === 1 ? 'CHALLENGE_EXPIRED' : null, i % 4 ? `device:${deviceIds[i % counts.devices]}` : 'admin',
    JSON.stringify({ deviceId: deviceIds[i % counts.devices], profileId: profiles[i % profiles.length]!.id, serialNumber: hex(16) })],
    'insert into audit_events (at, transaction_id, type, reason_code, actor, details) values (?, ?, ?, ?, ?, ?)');
  log(`seeded ${counts.auditRows} audit rows`);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const { size } = statSync(file);
  return { counts: out, seconds: Math.round((Date.now() - t0) / 1000), fileMiB: Math.round(size / 1048576) };
}

