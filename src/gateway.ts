import { prepareDeliveries } from './core/delivery.js';
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, chmod } from 'node:fs/promises';
import path from 'node:path';
import express, { type Express } from 'express';
import type { PlatformAdapter } from './core/adapter.js';
import { adapterServices, type AdapterServiceDeps } from './adapter-services.js';
import { EnrollmentTokens } from './core/enrollment-tokens.js';
import { deviceChangeNotifier } from './core/device-changes.js';
import { loadOrCreateSecretBox } from './core/secret-box.js';
import { startHousekeeping } from './core/housekeeping.js';
import { AuditLog } from './core/audit-log.js';
import { withRequestSource } from './core/request-source.js';
import { enrollmentTokenRoutes } from './http/admin/enrollment-tokens.js';
import { loadOrCreateChallengeKey } from './core/challenge/signing-key.js';
import { ChallengeMinter } from './core/challenge/minter.js';
import { CertificateRegistrationPoint } from './core/crp/index.js';
import { EnrollmentService } from './core/enrollment.js';
import { openStorage, resolveDatabaseUrl } from './core/storage/index.js';
import { secureDataDirectory, sqliteFiles } from './data-dir.js';
import type { Storage } from './core/storage/storage.js';
import type { Config } from './config.js';
import { bearerAuth } from './http/admin/auth.js';
import { directoryRoutes } from './http/admin/directory.js';
import { enrollmentRoutes } from './http/admin/enrollment.js';
import { profileRoutes } from './http/admin/profiles.js';
import { revocationRoutes } from './http/admin/revocation.js';
import { createDeviceAuthenticator } from './http/device-identity.js';
import { errorHandler } from './http/errors.js';
import { scepRoutes } from './http/scep-routes.js';
import type { Logger } from './log.js';
import { CertificateAuthority } from './ca/authority.js';
import { type Authorities } from './ca/authorities.js';
import { liveAuthorities } from './ca/live-authorities.js';
import { loadRetiredCas } from './ca/ca-rollover.js';
import { RaKeeper } from './ca/ra-renewal.js';
import { builtInIssuer } from './ca/issuer.js';
import { loadOrCreateCaMaterial } from './ca/key-files.js';
import { loadOrCreateProfileSigner } from './ca/profile-signer.js';
import { parseCsr } from './x509/csr-parser.js';
import type { KeyedCertificate } from './x509/keys.js';
import { ScepService } from './scep/service.js';
import { toPem } from './pem.js';

// The composition root: builds every part from the configuration and wires
// them together. Nothing else constructs services, so tests build a gateway
// exactly the way `mdmgw serve` does.

export interface Gateway {
  config: Config;
  log: Logger;
  storage: Storage;
  root: KeyedCertificate;
  ra: KeyedCertificate;
  /** Every CA: the current one issues; CRL and OCSP answer for all of them. */
  authorities: Authorities;
  rootPem: string;
  /** Every root in `authorities.all` (current first), PEM: what devices trust during a CA rollover. */
  rootsPem: string;
  /** Renews the SCEP RA while the gateway runs (ca/ra-renewal.ts). */
  raKeeper: RaKeeper;
  adminToken: string;
  adminTokenFile: string | null;
  scepUrl: string;
  enrollment: EnrollmentService;
  minter: ChallengeMinter;
  scep: ScepService;
  app: Express;
  /** Adapters hear about admin changes through this; `idle()` waits for those in flight. */
  devicesChanged: ReturnType<typeof deviceChangeNotifier>;
  /** Hourly upkeep (used challenges past their expiry, audit past retention, old command history); `runNow()` for tests and operators. */
  housekeeping: ReturnType<typeof startHousekeeping>;
  /** Audit records from core and adapters; unauthenticated refusals are rate-limited per source. */
  auditLog: AuditLog;
  close(): Promise<void>;
}

export const SCEP_PATH = '/certsrv/mscep/mscep.dll';

export async function createGateway(config: Config, log: Logger, adapters: PlatformAdapter[] = []): Promise<Gateway> {
  // Private before anything is read from it or written to it (security issue #15, S6).
  await secureDataDirectory(config.dataDir);
  const storage = await openStorage(config.databaseUrl, config.dataDir);
  try {
    const retired = await loadRetiredCas(config.dataDir, config.caPassphrase);
    const ca = await loadOrCreateCaMaterial(config.dataDir, { passphrase: config.caPassphrase, organization: config.organization, retiredCaCertificates: retired.map((r) => r.certificate) });
    if (ca.created) log.info({ dataDir: config.dataDir }, 'generated a new CA and SCEP RA certificate');
    const challengeKey = await loadOrCreateChallengeKey(config.dataDir);
    const { token: adminToken, file: adminTokenFile } = await adminTokenFor(config, log);

    const authority = new CertificateAuthority(ca.root);
    const retiredCas = retired.map((r) => new CertificateAuthority(r));
    // Certificates recorded before issuers were (migration 0005) were all signed by the only CA there was: the oldest.
    const original = retiredCas.at(-1) ?? authority;
    const legacy = await storage.assignLegacyIssuer(original.id);
    if (legacy > 0) log.info({ certificates: legacy, issuerId: original.id }, 'recorded the issuing CA of existing certificates');
    const authorities = await liveAuthorities(authority, retiredCas, storage);
    if (retiredCas.length > 0) {
      const live = authorities.all.slice(1).map((a) => a.id);
      // Dropped: nothing they signed is unexpired (or they expired); their files stay in ca-retired/.
      log.info({ current: authority.id, retired: live, dropped: retiredCas.map((a) => a.id).filter((id) => !live.includes(id)) }, 'CA rollover: retired CAs in use and dropped');
    }
    const rootsPem = authorities.all.map((a) => toPem(a.certificate)).join('');
    const raKeeper = new RaKeeper(
      {
        dataDir: config.dataDir,
        root: ca.root,
        retiredCaCertificates: retired.map((r) => r.certificate),
        passphrase: config.caPassphrase,
        organization: config.organization,
        onEvent: (event, fields) => (event.endsWith('failed') || event.endsWith('blocked') ? log.warn({ event, ...fields }, 'SCEP RA renewal') : log.info({ event, ...fields }, 'SCEP RA renewal')),
      },
      { ra: ca.ra, previousRa: ca.previousRa, nextRa: ca.nextRa },
    );
    const issuer = builtInIssuer(authorities.current);
    const policy = new CertificateRegistrationPoint({ storage, challengePublicKey: challengeKey.publicKey });
    const auditLog = new AuditLog(storage, log);
    const enrollment = new EnrollmentService({ storage, policy, issuer, parseCsr, log, audit: auditLog });
    const scep = new ScepService(
      raKeeper,
      ca.root,
      enrollment,
      { step: (transactionId, message, fields) => log.info({ transactionId, ...fields }, message) },
      retired.map((r) => r.certificate),
    );
    const scepUrl = `${config.publicUrl}${SCEP_PATH}`;
    const minter = new ChallengeMinter(storage, challengeKey.privateKey, config.challengeTtlSeconds);
    const rootPem = toPem(ca.root.certificate);
    // Identity certificates of a retired CA keep working until they are re-issued under the new one.
    const auth = createDeviceAuthenticator({ storage, caCertificate: ca.root.certificate, retiredCaCertificates: authorities.all.slice(1).map((a) => a.certificate), clientCertHeader: config.clientCertHeader, log });

    const tokens = new EnrollmentTokens(storage);
    const profileSigner = await loadOrCreateProfileSigner(config.dataDir, authority, { passphrase: config.caPassphrase, organization: config.organization });
    const serviceDeps: AdapterServiceDeps = {
      storage,
      auditLog,
      log,
      publicUrl: config.publicUrl,
      scepUrl,
      caCertificate: ca.root.certificate,
      // During a CA rollover every payload carries every root (the current one first).
      caCertificatePem: rootsPem,
      deliveriesFor: (device, only) =>
        prepareDeliveries(
          { storage, challengeKey: challengeKey.privateKey, ttlSeconds: config.challengeTtlSeconds, gatewayScepUrl: scepUrl, caCertificatePem: rootsPem },
          device,
          only,
        ),
      minter,
      tokens,
      issuer,
      parseCsr,
      identityPolicy: policy,
      auth,
      profileSigner,
      secretBox: await loadOrCreateSecretBox(config.dataDir),
    };

    // Again now that everything exists: files this start created (the database
    // and its -wal/-shm, new keys, certificates) get the same modes.
    const database = resolveDatabaseUrl(config.databaseUrl, config.dataDir).file;
    const secured = await secureDataDirectory(config.dataDir, database === ':memory:' ? [] : sqliteFiles(database));
    if (secured.skippedLinks.length > 0) log.warn({ links: secured.skippedLinks }, 'symbolic links in the data directory were left as they are; make their targets private');

    const app = express();
    app.disable('x-powered-by');
    app.set('trust proxy', false);
    // The client address for code without the request (unauthenticated refusals are counted per source).
    app.use((req, _res, next) => withRequestSource(req.ip ?? req.socket.remoteAddress ?? 'unknown', next));
    app.get('/healthz', (_req, res) => {
      res.json({ status: 'ok' });
    });
    app.use(scepRoutes(scep, log));
    app.use('/api/v1', bearerAuth(adminToken), express.json({ limit: '256kb' }));
    const mounted = adapters.map((adapter) => ({ adapter, services: adapterServices(serviceDeps, adapter) }));
    const devicesChanged = deviceChangeNotifier(mounted, log);
    app.use(
      '/api/v1',
      directoryRoutes(storage, devicesChanged),
      profileRoutes(storage, devicesChanged),
      enrollmentRoutes({ storage, minter, enrollment, scepUrl }),
      revocationRoutes(storage),
      enrollmentTokenRoutes({ storage, tokens, adapters, publicUrl: config.publicUrl }),
    );
    app.get('/api/v1/ca', (_req, res) => {
      const { ra } = raKeeper.peek();
      res.json({ certificate: rootPem, ra: toPem(ra.certificate), scepUrl, authorities: authorities.all.map((a, i) => ({ id: a.id, current: i === 0, notAfter: a.notAfter.toISOString(), certificate: toPem(a.certificate) })) });
    });
    for (const { adapter, services } of mounted) {
      app.use(adapter.routes(services));
      if (adapter.adminRoutes) app.use('/api/v1', adapter.adminRoutes(services));
    }
    app.use('/api/v1', (_req, res) => {
      res.status(404).json({ error: 'no such API endpoint' });
    });
    app.use(errorHandler(log));

    const housekeeping = startHousekeeping(storage, log, { auditRetentionDays: config.auditRetentionDays });
    auditLog.start();
    return {
      config,
      log,
      storage,
      root: ca.root,
      get ra() {
        return raKeeper.peek().ra;
      },
      authorities,
      rootPem,
      rootsPem,
      raKeeper,
      adminToken,
      adminTokenFile,
      scepUrl,
      enrollment,
      minter,
      scep,
      app,
      devicesChanged,
      housekeeping,
      auditLog,
      close: async () => {
        housekeeping.stop();
        await devicesChanged.idle();
        await auditLog.stop();
        await storage.close();
      },
    };
  } catch (e) {
    await storage.close();
    throw e;
  }
}

/** MDMGW_ADMIN_TOKEN, or the token in DATA/admin-token, or a new one written there (0600). */
async function adminTokenFor(config: Config, log: Logger): Promise<{ token: string; file: string | null }> {
  if (config.adminToken) return { token: config.adminToken, file: null };
  const file = path.join(config.dataDir, 'admin-token');
  try {
    const token = (await readFile(file, 'utf8')).trim();
    if (token.length >= 16) return { token, file };
    log.warn({ file }, 'admin token file is too short; generating a new token');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return { token, file };
}
