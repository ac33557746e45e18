import type { HttpAnswer, ScepProbe } from './evidence.js';

// Asks a SCEP endpoint what a client would ask first (GetCACaps, GetCACert),
// plus /healthz and the Date header, each with a short timeout so an
// unreachable public URL costs seconds, not minutes.

export const PROBE_TIMEOUT_MS = 5000;

async function get(url: string, timeoutMs: number, headers: Record<string, string> = {}): Promise<HttpAnswer & { date: string | null }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers, redirect: 'manual' });
  const body = new Uint8Array(await res.arrayBuffer());
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body, date: res.headers.get('date') };
}

/** The reason fetch gave, down to the socket or TLS error. */
export function reasonOf(e: unknown): string {
  if (e instanceof Error && e.name === 'TimeoutError') return 'no answer within the timeout';
  // fetch says only "fetch failed"; the socket or TLS error is its cause (code and message, e.g. ECONNREFUSED).
  const cause = e instanceof Error ? (e.cause as (Error & { code?: string }) | undefined) : undefined;
  if (cause?.code) {
    const message = cause.message.trim();
    return message.includes(cause.code) ? message : `${cause.code}: ${message}`;
  }
  if (cause?.message) return cause.message;
  return e instanceof Error ? e.message : String(e);
}

/** `base` is the gateway's base URL (no trailing slash); `scepPath` the SCEP path on it. */
export async function probeScep(base: string, scepPath: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<ScepProbe> {
  const scepUrl = `${base}${scepPath}`;
  const probe: ScepProbe = { scepUrl };
  try {
    const before = Date.now();
    const caps = await get(`${scepUrl}?operation=GetCACaps`, timeoutMs);
    const after = Date.now();
    probe.caps = caps;
    // The Date header has one-second resolution; half-way is the best guess of when it was written.
    if (caps.date && !Number.isNaN(Date.parse(caps.date))) probe.clock = { server: new Date(caps.date), local: new Date((before + after) / 2) };
  } catch (e) {
    probe.unreachable = reasonOf(e);
    return probe;
  }
  // The endpoint answered: the rest are best-effort (a failure here is reported by the check reading it).
  probe.caCert = await get(`${scepUrl}?operation=GetCACert&message=CA`, timeoutMs).catch(() => undefined);
  probe.pkiGet = await get(`${scepUrl}?operation=PKIOperation`, timeoutMs).catch(() => undefined);
  probe.healthz = await get(`${base}/healthz`, timeoutMs).catch(() => undefined);
  return probe;
}
