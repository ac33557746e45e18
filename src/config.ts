import path from 'node:path';
import { z } from 'zod';

// Configuration comes from flags, then environment, then defaults. It is
// validated once at start so a bad value stops the gateway with a message
// that names the field, instead of failing later mid-enrollment.


export interface ConfigInput {
  flags: { port?: string; host?: string; dataDir?: string; tlsCert?: string; tlsKey?: string; adminListen?: string; databaseUrl?: string };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

const portSchema = z.coerce
  .number({ message: 'must be a number' })
  .int('must be a whole number')
  .min(0, 'must be 0..65535')
  .max(65535, 'must be 0..65535');

const urlSchema = z
  .string()
  .url('must be an absolute URL such as https://mdm.example.com')
  .refine((u) => /^https?:\/\//.test(u), 'must start with http:// or https://');

/**
 * The APNs host: an https origin (pushes carry the push certificate's TLS
 * client authentication, never over plain HTTP); paths are added to it.
 */
const apnsUrlSchema = z
  .string()
  .superRefine((u, ctx) => {
    const problem = (message: string) => ctx.addIssue({ code: 'custom', message });
    let p: URL;
    try {
      p = new URL(u);
    } catch {
      return problem('must be an absolute URL such as https://api.push.apple.com');
    }
    if (p.protocol !== 'https:') return problem('must start with https://');
    if (p.username || p.password || p.search || p.hash || p.pathname.replace(/\/+$/, '') !== '') {
      problem('must be an origin such as https://api.push.apple.com (no path, query or credentials)');
    }
  })
  .transform((u) => u.replace(/\/+$/, ''));

/**
 * A CRL base or OCSP URL relying parties fetch: http(s), and nothing that
 * cannot take a path appended (query, fragment) or must not be published
 * in every certificate (credentials).
 */
const publicationUrlSchema = urlSchema
  .refine((u) => {
    try {
      const p = new URL(u);
      return !p.username && !p.password && !p.search && !p.hash;
    } catch {
      return true; // urlSchema has reported it
    }
  }, 'must not carry credentials, a query or a fragment')
  .transform((u) => u.replace(/\/+$/, ''));

/**
 * `HOST:PORT` (`[v6]:PORT` for IPv6) of the admin listener: the admin API
 * answers only there, so an Internet-facing listener exposes device routes only.
 */
const adminListenSchema = z
  .string()
  .transform((v, ctx) => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(v);
    const port = m ? Number(m[3]) : NaN;
    if (!m || port > 65535) {
      ctx.addIssue({ code: 'custom', message: 'must be HOST:PORT, e.g. 127.0.0.1:8081 or [::1]:8081' });
      return z.NEVER;
    }
    return { host: (m[1] ?? m[2])!, port };
  });

const schema = z.object({
  host: z.string().min(1, 'must not be empty'),
  port: portSchema,
  dataDir: z.string().min(1, 'must not be empty'),
  databaseUrl: z
    .string()
    .refine((u) => /^(sqlite:|file:|postgres(ql)?:\/\/)/.test(u), 'must start with sqlite:, file: or postgres://')
    .optional(),
  publicUrl: urlSchema.optional(),
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  caPassphrase: z.string().min(8, 'must be at least 8 characters').optional(),
  challengeTtlSeconds: z.coerce.number().int('must be a whole number').min(60, 'must be at least 60').max(7 * 24 * 3600, 'must be at most 604800').default(3600),
  auditRetentionDays: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(3650, 'must be at most 3650').default(90),
  clientCertHeader: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name').optional(),
  tlsCert: z.string().optional(),
  tlsKey: z.string().optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  organization: z.string().min(1).max(64).default('mdm-gateway'),
  /** Unset: the Apple adapter's default, https://api.push.apple.com. */
  apnsUrl: apnsUrlSchema.optional(),
  /** Base URL of the CRLs (the CDP is `<crlUrl>/<caId>.crl`); unset: `<publicUrl>/pki/crl`. */
  crlUrl: publicationUrlSchema.optional(),
  /** The AIA OCSP URL; unset: `<publicUrl>/ocsp`. */
  ocspUrl: publicationUrlSchema.optional(),
  /** nextUpdate - thisUpdate of every CRL; a new one is signed at half of it. */
  crlValidityHours: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(720, 'must be at most 720').default(24),
  /** OCSP responses are valid this long (nextUpdate - thisUpdate) and re-signed after half of it. */
  ocspValidityMinutes: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(5, 'must be at least 5').max(10080, 'must be at most 10080 (7 days)').default(60),
  adminListen: adminListenSchema.optional(),
  /** How long a removed profile's certificate stays valid unless the platform confirms the removal first (docs/lifecycle.md); 0 revokes at once. */
  removalGraceHours: z.coerce.number({ message: 'must be a number' }).min(0, 'must be at least 0').max(8760, 'must be at most 8760').default(24),
  /** Where the CA, RA, OCSP, challenge and secrets keys live (core/keys/): unset = `database` with a PostgreSQL URL, else `files`. */
  keyStore: z.enum(['files', 'database'], { message: 'must be files or database' }).optional(),
  /** The PKCS#11 module (.so) of the token holding the CA and RA keys (docs/hsm.md); unset: keys are files. */
  pkcs11Module: z.string().min(1).optional(),
  pkcs11TokenLabel: z.string().min(1).max(32, 'must be at most 32 characters (a PKCS#11 token label)').optional(),
  pkcs11Slot: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0').optional(),
  /** Never logged; prefer pkcs11PinFile (read when the token is opened, src/ca/pkcs11/token-config.ts). */
  pkcs11Pin: z.string().min(1).optional(),
  pkcs11PinFile: z.string().min(1).optional(),
  /** JSON file naming the upstream CAs a profile may select as its issuer (docs/upstream-ca.md); read and checked at start. */
  upstreamCas: z.string().min(1).optional(),
  /** SCEP PKIOperations worked on at once; more are answered 503 with Retry-After (core/admission.ts, docs/performance.md). */
  maxEnrollmentsInFlight: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(10_000, 'must be at most 10000').default(32),
  /** Failed SCEP requests one source address may make in a burst before it is answered 429 (one forgiven per 10 s); 0 turns it off. */
  scepFailureBudget: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be at least 0').max(100_000, 'must be at most 100000').default(20),
  /** The key type of a CA the gateway creates (first start, `ca init`, `ca rollover`); an existing CA keeps its own (docs/ca-keys.md). Unset: rsa3072 (rollover: the old CA's type). */
  caKey: z.enum(['rsa3072', 'rsa2048', 'p256'], { error: (i) => `${JSON.stringify(String(i.input).slice(0, 32))} is not offered: must be rsa3072 (the default), rsa2048 or p256` }).optional(),
  /** SQLite page cache of the gateway's connection, MiB (src/core/storage/sqlite.ts, docs/database.md); ignored with PostgreSQL. */
  sqliteCacheMiB: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(2, 'must be at least 2').max(4096, 'must be at most 4096').default(16), // DEFAULT_SQLITE_CACHE_MIB
});

/**
 * The validated configuration. publicUrl is the base URL devices reach us at
 * and goes into every payload; clientCertHeader names the header a trusted
 * TLS-terminating proxy puts the client certificate in.
 */
export type Config = Omit<z.infer<typeof schema>, 'publicUrl' | 'keyStore'> & { publicUrl: string; keyStore: 'files' | 'database' };

const ENV_NAMES: Record<string, string> = {
  host: 'MDMGW_HOST / --host',
  port: 'MDMGW_PORT / --port',
  dataDir: 'MDMGW_DATA_DIR / --data-dir',
  databaseUrl: 'MDMGW_DATABASE_URL / --database-url',
  publicUrl: 'MDMGW_PUBLIC_URL',
  adminToken: 'MDMGW_ADMIN_TOKEN',
  caPassphrase: 'MDMGW_CA_PASSPHRASE',
  challengeTtlSeconds: 'MDMGW_CHALLENGE_TTL_SECONDS',
  auditRetentionDays: 'MDMGW_AUDIT_RETENTION_DAYS',
  clientCertHeader: 'MDMGW_CLIENT_CERT_HEADER',
  tlsCert: 'MDMGW_TLS_CERT / --tls-cert',
  tlsKey: 'MDMGW_TLS_KEY / --tls-key',
  logLevel: 'MDMGW_LOG_LEVEL',
  organization: 'MDMGW_ORGANIZATION',
  apnsUrl: 'MDMGW_APNS_URL',
  crlUrl: 'MDMGW_CRL_URL',
  ocspUrl: 'MDMGW_OCSP_URL',
  crlValidityHours: 'MDMGW_CRL_VALIDITY_HOURS',
  ocspValidityMinutes: 'MDMGW_OCSP_VALIDITY_MINUTES',
  adminListen: 'MDMGW_ADMIN_LISTEN / --admin-listen',
  removalGraceHours: 'MDMGW_REMOVAL_GRACE_HOURS',
  keyStore: 'MDMGW_KEY_STORE',
  pkcs11Module: 'MDMGW_PKCS11_MODULE',
  pkcs11TokenLabel: 'MDMGW_PKCS11_TOKEN_LABEL',
  pkcs11Slot: 'MDMGW_PKCS11_SLOT',
  pkcs11Pin: 'MDMGW_PKCS11_PIN',
  pkcs11PinFile: 'MDMGW_PKCS11_PIN_FILE',
  upstreamCas: 'MDMGW_UPSTREAM_CAS',
  maxEnrollmentsInFlight: 'MDMGW_MAX_ENROLLMENTS_IN_FLIGHT',
  scepFailureBudget: 'MDMGW_SCEP_FAILURE_BUDGET',
  caKey: 'MDMGW_CA_KEY',
  sqliteCacheMiB: 'MDMGW_SQLITE_CACHE_MIB',
};

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const blankToUndefined = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v);

export function loadConfig({ flags, env, cwd }: ConfigInput): Config {
  const raw = {
    host: flags.host ?? blankToUndefined(env.MDMGW_HOST) ?? '127.0.0.1',
    port: flags.port ?? blankToUndefined(env.MDMGW_PORT) ?? '8080',
    dataDir: flags.dataDir ?? blankToUndefined(env.MDMGW_DATA_DIR) ?? 'data',
    databaseUrl: blankToUndefined(flags.databaseUrl) ?? blankToUndefined(env.MDMGW_DATABASE_URL),
    publicUrl: blankToUndefined(env.MDMGW_PUBLIC_URL),
    adminToken: blankToUndefined(env.MDMGW_ADMIN_TOKEN),
    caPassphrase: blankToUndefined(env.MDMGW_CA_PASSPHRASE),
    challengeTtlSeconds: blankToUndefined(env.MDMGW_CHALLENGE_TTL_SECONDS),
    auditRetentionDays: blankToUndefined(env.MDMGW_AUDIT_RETENTION_DAYS),
    clientCertHeader: blankToUndefined(env.MDMGW_CLIENT_CERT_HEADER),
    tlsCert: flags.tlsCert ?? blankToUndefined(env.MDMGW_TLS_CERT),
    tlsKey: flags.tlsKey ?? blankToUndefined(env.MDMGW_TLS_KEY),
    logLevel: blankToUndefined(env.MDMGW_LOG_LEVEL),
    organization: blankToUndefined(env.MDMGW_ORGANIZATION),
    apnsUrl: blankToUndefined(env.MDMGW_APNS_URL),
    crlUrl: blankToUndefined(env.MDMGW_CRL_URL),
    ocspUrl: blankToUndefined(env.MDMGW_OCSP_URL),
    crlValidityHours: blankToUndefined(env.MDMGW_CRL_VALIDITY_HOURS),
    ocspValidityMinutes: blankToUndefined(env.MDMGW_OCSP_VALIDITY_MINUTES),
    adminListen: flags.adminListen ?? blankToUndefined(env.MDMGW_ADMIN_LISTEN),
    removalGraceHours: blankToUndefined(env.MDMGW_REMOVAL_GRACE_HOURS),
    keyStore: blankToUndefined(env.MDMGW_KEY_STORE),
    pkcs11Module: blankToUndefined(env.MDMGW_PKCS11_MODULE),
    pkcs11TokenLabel: blankToUndefined(env.MDMGW_PKCS11_TOKEN_LABEL),
    pkcs11Slot: blankToUndefined(env.MDMGW_PKCS11_SLOT),
    pkcs11Pin: blankToUndefined(env.MDMGW_PKCS11_PIN),
    pkcs11PinFile: blankToUndefined(env.MDMGW_PKCS11_PIN_FILE),
    upstreamCas: blankToUndefined(env.MDMGW_UPSTREAM_CAS),
    maxEnrollmentsInFlight: blankToUndefined(env.MDMGW_MAX_ENROLLMENTS_IN_FLIGHT),
    scepFailureBudget: blankToUndefined(env.MDMGW_SCEP_FAILURE_BUDGET),
    caKey: blankToUndefined(env.MDMGW_CA_KEY)?.trim().toLowerCase(),
    sqliteCacheMiB: blankToUndefined(env.MDMGW_SQLITE_CACHE_MIB),
  };
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const field = String(i.path[0] ?? '');
        return `${ENV_NAMES[field] ?? field}: ${i.message}`;
      }),
    );
  }
  const c = parsed.data;
  if ((c.tlsCert === undefined) !== (c.tlsKey === undefined)) {
    throw new ConfigError(['--tls-cert and --tls-key: give both or neither']);
  }
  const admin = c.adminListen;
  if (admin && admin.port !== 0 && admin.port === c.port && (admin.host === c.host || [admin.host, c.host].some((h) => h === '0.0.0.0' || h === '::'))) {
    throw new ConfigError([`MDMGW_ADMIN_LISTEN / --admin-listen: ${admin.host}:${admin.port} overlaps the device listener ${c.host}:${c.port}; give the admin API its own port`]);
  }
  // Several instances share one database: their keys come from it, sealed under the passphrase (checkKeyStore).
  const keyStore = c.keyStore ?? (c.databaseUrl !== undefined && /^postgres(ql)?:/.test(c.databaseUrl) ? 'database' : 'files');
  const pkcs11Problem = checkPkcs11(c);
  if (pkcs11Problem) throw new ConfigError([pkcs11Problem]);
  const scheme = c.tlsCert ? 'https' : 'http';
  const hostForUrl = c.host.includes(':') ? `[${c.host}]` : c.host;
  return {
    ...c,
    keyStore,
    dataDir: path.resolve(cwd, c.dataDir),
    pkcs11Module: c.pkcs11Module === undefined ? undefined : path.resolve(cwd, c.pkcs11Module),
    pkcs11PinFile: c.pkcs11PinFile === undefined ? undefined : path.resolve(cwd, c.pkcs11PinFile),
    ...(c.upstreamCas !== undefined && { upstreamCas: path.resolve(cwd, c.upstreamCas) }),
    publicUrl: (c.publicUrl ?? `${scheme}://${hostForUrl}:${c.port}`).replace(/\/+$/, ''),
  };
}

/** The PKCS#11 settings go together: a module, its token (label or slot) and one PIN source. */
function checkPkcs11(c: z.infer<typeof schema>): string | null {
  const anySet = [c.pkcs11TokenLabel, c.pkcs11Slot, c.pkcs11Pin, c.pkcs11PinFile].some((v) => v !== undefined);
  if (c.pkcs11Module === undefined) return anySet ? 'MDMGW_PKCS11_MODULE: required with the other MDMGW_PKCS11_* settings (the path of the PKCS#11 module)' : null;
  if ((c.pkcs11TokenLabel === undefined) === (c.pkcs11Slot === undefined)) return 'MDMGW_PKCS11_TOKEN_LABEL / MDMGW_PKCS11_SLOT: give exactly one (which token holds the keys)';
  if ((c.pkcs11Pin === undefined) === (c.pkcs11PinFile === undefined)) return 'MDMGW_PKCS11_PIN / MDMGW_PKCS11_PIN_FILE: give exactly one (the token user PIN)';
  return null;
}

/**
 * For the commands that load keys (serve, ca rollover; not `db`): keys kept in
 * the database are sealed under MDMGW_CA_PASSPHRASE, so it is required then.
 */
export function checkKeyStore(c: Pick<Config, 'keyStore' | 'caPassphrase' | 'databaseUrl'>, env: NodeJS.ProcessEnv): void {
  if (c.keyStore === 'database' && c.caPassphrase === undefined) {
    const why = blankToUndefined(env.MDMGW_KEY_STORE) ? 'MDMGW_KEY_STORE=database' : 'a PostgreSQL MDMGW_DATABASE_URL';
    throw new ConfigError([`MDMGW_CA_PASSPHRASE: required when the keys are kept in the database (${why}); every instance seals and opens them with it`]);
  }
}
