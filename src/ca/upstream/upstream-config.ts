import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { UpstreamConnector } from '../../core/issuer.js';
import type { KeyedCertificate } from '../../x509/keys.js';
import { EstUpstreamIssuer } from './est-issuer.js';
import { ScepUpstreamIssuer } from './scep-issuer.js';

// The upstream CAs named in the JSON file MDMGW_UPSTREAM_CAS points at
// (docs/upstream-ca.md), validated with zod: every problem is reported with
// the entry and field it concerns, and the gateway does not start.

const NAME = /^[a-z0-9][a-z0-9-]{0,31}$/; // as ca/registry.ts (branch pki) names CAs

const common = {
  name: z
    .string({ message: 'must be a string' })
    .regex(NAME, 'must be 1 to 32 lower-case letters, digits and "-", starting with a letter or digit')
    .refine((n) => n !== 'default', '"default" names the built-in CA'),
  url: z.string({ message: 'must be a string' }).url('must be an absolute URL'),
  caFingerprint: z
    .string()
    .refine((f) => /^[0-9a-f]{64}$/.test(f.replace(/[:\s]/g, '').toLowerCase()), 'must be the SHA-256 of the CA certificate: 64 hex digits, colons allowed')
    .optional(),
  /** Between two polls of a PENDING request. */
  pollSeconds: z.number({ message: 'must be a number' }).int('must be a whole number').min(5, 'must be at least 5').max(86_400, 'must be at most 86400').default(60),
  timeoutSeconds: z.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(300, 'must be at most 300').default(30),
  /** A request still PENDING upstream this long after it was forwarded is rejected. */
  maxPendingHours: z.number({ message: 'must be a number' }).min(1, 'must be at least 1').max(24 * 90, 'must be at most 2160').default(168),
};

const scepEntry = z.strictObject({
  ...common,
  kind: z.literal('scep'),
  url: common.url.refine((u) => /^https?:\/\//.test(u), 'must start with http:// or https://'),
  // A static upstream challenge cannot work: the forwarded CSR is the device's, signed by its key, and carries the gateway's own challenge.
  challenge: z
    .unknown()
    .optional()
    .refine((v) => v === undefined, 'is not supported: the device CSR is forwarded unchanged (the gateway cannot re-sign it), so its challengePassword is the gateway challenge; let the upstream trust the gateway RA certificate instead (docs/upstream-ca.md)'),
});

const estEntry = z.strictObject({
  ...common,
  kind: z.literal('est'),
  url: common.url.refine((u) => u.startsWith('https://'), 'must start with https:// (EST runs over TLS)'),
  /** PEM files, relative to the configuration file. */
  clientCert: z.string({ message: 'is required for EST (TLS client authentication): a PEM file' }).min(1),
  clientKey: z.string({ message: 'is required for EST (TLS client authentication): a PEM file' }).min(1),
  tlsCa: z.string().min(1).optional(),
});

const fileSchema = z
  .array(z.discriminatedUnion('kind', [scepEntry, estEntry], { message: 'kind must be "scep" or "est"' }), { message: 'must be a JSON array of upstream CAs' })
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${u.name}" is used twice` });
      seen.add(u.name);
    });
  });

export type UpstreamEntry = z.infer<typeof fileSchema>[number];

export class UpstreamConfigError extends Error {
  constructor(file: string, problems: string[]) {
    super(`upstream CAs (MDMGW_UPSTREAM_CAS=${file}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'UpstreamConfigError';
  }
}

/** Reads and validates the file; throws UpstreamConfigError naming each problem. */
export async function readUpstreamConfig(file: string): Promise<UpstreamEntry[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new UpstreamConfigError(file, [e instanceof SyntaxError ? `not valid JSON: ${e.message}` : `cannot be read: ${(e as Error).message}`]);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    throw new UpstreamConfigError(
      file,
      parsed.error.issues.map((i) => {
        const [index, ...field] = i.path;
        const entry = typeof index === 'number' && Array.isArray(json) ? `entry ${index}${nameOf(json[index])}` : 'file';
        return `${entry}${field.length ? ` ${field.join('.')}` : ''}: ${i.message}`;
      }),
    );
  }
  return parsed.data;
}

function nameOf(entry: unknown): string {
  const n = (entry as { name?: unknown } | null)?.name;
  return typeof n === 'string' ? ` (${n})` : '';
}

/**
 * The connectors for the configured upstreams, by name. `signer` is the
 * gateway's current SCEP RA (what a SCEP upstream sees as the requester).
 */
export async function loadUpstreams(file: string, signer: () => Promise<KeyedCertificate>): Promise<Map<string, UpstreamConnector>> {
  const entries = await readUpstreamConfig(file);
  const dir = path.dirname(path.resolve(file));
  const pem = async (entry: UpstreamEntry, field: string, p: string) => {
    try {
      return await readFile(path.resolve(dir, p), 'utf8');
    } catch (e) {
      throw new UpstreamConfigError(file, [`entry ${entry.name} ${field}: cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
    }
  };
  const out = new Map<string, UpstreamConnector>();
  for (const e of entries) {
    const connector =
      e.kind === 'scep'
        ? new ScepUpstreamIssuer({ name: e.name, url: e.url, caFingerprint: e.caFingerprint, pollSeconds: e.pollSeconds, timeoutSeconds: e.timeoutSeconds, signer })
        : new EstUpstreamIssuer({
            name: e.name,
            url: e.url,
            clientCert: await pem(e, 'clientCert', e.clientCert),
            clientKey: await pem(e, 'clientKey', e.clientKey),
            ...(e.tlsCa && { tlsCa: await pem(e, 'tlsCa', e.tlsCa) }),
            caFingerprint: e.caFingerprint,
            pollSeconds: e.pollSeconds,
            timeoutSeconds: e.timeoutSeconds,
          });
    out.set(e.name, Object.assign(connector, { maxPendingHours: e.maxPendingHours }));
  }
  return out;
}
