import { pino, type Logger } from 'pino';
import { bounded, LOG_BOUNDS } from './core/bounded.js';

// Challenges and private keys must never reach a log line. Callers log a
// challenge fingerprint instead; these keys are a second net for mistakes:
// a field with one of these names is censored at any depth of a line.
export const SECRET_KEYS: ReadonlySet<string> = new Set(['challenge', 'challengePassword', 'privateKey', 'token', 'authorization']);
export const CENSORED = '[redacted]';

/**
 * Every log line's fields pass here: client-supplied values (a Username, a
 * CommandUUID, an error detail) are cut to LOG_BOUNDS so one request cannot
 * write a megabyte log line, and secret-named fields are censored. Errors are
 * left to pino's serializer.
 *
 * The censoring is done here, on the bounded copy this already makes, rather
 * than by pino's `redact` option: with a wildcard path (`*.challenge`) pino
 * runs its redactor on every field of every line and re-parses each path per
 * call, which was about 40% of a line's cost, and pino 7% of an enrollment
 * (issue 13, docs/performance.md "Enrollment, fifth round").
 */
function boundedFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k in fields) {
    if (!Object.hasOwn(fields, k)) continue;
    const v = fields[k];
    if (SECRET_KEYS.has(k)) out[k] = CENSORED;
    else if (v instanceof Error) out[k] = v;
    else out[k] = censor(bounded(v, LOG_BOUNDS, 1));
  }
  return out;
}

/** Censors secret-named keys below the top level of a bounded (fresh, plain) copy, in place. */
function censor(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (const x of v) censor(x);
    return v;
  }
  const o = v as Record<string, unknown>;
  for (const k in o) {
    if (SECRET_KEYS.has(k)) o[k] = CENSORED;
    else censor(o[k]);
  }
  return v;
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const root = pino(
    { level, base: { svc: 'mdmgw' }, formatters: { log: boundedFields } },
    (destination as pino.DestinationStream | undefined) ?? stdoutDestination(),
  );
  // Child bindings (`log.child({...})`) are serialised once, when the child is
  // made, and pino's formatters do not see them: they get the same net here.
  // Children inherit this `child` (pino makes them with Object.create).
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, boundedFields(bindings), options);
  } as typeof root.child;
  return root;
}

let stdout: ReturnType<typeof pino.destination> | null = null;

/** stdout's buffer: written when this full, or every LOG_FLUSH_MS. */
export const LOG_BUFFER_BYTES = 4096;
export const LOG_FLUSH_MS = 200;

/**
 * stdout, written asynchronously (lines written while a write is under way go
 * out together in the next one): pino's default is one
 * synchronous write(2) per line, which showed in the enrollment profile
 * (issue 13). One destination per process, flushed synchronously on exit so
 * the last lines (the shutdown, a fatal error) are not lost.
 */
function stdoutDestination(): ReturnType<typeof pino.destination> {
  if (stdout) return stdout;
  // Lines are gathered up to LOG_BUFFER_BYTES (an enrollment logs five) and
  // written at the latest LOG_FLUSH_MS later: one write(2) for many lines
  // instead of one each (issue 13), and an idle gateway's last line still
  // shows within a fraction of a second.
  const dest = pino.destination({ dest: 1, sync: false, minLength: LOG_BUFFER_BYTES });
  setInterval(() => {
    try {
      dest.flush();
    } catch {
      // a write is still under way: the next tick takes these lines too
    }
  }, LOG_FLUSH_MS).unref();
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stdout already closed: nothing left to save the lines to
    }
  });
  stdout = dest;
  return dest;
}

/**
 * Writes stdout's buffered lines now. The start-up lines (where the admin
 * token is, which database, the URL) are read by operators and scripts as
 * soon as the gateway answers, not LOG_FLUSH_MS later.
 */
export function flushLogs(): void {
  if (!stdout) return;
  try {
    stdout.flushSync();
  } catch {
    // a write is under way: it takes these lines with it
  }
}

export type { Logger };
