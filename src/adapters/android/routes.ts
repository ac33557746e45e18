import express, { Router, type Request, type Response } from 'express';
import type { AdapterServices, DeliveryReport, ReadyDelivery } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import { DEVICE_JSON_LIMITS } from '../../core/input-limits.js';
import { verifyJsonBounds } from '../../http/json-bounds.js';
import { emptyState, type AgentState } from './state.js';
import { agentStateFrom, loadAgentState, saveAgentState, sealAgentState } from './state-store.js';
import { reusableUntil, type PolicyAnswer } from './policy-cache.js';
import { keptPolicyAnswer, policyAnswersFor, policyReply, POLICY_PATH, servedPolicyType } from './policy-fetch.js';
import { checkin, stateChanged } from './checkin.js';
import { enrollmentAnswer } from './enrollment-answer.js';
import { defaultDeviceName, parseEnrollRequest } from './enrollment-request.js';
import { parseStatusRequest, toDeliveryReport } from './status-request.js';
import { chooseVersion, requestedVersion, SCHEMAS, SUPPORTED_VERSIONS } from './versions.js';
import { IDENTITY_RENEW_PATH, identityRenewalBlock, renewalRefusalStatus } from './identity-renewal.js';
import { IDENTITY_KEY_SIZE } from '../../core/profile/resolve.js';

// The agent-facing HTTP surface. Thin: parse, call core services and the pure
// modules, answer.
//   POST /android/v1/enroll       one-time token + device facts -> identity SCEP details
//   GET  /android/v1/policy       (identity certificate) -> policy document, ETag / 304
//   POST /android/v1/status       (identity certificate) -> per-policy results
//   POST /android/v1/unenroll     (identity certificate) -> the agent leaves management: certificates revoked
//   POST /android/v1/identity/renew (identity certificate) {csr} -> the renewed identity (identity-renewal.ts)
//   GET  /android/v1/schema.json  the policy document's JSON Schema

const DAY_MS = 24 * 3600_000;

// Device JSON: size (413 unread), then depth and value count on the raw bytes (400) before JSON.parse.
const jsonBounds = verifyJsonBounds({ maxDepth: DEVICE_JSON_LIMITS.maxDepth, maxValues: DEVICE_JSON_LIMITS.maxValues });
const enrollBody = express.json({ limit: DEVICE_JSON_LIMITS.enrollBodyBytes, verify: jsonBounds });
const statusBody = express.json({ limit: DEVICE_JSON_LIMITS.statusBodyBytes, verify: jsonBounds });

/** `clock`: the adapter's time (createAndroidAdapter's `now`). */
export function androidRoutes(s: AdapterServices, clock: () => Date): Router {
  const r = Router();

  r.post('/android/v1/enroll', enrollBody, async (req, res) => {
    const parsed = parseEnrollRequest(req.body, req.query.token);
    if (!parsed.ok) {
      res.status(400).json({ error: 'invalid enrollment request', issues: parsed.issues });
      return;
    }
    const refuse = async (reason: string) => {
      await s.audit('android.enroll.refused', { reason });
      res.status(401).json({ error: `enrollment token ${reason}`, reason });
    };
    const facts = parsed.facts;
    // The name and serial are the device's word: kept as reported values, never as the admin's (core/reported-values.ts).
    // Core checks everything before spending the token (core/token-redemption.ts): a refusal burns nothing.
    const redeemed = await s.redeemEnrollmentToken(parsed.token, { reported: { name: defaultDeviceName(facts), serialNumber: facts.serialNumber } });
    if (!redeemed.ok) {
      if (redeemed.reason === 'device-missing') {
        res.status(409).json({ error: 'the device this token was made for no longer exists' });
        return;
      }
      if (redeemed.reason === 'device-blocked') {
        // Not spent: the token works again once the admin unblocks the device.
        await s.audit('android.enroll.refused', { reason: redeemed.reason, tokenId: redeemed.token.id }, { reasonCode: 'DEVICE_BLOCKED', deviceId: redeemed.device.id });
        res.status(403).json({ error: 'the device this enrollment token is for is blocked by an administrator', reason: 'DEVICE_BLOCKED' });
        return;
      }
      return refuse(redeemed.reason);
    }
    const { token: t, device } = redeemed;
    const now = clock().toISOString();
    // A new enrollment is a new agent: nothing it was handed before counts.
    await saveAgentState(s, device.id, { ...emptyState(), facts, enrolledAt: now, factsUpdatedAt: now, schemaVersions: parsed.supportedSchemaVersions });
    const identity = await s.identityChallenge(device);
    const version = chooseVersion(null, parsed.supportedSchemaVersions ?? undefined);
    await s.audit('android.enrolled', { deviceId: device.id, tokenId: t.id, model: facts.model, osVersion: facts.osVersion, securityPatchLevel: facts.securityPatchLevel }, { deviceId: device.id });
    res.status(201).json(
      enrollmentAnswer({ deviceId: device.id, schemaVersion: version.ok ? version.version : 1, identity, caCertificate: s.caCertificate, publicUrl: s.publicUrl }),
    );
  });

  // A fetch with nothing to do is answered from the last answer while nothing it depends on changed
  // (policy-cache.ts); the same answer is also given in front of Express (policy-fetch.ts).
  const answers = policyAnswersFor(s);
  const sendAnswer = (req: Request, res: Response, a: PolicyAnswer) => {
    const reply = policyReply(a, req.headers['if-none-match']);
    res.status(reply.status);
    for (const [name, value] of Object.entries(reply.headers)) res.setHeader(name, value);
    res.end(reply.body);
  };

  // Policy fetch and status report read the agent state and write it back: under the device lock (core/device-lock.ts).
  // The cached answer is read without it: it writes nothing, and its key holds the state it was made from.
  r.get(POLICY_PATH, s.authenticateDevice, async (req, res) => {
    const device = res.locals.device!;
    // The identity the agent holds (the one it authenticated with): due for renewal, the policy says so.
    const presented = await s.presentedDevice(req);
    const asked = { query: req.query.schemaVersion, accept: req.headers.accept };
    const { kept: cached, keyOf, stored: read } = await keptPolicyAnswer(s, clock(), device, presented?.thumbprint ?? '', asked, presented?.planGenerations, req);
    if (cached) {
      sendAnswer(req, res, cached);
      return;
    }
    await s.deviceLock(device.id, async () => {
      // Computed from the state read above (not read again under the lock) and written compare-and-set on its
      // version, with the delivery reports in the same transaction: a writer that came in between (a status
      // report) makes the write fail, and the fetch is made again from a fresh read, once (issue 13).
      let stored = read;
      let deliveries: Awaited<ReturnType<typeof s.deliveriesFor>> | undefined;
      let issued: Awaited<ReturnType<typeof s.certificates.list>> | undefined;
      for (let attempt = 1; ; attempt++) {
        const before = agentStateFrom(s, stored.state);
        const choice = chooseVersion(requestedVersion(req.query.schemaVersion, req.headers.accept), before.schemaVersions ?? undefined);
        if (!choice.ok) {
          notAcceptable(res, choice.asked);
          return;
        }
        deliveries ??= await s.deliveriesFor(device);
        // One read for all the device's policies (checkin filters by profile): renewal timing and spent challenges.
        issued ??= await s.certificates.list({ deviceId: device.id });
        const now = clock();
        const current = presented ? (issued.find((c) => c.thumbprint === presented.thumbprint) ?? null) : null;
        const result = checkin(device, deliveries, before, choice.version, now, issued, identityRenewalBlock(s, current, IDENTITY_KEY_SIZE, now), s.currentCaId, s.activeCaIds);
        const changed = stateChanged(before, result.state);
        if ((changed || result.reports.length > 0) && !(await writeFetch(device, result.state, result.reports, stored.version))) {
          if (attempt < 2) {
            stored = await s.state.getVersioned(device.id);
            continue;
          }
          res.status(503).setHeader('Retry-After', '1').json({ error: 'the device state changed during the policy fetch; retry' });
          return;
        }
        const answer: PolicyAnswer = { etag: result.etag, contentType: servedPolicyType(choice.version), body: JSON.stringify(result.document) };
        const until = reusableUntil(result, changed, deliveries.filter((d): d is ReadyDelivery => d.ok), before, issued, current);
        if (until !== null) answers.set(device.id, keyOf(stored.state), answer, now, until);
        sendAnswer(req, res, answer);
        return;
      }
    });
  });

  /** The fetch's writes in one transaction, compare-and-set on the state version it read: false when another writer came first. */
  const writeFetch = (device: Device, state: AgentState, reports: readonly DeliveryReport[], version: number): Promise<boolean> => {
    const sealed = sealAgentState(s, state);
    return reports.length === 0 ? s.state.putIfVersion(device.id, sealed, version) : s.reportAllWithState(device, reports, sealed, version);
  };

  r.post('/android/v1/status', s.authenticateDevice, statusBody, (req, res) => s.deviceLock(res.locals.device!.id, async () => {
    const device = res.locals.device!;
    const parsed = parseStatusRequest(req.body);
    if (!parsed.ok) {
      res.status(400).json({ error: 'invalid status report', issues: parsed.issues });
      return;
    }
    const state = await loadAgentState(s, device.id);
    const unknown = parsed.results.flatMap((x, i) => {
      const served = state.served[x.policyId];
      if (!served) return [{ path: `results.${i}.policyId`, message: 'is not a policy this device was given' }];
      if (served.profileVersion !== x.policyVersion) return [{ path: `results.${i}.policyVersion`, message: `is not the version served for this policy (${served.profileVersion})` }];
      return [];
    });
    if (unknown.length > 0) {
      res.status(400).json({ error: 'invalid status report', issues: unknown });
      return;
    }
    const now = clock();
    parsed.results.forEach((x, i) => {
      const id = x.policyId;
      state.results[id] = { state: x.state, profileVersion: x.policyVersion, at: now.toISOString() };
      if (x.state === 'installed') {
        const cert = parsed.certificates.get(i);
        const validityDays = state.served[id]!.validityDays;
        state.installed[id] = {
          profileVersion: x.policyVersion,
          thumbprint: x.thumbprint.toUpperCase(),
          alias: x.alias,
          reportedAt: now.toISOString(),
          notBefore: cert?.notBefore ?? now.toISOString(),
          notAfter: cert?.notAfter ?? new Date(now.getTime() + validityDays * DAY_MS).toISOString(),
        };
      }
      if (x.state === 'removed') delete state.installed[id];
      // installed or failed: the challenge handed out may be spent; the next fetch mints afresh.
      if (x.state === 'installed' || x.state === 'failed') delete state.challenges[id];
    });
    await saveAgentState(s, device.id, state);
    for (const x of parsed.results) await s.report(device, toDeliveryReport(x));
    res.status(204).end();
  }));

  // The agent is being removed (the user unenrolled, or the work profile is going):
  // its identity and profile certificates stop working now (docs/lifecycle.md).
  // No body is read: the identity certificate says who is leaving.
  r.post('/android/v1/unenroll', s.authenticateDevice, async (_req, res) => {
    const device = res.locals.device!;
    const revoked = await s.unenrolled(device, 'Android agent unenroll');
    await saveAgentState(s, device.id, emptyState());
    res.status(200).json({ deviceId: device.id, revoked });
  });

  r.post(IDENTITY_RENEW_PATH, s.authenticateDevice, enrollBody, async (req, res) => {
    const device = res.locals.device!;
    const csr = (req.body as { csr?: unknown } | undefined)?.csr;
    if (typeof csr !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(csr)) {
      res.status(400).json({ error: 'invalid identity renewal request', issues: [{ path: 'csr', message: 'must be a base64 PKCS#10' }] });
      return;
    }
    const presented = await s.presentedDevice(req);
    const current = presented ? await s.certificates.byThumbprint(presented.thumbprint) : null;
    if (!current) {
      res.status(401).json({ error: 'the identity certificate presented is not in the issuance record' });
      return;
    }
    const r = await s.renewIdentityCertificate(device, new Uint8Array(Buffer.from(csr, 'base64')), current.serialNumber);
    if (!r.ok) {
      // Core audited it (identity.refused).
      res.status(renewalRefusalStatus(r.refusal)).json({ error: `identity renewal refused: ${r.refusal.code}`, reason: r.refusal.code, ...(r.refusal.detail && { detail: r.refusal.detail }) });
      return;
    }
    await s.audit('android.identity.renewed', { deviceId: device.id, serialNumber: r.identity.serialNumber, renewalOf: current.serialNumber }, { deviceId: device.id });
    res.status(201).json({ certificate: Buffer.from(r.identity.certificate).toString('base64') });
  });

  r.get('/android/v1/schema.json', (req, res) => {
    const asked = requestedVersion(req.query.schemaVersion, undefined);
    // Without a version: the newest schema, what a new agent should be built against.
    const choice = asked === null ? { ok: true as const, version: Math.max(...SUPPORTED_VERSIONS) } : chooseVersion(asked, undefined);
    if (!choice.ok) {
      notAcceptable(res, choice.asked);
      return;
    }
    res.type('application/schema+json').send(JSON.stringify(SCHEMAS[choice.version], null, 2));
  });

  function notAcceptable(res: Response, asked: string) {
    res.status(406).json({ error: `policy schema version ${asked} is not served by this gateway`, supported: SUPPORTED_VERSIONS });
  }
  return r;
}
