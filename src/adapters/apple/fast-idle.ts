import type { IncomingMessage } from 'node:http';
import type { AdapterServices, FastCheckin, FastReply } from '../../core/adapter.js';
import type { CheckinCache } from '../../core/checkin-cache.js';
import { PLIST_LIMITS } from '../../core/input-limits.js';
import type { Device, Platform } from '../../core/model.js';
import type { PlanGenerations } from '../../core/storage/plan-generation-store.js';
import { idleAnswers, idleCacheKey } from './idle-cache.js';
import { acceptedSender, signed } from './message-auth.js';
import { connectMessage } from './messages.js';
import { parseDict } from './plist-codec.js';
import { DEVICE_CHANNEL } from './state.js';

// The kept-answer half of a device-channel Idle (PUT /mdm/connect), shared by
// the Express route (routes.ts) and the same message answered in front of
// Express (http/fast-checkins.ts, issue 13): one cache per mounted adapter,
// one key, the same checks in the same functions.

export const CONNECT_PATH = '/mdm/connect';
export const APPLE_PLATFORMS: readonly Platform[] = ['ios', 'macos'];

const caches = new WeakMap<AdapterServices, CheckinCache<true>>();

/** The adapter's kept Idle answers: one cache for the routes and the fast path built from the same services. */
export function idleAnswersFor(s: AdapterServices): CheckinCache<true> {
  let c = caches.get(s);
  if (!c) caches.set(s, (c = idleAnswers()));
  return c;
}

/**
 * Whether the empty answer is kept for this Idle (and nothing is queued for
 * the device channel: an admin's command is fetched at once), and the key a
 * full Idle keeps its answer under. The plan generation is read before
 * anything the answer is made from (core/plan-generation.ts; `read`: the ones
 * the sender's identity check returned from its own statement); no device lock:
 * a kept answer writes nothing, and its key holds the state it was made from.
 */
export async function keptIdle(s: AdapterServices, now: Date, device: Device, thumbprint: string | null, udid: string, read?: PlanGenerations): Promise<{ kept: boolean; keyOf(stored: unknown): string }> {
  const generation = await s.planGeneration(device.id, read);
  const keyOf = (stored: unknown) => idleCacheKey(generation, device, thumbprint, stored, udid);
  // Only whether a command waits (peek: one read, nothing taken); the full Idle takes and sends it.
  const kept = idleAnswersFor(s).get(device.id, keyOf(await s.state.get(device.id)), now) === true && !(await s.commands.peek(device.id, DEVICE_CHANNEL));
  return { kept, keyOf };
}

// What the route answers: 200, no body (Content-Length: 0). The route counts a check-in only when
// authenticateDevice (the TLS / proxy certificate) authenticated it, not for an Mdm-Signature.
// One object each: the fast path keeps the head it writes per reply object.
const IDLE_SIGNED: FastReply = { status: 200, headers: {}, checkIn: false };
const IDLE_CERTIFICATE: FastReply = { status: 200, headers: {}, checkIn: true };

/**
 * The device-channel Idle in front of Express: the sender as the route
 * accepts it (Mdm-Signature, else the TLS / proxy certificate), an Apple
 * device, a well-formed connect message (the plist codec's bounds and the
 * route's schema), a kept answer. Anything else, a refusal included, is the
 * route's (null), which answers and audits it as before.
 */
export function fastIdle(s: AdapterServices, clock: () => Date): FastCheckin {
  return {
    method: 'PUT',
    path: CONNECT_PATH,
    maxBodyBytes: PLIST_LIMITS.maxBodyBytes,
    answer: async (req: IncomingMessage, body: Buffer) => {
      const who = await acceptedSender(s, req, body);
      if (!who || !APPLE_PLATFORMS.includes(who.device.platform)) return null;
      let raw: unknown;
      try {
        raw = parseDict(body);
      } catch {
        return null; // the route answers 400 with the reason
      }
      const m = connectMessage.safeParse(raw);
      if (!m.success || m.data.Status !== 'Idle' || m.data.UserID) return null;
      const { kept } = await keptIdle(s, clock(), who.device, who.thumbprint, m.data.UDID, who.planGenerations);
      return kept ? (signed(req) ? IDLE_SIGNED : IDLE_CERTIFICATE) : null;
    },
  };
}
