import express, { Router, type Request, type Response } from 'express';
import { IDENTITY_KEY_SIZE, IDENTITY_VALIDITY_DAYS } from '../../core/profile/resolve.js';
import type { AdapterServices } from '../../core/adapter.js';
import { WINDOWS_XML_LIMITS } from '../../core/input-limits.js';
import { discoverResponse, parseDiscover } from './discovery.js';
import { enroll } from './enroll.js';
import { getPoliciesResponse, parseGetPolicies } from './enrollment-policy.js';
import { handleMessage } from './session.js';
import { identityStanding, type WindowsState } from './state.js';
import { MANAGEMENT_PATH, SYNCML_SERVED_TYPE, mediaType, messageSaver } from './management.js';
import { renew } from './renew.js';
import { ACTIONS, ENROLLMENT_FAULTS, SOAP_CONTENT_TYPE, type SoapFault, faultEnvelope } from './soap.js';
import { SYNCML_CONTENT_TYPE } from './syncml-build.js';
import { parseSyncML } from './syncml-message.js';
import { XmlError, parseXml, type El } from './xml.js';
import { RENEW_REQUEST_TYPE, parseRequestSecurityToken, requestSecurityTokenResponse } from './wstep.js';

// The Windows adapter's device-facing routes: MS-MDE2 enrollment (Discovery,
// MS-XCEP policy, MS-WSTEP enrollment) under /EnrollmentServer/ and the OMA-DM
// endpoint /ManagementServer/MDM.svc. The handlers are thin: parse (xml.ts),
// decide (enroll.ts, session.ts), write (soap/discovery/wstep/syncml-build). See docs/windows.md.

export const PATHS = {
  discovery: '/EnrollmentServer/Discovery.svc',
  policy: '/EnrollmentServer/Policy.svc',
  enrollment: '/EnrollmentServer/Enrollment.svc',
  management: MANAGEMENT_PATH,
} as const;

/** Larger bodies get 413 before they are read; the XML pre-scan (xml.ts) bounds the rest. */
const textBody = express.text({ type: () => true, limit: WINDOWS_XML_LIMITS.maxBodyBytes });

/** HTTP status for a fault: the body carries the MS-MDE2 code; never a 5xx for a client's mistake. */
function faultHttpStatus(f: SoapFault): number {
  if (f.code === 'Authentication' || f.code === 'InvalidSecurity') return 401;
  if (f.code === 'Authorization') return 403;
  if (f.code === 'InternalServiceFault' || f.code === 'EnrollmentServer') return 503;
  return 400;
}

function sendFault(res: Response, action: string, relatesTo: string | undefined, f: SoapFault): void {
  res.status(faultHttpStatus(f)).type(SOAP_CONTENT_TYPE).send(faultEnvelope(action, relatesTo, f));
}

function readSoap(req: Request, res: Response, action: string): El | null {
  const body = typeof req.body === 'string' ? req.body : '';
  try {
    return parseXml(body);
  } catch (e) {
    sendFault(res, action, undefined, { code: 'MessageFormat', reason: e instanceof XmlError ? e.message : 'unreadable message' });
    return null;
  }
}

/**
 * An OMA-DM answer, head and body in one write (issue 13): res.send turned the
 * string into a Buffer to hash an ETag no device asks for (a POST answer), and
 * Node writes a Buffer body apart from the head.
 */
function sendSyncML(res: Response, xml: string): void {
  res.writeHead(200, { 'Content-Type': SYNCML_SERVED_TYPE, 'Content-Length': String(Buffer.byteLength(xml)) });
  res.end(xml);
}

/**
 * `clock` is the adapter's time (createWindowsAdapter's `now`): what enrollment
 * records, the RSTR timestamps, OMA-DM result tracking and renewal. Never the
 * system clock directly, so a test can move one gateway's adapter in time.
 */
export function windowsRoutes(s: AdapterServices, clock: () => Date): Router {
  const r = Router();
  const url = (p: string) => `${s.publicUrl}${p}`;

  const guard =
    (action: string, h: (req: Request, res: Response) => Promise<void>) =>
    async (req: Request, res: Response): Promise<void> => {
      try {
        await h(req, res);
      } catch (e) {
        s.log.error({ err: e, path: req.path }, 'windows enrollment failed');
        if (!res.headersSent) sendFault(res, action, undefined, { code: 'InternalServiceFault', reason: 'the enrollment service failed; try again later' });
      }
    };

  // Discovery: GET is the reachability probe ("HTTP/1.1 200 OK ... Content-Length: 0").
  r.get(PATHS.discovery, (_req, res) => {
    res.status(200).type('text/html').set('Cache-Control', 'no-cache').send('');
  });
  r.post(
    PATHS.discovery,
    textBody,
    guard(ACTIONS.discoverResponse, async (req, res) => {
      const root = readSoap(req, res, ACTIONS.discoverResponse);
      if (!root) return;
      const d = parseDiscover(root);
      if (!d) return sendFault(res, ACTIONS.discoverResponse, undefined, { code: 'MessageFormat', reason: 'not a Discover request' });
      if (d.authPolicies.length > 0 && !d.authPolicies.includes('OnPremise')) {
        return sendFault(res, ACTIONS.discoverResponse, d.messageId, { code: 'Authentication', reason: 'this server supports the OnPremise auth policy only' });
      }
      res.type(SOAP_CONTENT_TYPE).send(discoverResponse({ enrollmentPolicyServiceUrl: url(PATHS.policy), enrollmentServiceUrl: url(PATHS.enrollment) }, d.messageId));
    }),
  );

  r.post(
    PATHS.policy,
    textBody,
    guard(ACTIONS.getPoliciesResponse, async (req, res) => {
      const root = readSoap(req, res, ACTIONS.getPoliciesResponse);
      if (!root) return;
      const p = parseGetPolicies(root);
      if (!p) return sendFault(res, ACTIONS.getPoliciesResponse, undefined, { code: 'MessageFormat', reason: 'not a GetPolicies request' });
      // The token is one-time and spent by the enrollment request; here only its presence is checked.
      if (!p.credentials) return sendFault(res, ACTIONS.getPoliciesResponse, p.messageId, { code: 'Authentication', reason: 'a UsernameToken (UPN and enrollment token) is required' });
      res.type(SOAP_CONTENT_TYPE).send(getPoliciesResponse({ minimalKeyLength: IDENTITY_KEY_SIZE, validityDays: IDENTITY_VALIDITY_DAYS }, p.messageId));
    }),
  );

  r.post(
    PATHS.enrollment,
    textBody,
    guard(ACTIONS.rstrc, async (req, res) => {
      const root = readSoap(req, res, ACTIONS.rstrc);
      if (!root) return;
      const parsed = parseRequestSecurityToken(root);
      if (!parsed.ok) return sendFault(res, ACTIONS.rstrc, undefined, { code: 'MessageFormat', reason: parsed.reason });
      // A re-enrollment proves which device it is with the device's identity certificate (device-binding.ts);
      // a renewal (RequestType Renew) authenticates with it alone (renew.ts).
      const now = clock();
      const presented = await s.presentedDevice(req);
      const out = parsed.rst.requestType === RENEW_REQUEST_TYPE ? await renew(s, parsed.rst, presented, now) : await enroll(s, parsed.rst, presented, now);
      if (!out.ok) {
        s.log.warn({ fault: out.fault.code, hresult: ENROLLMENT_FAULTS[out.fault.code].hresult }, 'windows enrollment refused');
        return sendFault(res, ACTIONS.rstrc, parsed.rst.messageId, out.fault);
      }
      res.type(SOAP_CONTENT_TYPE).send(requestSecurityTokenResponse(out.provisioningDoc, parsed.rst.messageId, now));
    }),
  );

  // OMA-DM: the device authenticates with its identity certificate (TLS or the trusted proxy header);
  // core answers 403 for another platform's device (authenticateDevice is bound to this adapter's platforms).
  // One message per device at a time in this process (the in-process lock), and no lease rows: the state
  // read here with its version is written back compare-and-set, so when another instance (or an enrollment,
  // a renewal) wrote it meanwhile, this message's changes are not applied and the device gets 503 with
  // Retry-After (core/device-lock.ts versionedStateWriter). Issue 13: two commits fewer per message.
  r.post(PATHS.management, s.authenticateDevice, textBody, (req, res) => s.localDeviceLock(res.locals.device!.id, async () => {
    const deviceId = res.locals.device!.id;
    // Only the identity of the device's last enrollment speaks for it: after a re-enrollment (e.g. the
    // admin's reset of a wiped or replaced device) the certificate it superseded no longer does.
    // Read once per message: handleMessage works on this copy and writes it back.
    const read = await s.state.getVersioned(deviceId);
    const state = (read.state ?? {}) as WindowsState;
    // The state compare-and-set, with the message's delivery reports in the same transaction (management.ts).
    const save = messageSaver(s, res.locals.device!, read);
    let renewalConfirmed: string | undefined;
    if (state.enrollment) {
      // The certificate authenticateDevice just verified (no second verification).
      const thumbprint = res.locals.identityThumbprint ?? (await s.presentedDevice(req))?.thumbprint;
      const standing = identityStanding(state, thumbprint);
      if (standing === null) {
        res.status(401).json({ error: 'this identity certificate was superseded by a later enrollment of the device' });
        return;
      }
      // The WSTEP renewal is in use: it is the device's identity now (core revoked the one it renewed).
      // Written with the message's state below (or alone when the message is refused), audited once written.
      if (standing === 'renewed') {
        state.enrollment.identityThumbprint = thumbprint!;
        delete state.enrollment.renewal;
        renewalConfirmed = thumbprint!;
      }
    }
    const confirmRenewal = async () => {
      if (renewalConfirmed === undefined) return;
      await save(state as Record<string, unknown>);
      await s.audit('windows.identity.renewal-confirmed', { deviceId, thumbprint: renewalConfirmed }, { deviceId });
      renewalConfirmed = undefined;
    };
    if (mediaType(req.headers['content-type']) !== SYNCML_CONTENT_TYPE) {
      await confirmRenewal();
      res.status(415).json({ error: `Content-Type must be ${SYNCML_CONTENT_TYPE}` });
      return;
    }
    let root: El;
    try {
      root = parseXml(typeof req.body === 'string' ? req.body : '');
    } catch (e) {
      await confirmRenewal();
      res.status(400).json({ error: e instanceof XmlError ? e.message : 'unreadable SyncML' });
      return;
    }
    const parsed = parseSyncML(root);
    if (!parsed.ok) {
      await confirmRenewal();
      res.status(400).json({ error: parsed.reason });
      return;
    }
    const reply = await handleMessage(s, res.locals.device!, parsed.msg, clock(), state, (st, withReports) => save(st as Record<string, unknown>, withReports), res.locals.planGenerations);
    if (renewalConfirmed !== undefined) await s.audit('windows.identity.renewal-confirmed', { deviceId, thumbprint: renewalConfirmed }, { deviceId });
    sendSyncML(res, reply.xml);
  }));
  return r;
}

