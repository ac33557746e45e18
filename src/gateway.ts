import { prepareDeliveries } from './core/delivery.js';
import { assignedProfiles } from './core/assignments.js';
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
import { instanceCoordination, type InstanceCoordination } from './core/instance-coordination.js';
import { sharedDeviceLock } from './core/device-lock.js';
import { startHousekeeping } from './core/housekeeping.js';
import { removalTracker, type Removals } from './core/removals.js';
import { retirementTracker, type Retirement } from './core/retirement.js';
import { lifecycleRoutes } from './http/admin/lifecycle.js';
import { AuditLog } from './core/audit-log.js';
import { withRequestSource } from './core/request-source.js';
import { enrollmentTokenRoutes } from './http/admin/enrollment-tokens.js';
import { loadOrCreateChallengeKey } from './core/challenge/signing-key.js';
import { ChallengeMinter } from './core/challenge/minter.js';
import { CertificateRegistrationPoint } from './core/crp/index.js';
import { EnrollmentService } from './core/enrollment.js';
import { openStorage, resolveDatabaseUrl, sqliteFileOf } from './core/storage/index.js';
import { secureDataDirectory, sqliteFiles } from './data-dir.js';
import type { Storage } from './core/storage/storage.js';
import type { Config } from './config.js';
import { bearerAuth } from './http/admin/auth.js';
import { directoryRoutes } from './http/admin/directory.js';
import { enrollmentRoutes } from './http/admin/enrollment.js';
import { profileRoutes } from './http/admin/profiles.js';
import { revocationRoutes } from './http/admin/revocation.js';
import { certificateReportRoutes } from './http/admin/certificate-reports.js';
import { createDeviceAuthenticator } from './http/device-identity.js';
import { errorHandler } from './http/errors.js';
import { caScepUrl, scepRoutes } from './http/scep-routes.js';
import { ocspRoutes } from './http/ocsp-routes.js';
import { OcspResponder } from './ca/ocsp/responder.js';
import { markAdminSurface, separateListeners } from './http/admin-listener.js';
import { GatewayHealth } from './gateway-health.js';
import { healthReportRoutes, readinessRoutes } from './http/health-routes.js';
import type { Logger } from './log.js';
import { CertificateAuthority } from './ca/authority.js';
import { type Authorities } from './ca/authorities.js';
import { liveAuthorities } from './ca/live-authorities.js';
import { RaKeeper } from './ca/ra-renewal.js';
import { caKeyMismatch, CaKeyFileError, describeKeyType, keyTypeOfCertificate } from './ca/key-files.js';
import { awaitingImport, awaitingImportMessage, DEFAULT_CA_NAME, loadCaChain } from './ca/ca-setup.js';
import { CaRegistry, loadNamedCas, localEntry, registryIssuer, trustForProfile } from './ca/registry.js';
import { authoritiesOf } from './ca/authorities.js';
import { openCaKeys, type CaKeys } from './ca/pkcs11/ca-keys.js';
import { TokenRaKeeper } from './ca/pkcs11/token-ca.js';
import { tokenResponderKeysFor } from './ca/pkcs11/token-responder-keys.js';
import { loadUpstreams } from './ca/upstream/upstream-config.js';
import { upstreamRoutingIssuer } from './ca/upstream/routed-issuer.js';
import { UPSTREAM_CHAIN_CHECKIN_WAIT_MS, UpstreamChainKeeper } from './ca/upstream/chain-keeper.js';
import { UpstreamPoller } from './core/upstream-poller.js';
import type { UpstreamConnector } from './core/issuer.js';
import { CrlPublisher } from './ca/crl-publisher.js';
import { publicationFor, publicationUrls } from './ca/publication.js';
import { pkiRoutes } from './http/pki-routes.js';
import { loadOrCreateProfileSigner } from './ca/profile-signer.js';
import { parseCsr } from './x509/csr-parser.js';
import type { KeyedCertificate } from './x509/keys.js';
import { ScepService } from './scep/service.js';
import { toPem } from './pem.js';
import { GatewayMetrics } from './metrics/gateway-metrics.js';
import { observedStorage } from './metrics/observed-storage.js';
import { planGeneration } from './core/plan-generation.js';
import { CrpReadCache } from './core/crp/read-cache.js';
import { httpMetrics } from './metrics/http-metrics.js';
import { metricsRoute } from './metrics/route.js';
import { consoleRoutes } from './console/routes.js';
import { enrollmentListingRoutes } from './http/admin/enrollment-listing.js';
import { apiDoc } from './http/admin/api-doc.js';
import { openApiRoute } from './http/admin/openapi.js';
import { LdapDirectorySync, startLdapSyncSchedule } from './core/directory/ldap-sync.js';
import { directoryLdapRoutes } from './http/admin/directory-ldap.js';
import { fastAnswers, firstOf, type FastAnswers } from './http/fast-answers.js';
import { fastOcsp } from './http/fast-ocsp.js';
import { fastPkiOperation } from './http/fast-pki-operation.js';
import { fastCheckins } from './http/fast-checkins.js';
import { FAILURE_REFILL_MS, FAILURE_SOURCES, FailureBudget, InFlightLimit, type ScepAdmission } from './core/admission.js';

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
  /** The CAs profiles name as their issuer (`default` is `authorities.current`; ca/registry.ts). */
  registry: CaRegistry;
  /** Each CA's current signed CRL (GET /pki/crl/<caId>.crl, SCEP GetCRL). */
  crls: CrlPublisher;
  /** The OCSP responder at /ocsp (a delegated responder certificate per CA). */
  ocsp: OcspResponder;
  rootPem: string;
  /** Every root in `authorities.all` (current first), PEM: what devices trust during a CA rollover. */
  rootsPem: string;
  /** Renews the SCEP RA while the gateway runs (ca/ra-renewal.ts; ca/pkcs11/token-ca.ts when its key is in a PKCS#11 token). */
  raKeeper: RaKeeper | TokenRaKeeper;
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
  /** Prometheus metrics (served at /metrics behind the admin token). */
  metrics: GatewayMetrics;
  /** Readiness (/readyz) and the health report (/api/v1/health). */
  health: GatewayHealth;
  /** Pending removals of profiles that no longer reach a device (core/removals.ts); `sweep(now)` is housekeeping's. */
  removals: Removals;
  /** Retiring devices (core/retirement.ts); `sweep(now)` is housekeeping's. */
  retirement: Retirement;
  /** This instance among several on one database: its lease holder id, the shared key store's mirror (docs/scale-out.md). */
  instance: InstanceCoordination;
  /** Directory sync from LDAP / Active Directory (docs/directory.md); `schedule.tick()` runs a due sync now. */
  directorySync: LdapDirectorySync;
  directorySyncSchedule: ReturnType<typeof startLdapSyncSchedule>;
  /** Upstream CAs by name (MDMGW_UPSTREAM_CAS), empty when none are configured. */
  upstreams: ReadonlyMap<string, UpstreamConnector>;
  /** Settles enrollments an upstream CA answered PENDING; `runOnce()` for tests and operators. */
  upstreamPoller: UpstreamPoller;
  /** Each upstream CA's chain (fetched, cached in DATA/upstream-chains/, registered in `registry`); `started` is the start's fetch. */
  upstreamChains: UpstreamChainKeeper & { started: Promise<void> };
  /** /healthz, GetCACaps and GetCACert answered in front of `app` (http/fast-answers.ts); server.ts calls it first. */
  fastAnswers: FastAnswers;
  /** SCEP overload limits (core/admission.ts): enrollments in flight, failure budget per source. */
  scepAdmission: ScepAdmission;
  close(): Promise<void>;
}

export const SCEP_PATH = '/certsrv/mscep/mscep.dll';

/** `now`: the gateway's clock (CA notBefore, challenge and token expiry, CRP checks, device authentication, adapters' default); tests move it. */
export interface GatewayOptions {
  now?: () => Date;
}

export async function createGateway(config: Config, log: Logger, adapters: PlatformAdapter[] = [], options: GatewayOptions = {}): Promise<Gateway> {
  const now = options.now ?? (() => new Date());
  // Upstream CAs (docs/upstream-ca.md) are checked before anything is created: a bad file leaves no keys or database behind.
  let upstreamSigner: (() => Promise<KeyedCertificate>) | null = null;
  const upstreams: ReadonlyMap<string, UpstreamConnector> = config.upstreamCas
    ? await loadUpstreams(config.upstreamCas, async () => {
        if (!upstreamSigner) throw new Error('the SCEP RA is not loaded yet');
        return upstreamSigner();
      })
    : new Map();
  // Private before anything is read from it or written to it (security issue #15, S6).
  await secureDataDirectory(config.dataDir);
  // A subordinate CA whose certificate was not imported yet: say what to do (before anything is created) rather than fail on the missing ca.pem.
  if (await awaitingImport(config.dataDir)) throw new CaKeyFileError(awaitingImportMessage(config.dataDir, DEFAULT_CA_NAME));
  const database = await openStorage(config.databaseUrl, config.dataDir, { cacheMiB: config.sqliteCacheMiB });
  const metrics = new GatewayMetrics(database);
  // Everyone gets the observed storage: audit records and spent challenges move the counters.
  // ... and every write that may change a device's plan bumps the plan generation (cheap check-ins, core/plan-generation.ts).
  const generation = planGeneration(observedStorage(database, metrics), log);
  const storage = generation.storage;
  // With the keys in the database, this start loads and creates keys under the
  // key lease: instances starting together end up with one CA (core/keys/).
  const instance = instanceCoordination(config, storage, log);
  let caKeys: CaKeys | null = null;
  try {
    await instance.keys?.begin();
    // Key files, or (keys.json) keys in a PKCS#11 token: docs/hsm.md. The retired CAs' keys are where the CA's are.
    caKeys = await openCaKeys(config.dataDir, config, { passphrase: config.caPassphrase, organization: config.organization, now, caKey: config.caKey });
    const retired = caKeys.retired;
    const ca = caKeys.material;
    if (caKeys.token) log.info({ pkcs11: caKeys.token.name }, 'CA and SCEP RA keys are in the PKCS#11 token');
    if (ca.created) log.info({ dataDir: config.dataDir, caKey: describeKeyType(keyTypeOfCertificate(ca.root.certificate)) }, 'generated a new CA and SCEP RA certificate');
    const caKeyNote = caKeyMismatch(config.caKey, ca.root.certificate);
    if (caKeyNote) log.warn({ dataDir: config.dataDir }, caKeyNote);
    const challengeKey = await loadOrCreateChallengeKey(config.dataDir);
    const { token: adminToken, file: adminTokenFile } = await adminTokenFor(config, log);

    const publication = publicationFor(config.publicUrl, { crlUrl: config.crlUrl, ocspUrl: config.ocspUrl });
    const authority = new CertificateAuthority(ca.root, { publication, now });
    const retiredCas = retired.map((r) => new CertificateAuthority(r, { now }));
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
    // The CA registry: `default` (with the chain above it for a subordinate CA) and every cas/<name>/.
    const registry = new CaRegistry(localEntry(DEFAULT_CA_NAME, authority, await loadCaChain(config.dataDir, ca.root.certificate)));
    for (const entry of await loadNamedCas(config.dataDir, { publication, now, passphrase: config.caPassphrase })) registry.register(entry);
    // CRLs, OCSP and /pki answer for the named CAs too; `authorities` stays the default CA's rollover history.
    const published = registry.namedAuthorities().length > 0 ? authoritiesOf([...authorities.all, ...registry.namedAuthorities()]) : authorities;
    const crls = new CrlPublisher({ source: storage, authorities: published, validityHours: config.crlValidityHours });
    warnAboutHttpsRevocationUrls(publicationUrls(publication, authority.id), log);
    // What devices trust: the default CA's root (the enterprise root for a subordinate CA), then the retired CAs in use.
    const rootsPem = [registry.get(DEFAULT_CA_NAME)!.trustedRoot, ...authorities.all.slice(1).map((a) => a.certificate)].map((der) => toPem(der)).join('');
    const onRaEvent = (event: string, fields: Record<string, unknown>) => (event.endsWith('failed') || event.endsWith('blocked') ? log.warn({ event, ...fields }, 'SCEP RA renewal') : log.info({ event, ...fields }, 'SCEP RA renewal'));
    const raKeeper = caKeys.token ? new TokenRaKeeper({ dataDir: config.dataDir, root: ca.root, organization: config.organization, now, onEvent: onRaEvent }, ca.ra) : new RaKeeper(
      {
        dataDir: config.dataDir,
        root: ca.root,
        retiredCaCertificates: retired.map((r) => r.certificate),
        passphrase: config.caPassphrase,
        organization: config.organization,
        ...(instance.keys ? { exclusive: instance.keys.exclusive.bind(instance.keys) } : {}),
        onEvent: onRaEvent,
      },
      { ra: ca.ra, previousRa: ca.previousRa, nextRa: ca.nextRa },
    );
    // The profile's `issuer` picks the CA; identities and profiles naming none get the default CA (builtInIssuer of authorities.current).
    // The version the challenge was minted for: its issuer is the one the device was given the root of.
    const issuer = registryIssuer(registry, async (profileId, version) => (await storage.getProfile(profileId, version ?? undefined))?.issuer ?? null);
    const policy = new CertificateRegistrationPoint({ storage, challengePublicKey: challengeKey.publicKey, clock: now, readCache: new CrpReadCache(generation.epoch) });
    const auditLog = new AuditLog(storage, log);
    // Upstream CAs (docs/upstream-ca.md): a profile naming one has its approved requests forwarded there; identities stay with the built-in CA.
    // The gateway's current SCEP RA signs what it forwards to a SCEP upstream.
    upstreamSigner = async () => (await raKeeper.keys()).ra;
    for (const name of upstreams.keys()) {
      if (registry.has(name)) throw new CaKeyFileError(`MDMGW_UPSTREAM_CAS names "${name}", which is also a local CA (cas/${name}/): give the upstream another name`);
    }
    // Local CAs by the registry, upstream CAs by their connectors: a profile's issuer names one of either.
    const enrollmentIssuer = upstreams.size === 0 ? issuer : upstreamRoutingIssuer(issuer, upstreams, async (id, version) => (await storage.getProfile(id, version ?? undefined))?.issuer ?? null);
    const knownCas = { has: (name: string) => registry.has(name) || upstreams.has(name), names: () => [...new Set([...registry.names(), ...upstreams.keys()])] };
    // Each upstream's chain: the cached one now (payloads render with the upstream down), a fresh one in the background.
    const upstreamChains = new UpstreamChainKeeper({ upstreams, registry, dataDir: config.dataDir, log, now });
    await upstreamChains.loadCached();
    const enrollment = new EnrollmentService({ storage, policy, issuer: enrollmentIssuer, parseCsr, log, audit: auditLog });
    const upstreamPoller = new UpstreamPoller({ storage, enrollment, upstreams, log, maxPendingHours: 168, now });
    if (upstreams.size > 0) upstreamPoller.start(Math.min(...[...upstreams.values()].map((u) => u.pollSeconds)));
    const scep = new ScepService(
      raKeeper,
      ca.root,
      enrollment,
      { step: (transactionId, message, fields) => log.info({ transactionId, ...fields }, message) },
      retired.map((r) => r.certificate),
      async ({ issuer, serialNumber }) => (await crls.forIssuerAndSerial(issuer, serialNumber))?.der ?? null,
      (name) => {
        // An upstream whose chain is not known yet is not "any name means the default CA": 503 with the reason, and it is fetched now.
        if (name !== null && upstreams.has(name) && !registry.has(name)) {
          void upstreamChains.ensure([name]);
          return { unavailable: upstreamChains.missingReason(name) ?? `the chain of upstream CA "${name}" is not known yet` };
        }
        return registry.chainForGetCaCert(name);
      },
    );
    const scepUrl = `${config.publicUrl}${SCEP_PATH}`;
    // Graceful overload (issue 13): bounded enrollments in flight, a failure budget per source.
    const scepAdmission: ScepAdmission = {
      inFlight: new InFlightLimit(config.maxEnrollmentsInFlight),
      failures: new FailureBudget({ budget: config.scepFailureBudget, refillMs: FAILURE_REFILL_MS, maxSources: FAILURE_SOURCES }, () => now().getTime()),
    };
    const minter = new ChallengeMinter(storage, challengeKey.privateKey, config.challengeTtlSeconds, (kind) => metrics.challengeMinted(kind), now);
    const rootPem = toPem(ca.root.certificate);
    // Identity certificates of a retired CA keep working until they are re-issued under the new one.
    // Retiring devices: identity revoked once their platform confirms the removals, or when the grace ends.
    const retirement = retirementTracker({ storage, graceMs: config.removalGraceHours * 3_600_000, log });
    const auth = createDeviceAuthenticator({ storage, caCertificate: ca.root.certificate, retiredCaCertificates: authorities.all.slice(1).map((a) => a.certificate), clientCertHeader: config.clientCertHeader, log, now, retirementGraceEnded: retirement.graceEnded });

    const tokens = new EnrollmentTokens(storage, now);
    const ocsp = new OcspResponder({
      authorities: published,
      storage,
      dataDir: config.dataDir,
      passphrase: config.caPassphrase,
      organization: config.organization,
      validityMinutes: config.ocspValidityMinutes,
      log,
      // A CA whose key is in the token has its OCSP responder key there too (docs/hsm.md).
      keyStoreFor: tokenResponderKeysFor(caKeys, config.dataDir, log, now),
    });
    await ocsp.prepare();
    const removals = removalTracker({ storage, graceMs: config.removalGraceHours * 3_600_000, log });
    const profileSigner = await loadOrCreateProfileSigner(config.dataDir, authority, { passphrase: config.caPassphrase, organization: config.organization });
    const serviceDeps: AdapterServiceDeps = {
      storage,
      auditLog,
      log,
      publicUrl: config.publicUrl,
      scepUrl,
      // What devices install as the root: the enterprise root for a subordinate CA.
      caCertificate: registry.get(DEFAULT_CA_NAME)!.trustedRoot,
      currentCaId: authority.id,
      activeCaIds: new Set(registry.namedAuthorities().map((a) => a.id)),
      // Signed profiles carry the issuing CA and its intermediates too, so a device can build the path to the root.
      caChainCertificates: registry.get(DEFAULT_CA_NAME)!.chain,
      // During a CA rollover every payload carries every root (the current one first).
      caCertificatePem: rootsPem,
      // Every check-in also brings the device's pending removals up to date (and revokes those past their grace).
      // The assigned profiles are read once for both (issue 13); a challenge is counted when it is minted (when rendered).
      deliveriesFor: async (device, only) => {
        const assigned = await assignedProfiles(storage, device);
        await removals.reconcile(device, undefined, assigned);
        // An upstream whose chain is still missing is asked again now (throttled) rather than at the next hourly refresh.
        if (upstreams.size > 0) await upstreamChains.ensure(upstreams.keys(), UPSTREAM_CHAIN_CHECKIN_WAIT_MS);
        return prepareDeliveries(
          {
            storage,
            challengeKey: challengeKey.privateKey,
            ttlSeconds: config.challengeTtlSeconds,
            gatewayScepUrl: scepUrl,
            caCertificatePem: rootsPem,
            trustFor: trustForProfile(registry, rootsPem, (name) => caScepUrl(config.publicUrl, name), (name) => upstreamChains.missingReason(name)),
            now,
            onMint: () => metrics.challengeMinted('profile'),
          },
          device,
          only,
          assigned,
        );
      },
      removalConfirmed: (device, profileId) => removals.confirmRemoval(device, profileId),
      planGeneration: generation.current,
      retirement,
      minter,
      tokens,
      issuer,
      parseCsr,
      identityPolicy: policy,
      auth,
      profileSigner,
      secretBox: await loadOrCreateSecretBox(config.dataDir),
      deviceLock: sharedDeviceLock(storage, instance.holder),
      metrics,
      now,
    };

    // Again now that everything exists: files this start created (the database
    // and its -wal/-shm, new keys, certificates) get the same modes.
    const databaseFile = sqliteFileOf(resolveDatabaseUrl(config.databaseUrl, config.dataDir));
    const secured = await secureDataDirectory(config.dataDir, databaseFile === null ? [] : sqliteFiles(databaseFile));
    if (secured.skippedLinks.length > 0) log.warn({ links: secured.skippedLinks }, 'symbolic links in the data directory were left as they are; make their targets private');
    // Every key exists now: publish what this start created, let the next instance in.
    await instance.keys?.end();
    instance.keys?.startRefresh(async (changed) => {
      // Another instance renewed the RA: serve the same one.
      // (An RA key in a PKCS#11 token is not in the shared key store.)
      if (changed.some((n) => n.startsWith('ra.')) && raKeeper instanceof RaKeeper) await raKeeper.reload();
    });

    const app = express();
    app.disable('x-powered-by');
    app.set('trust proxy', false);
    app.use(httpMetrics(metrics));
    // The client address for code without the request (unauthenticated refusals are counted per source).
    app.use((req, _res, next) => withRequestSource(req.ip ?? req.socket.remoteAddress ?? 'unknown', next));
    app.get('/healthz', (_req, res) => {
      res.json({ status: 'ok' });
    });
    const health = new GatewayHealth({ storage, root: ca.root, ra: () => raKeeper.peek().ra, challengeKey, scepUrl, adapters: () => mounted, log, directory: () => directorySync.health(), upstreams: () => [...upstreams.values()], upstreamChains: (name) => upstreamChains.state(name) });
    app.use(readinessRoutes(health));
    // With --admin-listen, the admin API answers only on the admin listener (http/admin-listener.ts).
    app.use('/api/v1', markAdminSurface);
    app.use('/metrics', markAdminSurface);
    app.use('/console', markAdminSurface);
    app.use(separateListeners(config.adminListen !== undefined));
    app.use(scepRoutes(scep, log, scepAdmission));
    // Prometheus scrapes with the admin token too (`authorization: { credentials: <token> }`).
    app.get('/metrics', bearerAuth(adminToken), metricsRoute(metrics));
    app.use(pkiRoutes({ authorities: published, crls }));
    app.use(ocspRoutes(ocsp));
    // The admin console: static files only, its script calls /api/v1 with the token (docs/console.md).
    app.use('/console', consoleRoutes());
    app.use('/api/v1', bearerAuth(adminToken), express.json({ limit: '256kb' }));
    const mounted = adapters.map((adapter) => ({ adapter, services: adapterServices(serviceDeps, adapter) }));
    const devicesChanged = deviceChangeNotifier(mounted, log, async (devices) => {
      for (const d of devices) await removals.reconcile(d);
    });
    const directorySync = new LdapDirectorySync({ storage, box: serviceDeps.secretBox, log, devicesChanged, now });
    app.use(
      '/api/v1',
      directoryRoutes(storage, devicesChanged),
      profileRoutes(storage, devicesChanged, knownCas),
      enrollmentRoutes({ storage, minter, enrollment, scepUrl }),
      // Certificates an upstream CA issued are revoked here and reported: that CA must revoke them (docs/upstream-ca.md).
      revocationRoutes(storage, (issuerId) => issuerId === null || published.all.some((a) => a.id === issuerId)),
      certificateReportRoutes(storage),
      lifecycleRoutes(storage, devicesChanged, now),
      enrollmentTokenRoutes({ storage, tokens, adapters, publicUrl: config.publicUrl }),
      enrollmentListingRoutes(storage),
      directoryLdapRoutes(directorySync),
    );
    app.use('/api/v1', healthReportRoutes(health));
    app.get('/api/v1/ca', apiDoc({ tag: 'CA', summary: 'The CA and SCEP RA certificates (PEM), every CA still in use', responses: { 200: '{certificate, ra, scepUrl, authorities}' } }), (_req, res) => {
      const { ra } = raKeeper.peek();
      res.json({ certificate: rootPem, ra: toPem(ra.certificate), scepUrl, authorities: authorities.all.map((a, i) => ({ id: a.id, current: i === 0, notAfter: a.notAfter.toISOString(), certificate: toPem(a.certificate) })) });
    });
    // The OpenAPI document of every /api/v1 route, read from this app's routes on the first call (docs/api.md).
    app.get('/api/v1/openapi.json', apiDoc({ tag: 'API', summary: 'This OpenAPI 3.1 document', responses: { 200: 'the document' } }), openApiRoute(app));
    for (const { adapter, services } of mounted) {
      app.use(adapter.routes(services));
      if (adapter.adminRoutes) app.use('/api/v1', adapter.adminRoutes(services));
    }
    app.use('/api/v1', (_req, res) => {
      res.status(404).json({ error: 'no such API endpoint' });
    });
    app.use(errorHandler(log));

    const housekeeping = startHousekeeping(storage, log, { auditRetentionDays: config.auditRetentionDays, sweepRemovals: (now) => removals.sweep(now), sweepRetirements: (now) => retirement.sweep(now), now, runsHere: instance.runsHousekeeping });
    auditLog.start();
    // One instance syncs at a time: the lease outlives a slow sync (15 min) and is given up after it.
    const directorySyncSchedule = startLdapSyncSchedule(directorySync, log, {
      wrap: async (run) => {
        if (!(await storage.tryLease('directory-sync', instance.holder, 15 * 60_000, now().toISOString()))) return;
        try {
          await run();
        } finally {
          await storage.releaseLease('directory-sync', instance.holder);
        }
      },
    });
    const upstreamChainsStarted = upstreams.size > 0 ? upstreamChains.start() : Promise.resolve();
    return {
      config,
      log,
      storage,
      root: ca.root,
      get ra() {
        return raKeeper.peek().ra;
      },
      authorities,
      registry,
      crls,
      ocsp,
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
      metrics,
      health,
      removals,
      retirement,
      instance,
      directorySync,
      directorySyncSchedule,
      upstreams,
      upstreamPoller,
      upstreamChains: Object.assign(upstreamChains, { started: upstreamChainsStarted }),
      scepAdmission,
      fastAnswers: firstOf(
        fastAnswers(scep, { answered: (route, status) => metrics.httpRequests.inc({ method: 'GET', route, status: String(status) }) }),
        fastOcsp(ocsp, (method, route, status) => metrics.httpRequests.inc({ method, route, status: String(status) })),
        fastPkiOperation({
          scep,
          log,
          admission: scepAdmission,
          observe: (route, status, seconds) => {
            metrics.httpDuration.observe({ method: 'POST', route }, seconds);
            metrics.httpRequests.inc({ method: 'POST', route, status: String(status) });
          },
        }),
        // Check-ins with a kept answer (Android policy fetch, Apple Idle); anything else goes on to `app`.
        fastCheckins(
          mounted.flatMap(({ adapter, services }) => (adapter.fastCheckins?.(services) ?? []).map((checkin) => ({ adapter: adapter.name, checkin }))),
          {
            fallThrough: app,
            log,
            observe: (method, route, status, seconds) => {
              metrics.httpDuration.observe({ method, route }, seconds);
              metrics.httpRequests.inc({ method, route, status: String(status) });
            },
            checkedIn: (adapter) => metrics.checkIn(adapter, 'ok'),
          },
        ),
      ),
      close: async () => {
        health.markClosing();
        housekeeping.stop();
        instance.keys?.stop();
        await directorySyncSchedule.stop();
        await upstreamPoller.stop();
        await upstreamChains.stop();
        await devicesChanged.idle();
        await auditLog.stop();
        await storage.close();
        caKeys?.close();
      },
    };
  } catch (e) {
    await instance.keys?.abandon();
    await storage.close();
    caKeys?.close();
    throw e;
  }
}

/**
 * Relying parties fetch CRLs and ask OCSP over plain HTTP (RFC 5280 4.2.1.13,
 * RFC 6960 A.1): over https they would need revocation status for the
 * server's own certificate first, a loop many clients do not attempt.
 */
function warnAboutHttpsRevocationUrls(urls: { crl: string; ocsp: string }, log: Logger): void {
  for (const [name, url] of [['MDMGW_CRL_URL', urls.crl], ['MDMGW_OCSP_URL', urls.ocsp]] as const) {
    if (url.startsWith('https:')) log.warn({ url, setting: name }, 'certificates will name an https revocation URL; relying parties expect plain http (see docs/revocation.md)');
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
