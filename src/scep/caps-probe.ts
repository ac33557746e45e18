// Asks a SCEP URL for its capabilities (GET ?operation=GetCACaps, RFC 8894
// section 3.5.1), for the health report: is each SCEP URL a payload names
// answering like a SCEP server? Bounded: a timeout, and at most a few KiB read.

export interface CapsProbeResult {
  url: string;
  ok: boolean;
  /** HTTP status, or null when no answer came (refused, DNS, timeout). */
  httpStatus: number | null;
  capabilities: string[];
  /** Why it is not ok. */
  problem?: string;
  elapsedMs: number;
}

const MAX_BODY = 8192;

/** The RFC 8894 capability keywords a SCEP server answers with (one per line). */
const CAPABILITY = /^[A-Za-z0-9-]{2,40}$/;

export async function probeGetCaCaps(url: string, timeoutMs: number): Promise<CapsProbeResult> {
  const started = Date.now();
  const done = (r: Omit<CapsProbeResult, 'url' | 'elapsedMs'>): CapsProbeResult => ({ url, ...r, elapsedMs: Date.now() - started });
  let target: URL;
  try {
    target = new URL(url);
    target.searchParams.set('operation', 'GetCACaps');
  } catch {
    return done({ ok: false, httpStatus: null, capabilities: [], problem: 'not a URL' });
  }
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    const body = (await readBounded(res)).trim();
    if (res.status !== 200) return done({ ok: false, httpStatus: res.status, capabilities: [], problem: `GetCACaps answered HTTP ${res.status}` });
    const lines = body.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    // An empty answer is allowed by RFC 8894 (no capabilities), an HTML page is not a SCEP server.
    if (!lines.every((l) => CAPABILITY.test(l))) return done({ ok: false, httpStatus: 200, capabilities: [], problem: 'the answer is not a GetCACaps capability list' });
    return done({ ok: true, httpStatus: 200, capabilities: lines });
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    return done({ ok: false, httpStatus: null, capabilities: [], problem: timedOut ? `no answer within ${timeoutMs} ms` : `no answer (${cause ?? (e as Error).message})` });
  }
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_BODY) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => {});
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}
