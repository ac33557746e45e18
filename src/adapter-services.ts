import { inProcessDeviceLock, type DeviceLock } from './core/device-lock.js';
import { randomUUID } from 'node:crypto';
import type { GatewayMetrics } from './metrics/gateway-metrics.js';
import { countCheckIns } from './metrics/check-ins.js';
import { redeemEnrollmentToken, type RedemptionDeps } from './core/token-redemption.js';
import type { AdapterServices, DeliveryReport, PlatformAdapter } from './core/adapter.js';
import type { ChallengeMinter } from './core/challenge/minter.js';
import type { CsrInfo } from './core/csr-info.js';
import { readDeliveryReports, recordDeliveryReport, recordDeliveryReports, settleDeliveryReports } from './core/delivery-reports.js';
import { recordUnenrollment } from './core/unenrollment.js';
import type { Device } from './core/model.js';
import type { EnrollmentTokens } from './core/enrollment-tokens.js';
import { issueIdentityCertificate, precheckIdentityCsr, renewIdentityCertificate } from './core/identity-issuance.js';
import type { IdentityPolicy } from './core/crp/index.js';
import { recordReportedValues } from './core/reported-values.js';
import type { CertificateIssuer } from './core/issuer.js';
import type { Storage } from './core/storage/storage.js';
import type { PlanGenerations } from './core/storage/plan-generation-store.js';
import { boundToPlatforms, type createDeviceAuthenticator } from './http/device-identity.js';
import type { Logger } from './log.js';
import { formatDn } from './x509/names.js';
import { verifyDetachedSignature } from './x509/detached-signature.js';
import { readSignedData, soleSigner, verifySigner, writeSignedData } from './scep/codec/signed-data.js';
import type { KeyedCertificate } from './x509/keys.js';
import type { SecretBox } from './core/secret-box.js';
import { adapterSecrets, adapterSettings } from './core/adapter-secrets.js';
import type { AuditLog } from './core/audit-log.js';
import type { Retirement } from './core/retirement.js';
import { caIdOf } from './ca/ca-rollover.js';

// Builds the AdapterServices each adapter is handed: wiring only. Each service
// is core's (token redemption, identity issuance, deliveries, reported values,
// secrets and settings) or the HTTP layer's (device authentication bound to
// the adapter's platforms), scoped to the adapter's name. No private key is in
// the bag: deliveries come prepared by the gateway, which holds the
// challenge-signing key, and signing goes through the profile signer.

export interface AdapterServiceDeps {
  storage: Storage;
  auditLog: AuditLog;
  log: Logger;
  publicUrl: string;
  scepUrl: string;
  caCertificate: Uint8Array;
  caCertificatePem: string;
  /** The id of the CA that issues now, when caCertificate is not that CA (a subordinate CA: caCertificate is the enterprise root). */
  currentCaId?: string;
  /** Ids of the named CAs profiles may pick (ca/registry.ts): not retired, so nothing they issued is re-issued as after a rollover. */
  activeCaIds?: ReadonlySet<string>;
  /** The issuing CA, its intermediates and root (ca/registry.ts CaEntry.chain): sent with signed profiles. */
  caChainCertificates?: readonly Uint8Array[];
  /** Prepares a device's deliveries (core/delivery.ts, bound by the gateway to the challenge-signing key, which no adapter sees). */
  deliveriesFor: AdapterServices['deliveriesFor'];
  minter: ChallengeMinter;
  tokens: EnrollmentTokens;
  issuer: CertificateIssuer;
  parseCsr: (der: Uint8Array) => Promise<CsrInfo>;
  /** The CRP: its IdentityReq row decides direct identity issuance and its pre-token dry run. */
  identityPolicy: IdentityPolicy;
  auth: ReturnType<typeof createDeviceAuthenticator>;
  profileSigner: KeyedCertificate;
  secretBox: SecretBox;
  /** The gateway's clock (AdapterServices.now); the system clock when absent. */
  now?: () => Date;
  /** One writer per device across instances (core/device-lock.ts); absent: within this process only. */
  deviceLock?: DeviceLock;
  /** Counts check-ins per adapter. */
  metrics: GatewayMetrics;
  /** A device reported a profile removed: its pending removals are revoked (core/removals.ts). */
  removalConfirmed?: (device: Device, profileId: string) => Promise<unknown>;
  /** Retiring devices: completed when the platform confirms the removals (core/retirement.ts). */
  retirement?: Retirement;
  /** The plan generation (core/plan-generation.ts); absent: a fresh value per call, so nothing is ever answered from a cached plan. */
  planGeneration?: (deviceId: string, read?: PlanGenerations) => Promise<string>;
}

/** The fallback for services built without a shared lock (tests, one process). */
const processDeviceLock = inProcessDeviceLock();

export { SECRET_KEY_PREFIX } from './core/adapter-secrets.js';


export function adapterServices(d: AdapterServiceDeps, adapter: Pick<PlatformAdapter, 'name' | 'platforms' | 'retirementConfirmedBy'>): AdapterServices {
  const { storage } = d;
  const clock = d.now ?? (() => new Date());
  // A retiring device of an adapter confirmed by its removals: retired once no profile is left on it.
  const retireIfRemoved = async (device: Device) => {
    if (!d.retirement || adapter.retirementConfirmedBy === 'unenrollment' || device.retiringSince === null) return;
    const current = await storage.getDevice(device.id);
    if (current) await d.retirement.completeIfRemoved(current, clock());
  };
  /** What a recorded `removed` report sets off once it is written: the pending removal confirmed, the retirement completed. */
  const afterReports = async (device: Device, reports: readonly DeliveryReport[]) => {
    for (const report of reports) {
      if (report.state === 'removed' && d.removalConfirmed) await d.removalConfirmed(device, report.profileId);
      if (report.state === 'removed') await retireIfRemoved(device);
    }
  };
  const devices: AdapterServices['devices'] = {
    get: (id) => storage.getDevice(id),
    create: async ({ platform, userId, reported }) => {
      const dev = await storage.createDevice({ name: null, platform, userId });
      return reported ? recordReportedValues(storage, dev, reported, `device:${dev.id}`) : dev;
    },
    // Only the fields the type allows: an adapter cannot reach the admin's name or serial even by accident.
    update: (id, { userId, attributes }) => storage.updateDevice(id, { userId, attributes }),
    report: (device, values) => recordReportedValues(storage, device, values, `device:${device.id}`),
  };
  const redemption: RedemptionDeps = {
    peek: (token, platform) => d.tokens.peek(token, platform),
    consume: (token, platform) => d.tokens.consume(token, platform),
    getDevice: devices.get,
    createDevice: devices.create,
    reportDevice: devices.report,
    getUser: (id) => storage.getUser(id),
  };
  return {
    log: d.log.child({ adapter: adapter.name }),
    publicUrl: d.publicUrl,
    scepUrl: d.scepUrl,
    caCertificate: d.caCertificate,
    caCertificatePem: d.caCertificatePem,
    currentCaId: d.currentCaId ?? caIdOf(d.caCertificate),
    ...(d.activeCaIds && { activeCaIds: d.activeCaIds }),
    now: d.now ?? (() => new Date()),
    authenticateDevice: countCheckIns(boundToPlatforms(d.auth.middleware, adapter.platforms), adapter.name, d.metrics),
    presentedDevice: async (req) => {
      // One verdict per request (http/device-identity.ts): authenticateDevice's, or the one reached here,
      // which authenticateDevice then reuses (a request the fast path hands to the route).
      const v = await d.auth.verdictFor(req); // null: none, or more than one: proves nothing
      if (!v?.result.ok) return null;
      const { device, planGenerations } = v.result;
      return { device, thumbprint: v.thumbprint, ...(planGenerations && { planGenerations }) };
    },
    verifyDeviceCertificate: async (der) => {
      const r = await d.auth.verify(der);
      if (!r.ok) return { ok: false, reason: r.reason, blocked: r.status === 403 };
      return { ok: true, device: r.device, ...(r.planGenerations && { planGenerations: r.planGenerations }) };
    },
    redeemEnrollmentToken: (token, o) => redeemEnrollmentToken(redemption, adapter.platforms, token, o),
    identityChallenge: async (device, o = {}) => {
      const m = await d.minter.forIdentity(device);
      if (!m.ok) throw new Error(m.message);
      // Spending this challenge records renewalOf (storage.recordEnrollment), so the identity it renews stays accepted until the new one is used.
      if (o.renewalOf) await storage.noteIdentityRenewalChallenge(m.id, o.renewalOf, m.expiresAt.toISOString());
      await storage.appendAudit({ transactionId: null, type: 'identity.challenge.minted', reasonCode: null, actor: `adapter:${adapter.name}`, details: { challengeId: m.id, deviceId: device.id, ...(o.renewalOf && { renewalOf: o.renewalOf }) } });
      return { challenge: m.token, scepUrl: d.scepUrl, subject: formatDn(m.resolved.subject), subjectRdns: m.resolved.subject, keySize: m.resolved.keySize, expiresAt: m.expiresAt };
    },
    precheckIdentityCsr: (csrDer) => precheckIdentityCsr(d, csrDer),
    issueIdentityCertificate: async (device, csrDer) => {
      const r = await issueIdentityCertificate(d, device, csrDer, `adapter:${adapter.name}`);
      if (!r.ok) return r;
      const c = r.certificate;
      return { ok: true, identity: { certificate: c.der, serialNumber: c.serialNumber, thumbprint: c.thumbprint, transactionId: r.transactionId } };
    },
    renewIdentityCertificate: async (device, csrDer, currentSerial) => {
      const current = await storage.getCertificate(currentSerial);
      if (!current) return { ok: false, refusal: { code: 'RENEWAL_SIGNER_UNKNOWN' } };
      const r = await renewIdentityCertificate(d, device, csrDer, current, `adapter:${adapter.name}`);
      if (!r.ok) return r;
      const c = r.certificate;
      return { ok: true, identity: { certificate: c.der, serialNumber: c.serialNumber, thumbprint: c.thumbprint, transactionId: r.transactionId } };
    },
    devices,
    users: { get: (id) => storage.getUser(id) },
    certificates: {
      byThumbprint: (thumbprint) => storage.findCertificateByThumbprint(thumbprint),
      list: (filter) => storage.listCertificates(filter),
    },
    planGeneration: d.planGeneration ?? (async () => randomUUID()),
    deliveriesFor: async (device, only) => {
      // Nothing left to remove (nothing was ever delivered): the check-in itself confirms it.
      await retireIfRemoved(device);
      return d.deliveriesFor(device, only);
    },
    report: async (device, report) => {
      await recordDeliveryReport(storage, device, report, clock());
      if (report.state === 'removed' && d.removalConfirmed) await d.removalConfirmed(device, report.profileId);
      if (report.state === 'removed') await retireIfRemoved(device);
    },
    reportAll: async (device, reports) => {
      if (reports.length === 0) return;
      await recordDeliveryReports(storage, device, reports, clock());
      await afterReports(device, reports);
    },
    reportAllWithState: async (device, reports, state, expectedVersion) => {
      if ((await recordDeliveryReports(storage, device, reports, clock(), { adapter: adapter.name, state, expectedVersion })) === null) return false;
      await afterReports(device, reports);
      return true;
    },
    unenrolled: async (device, detail) => {
      const revoked = await recordUnenrollment(d, device, { adapter: adapter.name, detail }, clock());
      // A retiring device that unenrolled has removed everything with the enrollment.
      const rest = d.retirement && device.retiringSince !== null ? await d.retirement.complete(device, 'confirmed', clock(), detail) : null;
      return [...revoked, ...(rest ?? [])];
    },
    commands: {
      enqueue: (c) => storage.enqueueCommand(c),
      next: (deviceId, channel, skip) => storage.nextCommand(deviceId, channel, skip),
      update: (id, deviceId, status, result) => storage.updateCommand(id, deviceId, status, result),
      list: (deviceId, status) => storage.listCommands(status ? { deviceId, status } : { deviceId }),
      peek: (deviceId, channel, skip) => storage.peekNextCommand(deviceId, channel, skip),
      exchange: async (device, x) => {
        const actor = `device:${device.id}`;
        const reports = x.reports ?? [];
        const read = await readDeliveryReports(storage, device, reports);
        const written = await storage.recordCommandExchange({
          deviceId: device.id,
          ...(x.answer && { answer: x.answer }),
          ...(x.cancel && { cancel: x.cancel }),
          ...(x.enqueue && { enqueue: x.enqueue }),
          ...(x.send && { send: x.send }),
          ...(x.state && { state: { adapter: adapter.name, state: x.state } }),
          statuses: read.map((r) => ({ status: r.status, actor })),
          audit: (x.audit ?? []).map((a) => ({ transactionId: null, type: a.type, reasonCode: null, actor, details: a.details })),
        });
        if (!written) return false;
        await settleDeliveryReports(storage, device, reports, read, clock());
        await afterReports(device, reports);
        return true;
      },
    },
    secrets: adapterSecrets(storage, d.secretBox, adapter.name),
    deviceLock: (deviceId, fn) => (d.deviceLock ?? processDeviceLock)(deviceId, fn),
    localDeviceLock: (deviceId, fn) => (d.deviceLock?.local ?? d.deviceLock ?? processDeviceLock)(deviceId, fn),
    state: {
      get: (deviceId) => storage.getPlatformState(deviceId, adapter.name),
      put: (deviceId, state) => storage.putPlatformState(deviceId, adapter.name, state),
      getVersioned: (deviceId) => storage.getPlatformStateVersioned(deviceId, adapter.name),
      putIfVersion: (deviceId, state, expectedVersion) => storage.putPlatformStateIfVersion(deviceId, adapter.name, state, expectedVersion),
    },
    settings: adapterSettings(storage, adapter.name),
    signAttached: (content) =>
      writeSignedData({ eContent: content, certificates: [d.profileSigner.certificate, ...(d.caChainCertificates ?? [d.caCertificate])], signer: d.profileSigner, digest: 'sha256', attributes: [] }),
    verifyDetachedSignature: (base64, content, label) => verifyDetachedSignature(base64, content, label),
    openSignedContent: (der) => {
      try {
        const sd = readSignedData(der, 'PKCS#7');
        const { signer, certificate } = soleSigner(sd);
        if (!certificate) return { ok: false, reason: 'the signer certificate is not in the PKCS#7' };
        if (sd.eContent === null) return { ok: false, reason: 'the PKCS#7 carries no content' };
        verifySigner(sd, signer, certificate);
        return { ok: true, content: sd.eContent, signerCertificate: certificate.der };
      } catch (e) {
        return { ok: false, reason: `the PKCS#7 does not verify: ${(e as Error).message}` };
      }
    },
    audit: (type, details, opts = {}) =>
      d.auditLog.append({
        transactionId: opts.transactionId ?? null,
        type,
        reasonCode: opts.reasonCode ?? null,
        actor: opts.deviceId ? `device:${opts.deviceId}` : `adapter:${adapter.name}`,
        details,
      }),
  };
}
