import type { IncomingMessage } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import type { AdapterServices, FastCheckin, FastReply } from '../../core/adapter.js';
import type { CheckinCache } from '../../core/checkin-cache.js';
import type { Device, Platform } from '../../core/model.js';
import type { PlanGenerations } from '../../core/storage/plan-generation-store.js';
import { ifNoneMatchHits } from './canonical.js';
import { policyAnswers, policyCacheKey, type PolicyAnswer } from './policy-cache.js';
import { POLICY_MEDIA_TYPE } from './versions.js';

// The kept-answer half of GET /android/v1/policy, shared by the Express route
// (routes.ts) and the same request answered in front of Express
// (http/fast-checkins.ts, issue 13): one cache per mounted adapter, one key,
// one way to write the answer, so both serve the same bytes and headers.

export const POLICY_PATH = '/android/v1/policy';

const caches = new WeakMap<AdapterServices, CheckinCache<PolicyAnswer>>();

/** The adapter's kept policy answers: one cache for the routes and the fast path built from the same services. */
export function policyAnswersFor(s: AdapterServices): CheckinCache<PolicyAnswer> {
  let c = caches.get(s);
  if (!c) caches.set(s, (c = policyAnswers()));
  return c;
}

/** What the request asks for besides the device: the answer's key holds it. */
export interface PolicyAsk {
  query: unknown;
  accept: string | undefined;
}

/**
 * The kept answer for this fetch, if any, and the key a full fetch keeps its
 * answer under. The plan generation is read before anything the answer is
 * made from (core/plan-generation.ts): `read`, the ones the identity check
 * returned from its own statement, else read here. The device lock is not taken: a kept
 * answer writes nothing, and its key holds the state it was made from.
 */
export async function keptPolicyAnswer(
  s: AdapterServices,
  now: Date,
  device: Device,
  thumbprint: string,
  asked: PolicyAsk,
  read?: PlanGenerations,
  /** The HTTP request: the fast path and the route of one request share one state read. */
  req?: object,
): Promise<{ kept: PolicyAnswer | undefined; keyOf(stored: unknown): string; stored: { state: Record<string, unknown> | null; version: number } }> {
  const generation = await s.planGeneration(device.id, read);
  const keyOf = (stored: unknown) => policyCacheKey(generation, device, thumbprint, stored, asked);
  // With its version: a full fetch computes from this read and writes compare-and-set on it (routes.ts), not reading it again.
  // The fast path's read of the same request, when it had no kept answer and passed the request on to the route.
  const earlier = req && stateReads.get(req);
  const stored = earlier && earlier.deviceId === device.id ? earlier.stored : await s.state.getVersioned(device.id);
  if (req) stateReads.set(req, { deviceId: device.id, stored });
  return { kept: policyAnswersFor(s).get(device.id, keyOf(stored.state), now), keyOf, stored };
}

type StateRead = { state: Record<string, unknown> | null; version: number };
/** The state read of a request the fast path handed on to the route: read once per request (issue 13). */
const stateReads = new WeakMap<object, { deviceId: string; stored: StateRead }>();

/**
 * The Content-Type the route has always served (Express's res.type + send
 * lower-cased the parameter name and added the charset); agents see the same
 * header whichever path answers.
 */
export function servedPolicyType(version: number): string {
  return `${POLICY_MEDIA_TYPE}; schemaversion=${version}; charset=utf-8`;
}

/** The answer as served: ETag and caching headers, 304 when If-None-Match names the ETag. */
export function policyReply(a: PolicyAnswer, ifNoneMatch: string | undefined): FastReply {
  const headers = { ETag: a.etag, 'Cache-Control': 'private, no-cache', Vary: 'Accept' };
  if (ifNoneMatchHits(ifNoneMatch, a.etag)) return { status: 304, headers };
  return { status: 200, headers: { ...headers, 'Content-Type': a.contentType }, body: a.body };
}

// The two replies of a kept answer, made once per answer: the fast path writes
// the same object every time (http/fast-checkins.ts keeps its head and bytes).
const fastReplies = new WeakMap<PolicyAnswer, { ok: FastReply; notModified: FastReply }>();

/** policyReply, counted as a check-in (as the route's authenticateDevice counts it), one object per answer and status. */
function fastReplyOf(a: PolicyAnswer, ifNoneMatch: string | undefined): FastReply {
  let r = fastReplies.get(a);
  if (!r) fastReplies.set(a, (r = { ok: { ...policyReply(a, undefined), checkIn: true }, notModified: { ...policyReply(a, a.etag), checkIn: true } }));
  return ifNoneMatchHits(ifNoneMatch, a.etag) ? r.notModified : r.ok;
}

/**
 * The policy fetch in front of Express: the identity certificate verified as
 * the route's authenticateDevice does (services.presentedDevice), a device of
 * this adapter's platforms, a kept answer. Anything else, a refusal included,
 * is the route's (null).
 */
export function fastPolicyFetch(s: AdapterServices, clock: () => Date, platforms: readonly Platform[]): FastCheckin {
  return {
    method: 'GET',
    path: POLICY_PATH,
    maxBodyBytes: 0,
    answer: async (req: IncomingMessage) => {
      const who = await s.presentedDevice(req);
      if (!who || !platforms.includes(who.device.platform)) return null;
      // Express's query parser ("simple": node:querystring), so schemaVersion is what the route reads.
      const q = req.url!.indexOf('?');
      const asked = { query: q < 0 ? undefined : parseQuery(req.url!.slice(q + 1)).schemaVersion, accept: req.headers.accept };
      const { kept } = await keptPolicyAnswer(s, clock(), who.device, who.thumbprint, asked, who.planGenerations, req);
      return kept ? fastReplyOf(kept, req.headers['if-none-match']) : null;
    },
  };
}
