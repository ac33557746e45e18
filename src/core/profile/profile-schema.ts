import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import {
  HASH_ALGORITHMS,
  KEY_PROTECTIONS,
  KEY_USAGES,
  SAN_TYPES,
  type KeyUsageName,
  type ProfileSpec,
} from '../model.js';
import { parseSubjectTemplate, SubjectSyntaxError } from './subject.js';
import { isKnownVariable, templateSyntaxProblem, templateVariables } from './variables.js';

// The one validation of what an admin writes. Every problem becomes an issue
// naming the field (`subjectAlternativeNames.1.value`), so the admin API can
// answer 400 with a list the UI can put next to each input. Unknown keys are
// refused (strict): a typo such as `keysize` must not silently become the default.

export const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

const DOTTED_OID = /^[0-2](\.(0|[1-9][0-9]*))+$/;

/** Adds an issue for each {{Variable}} the gateway does not know, and for stray braces. */
function checkTemplate(value: string, ctx: z.RefinementCtx): void {
  const syntax = templateSyntaxProblem(value);
  if (syntax) ctx.addIssue({ code: 'custom', message: syntax });
  for (const name of templateVariables(value)) {
    if (!isKnownVariable(name)) {
      ctx.addIssue({
        code: 'custom',
        message: `unknown variable {{${name}}} (built-in names such as {{DeviceName}}, or {{user.<attr>}} / {{device.<attr>}})`,
      });
    }
  }
}

const templated = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`).superRefine(checkTemplate);

const subjectNameSchema = templated(1024).superRefine((value, ctx) => {
  try {
    if (parseSubjectTemplate(value).length === 0) ctx.addIssue({ code: 'custom', message: 'must contain at least one RDN' });
  } catch (e) {
    if (!(e instanceof SubjectSyntaxError)) throw e;
    ctx.addIssue({ code: 'custom', message: `is not a valid subject name: ${e.message}` });
  }
});

const sanSchema = z.strictObject({
  type: z.enum(SAN_TYPES, { message: `must be one of ${SAN_TYPES.join(', ')}` }),
  value: templated(1024),
});

const httpUrl = z.string().refine((u) => {
  try {
    const p = new URL(u);
    return p.protocol === 'http:' || p.protocol === 'https:';
  } catch {
    return false;
  }
}, 'must be an absolute http:// or https:// URL');

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const trustedRootSchema = z
  .string()
  .trim()
  .superRefine((pem, ctx) => {
    const blocks = pem.match(PEM_CERT_RE) ?? [];
    if (blocks.length !== 1) {
      ctx.addIssue({ code: 'custom', message: 'must be exactly one PEM CERTIFICATE block' });
      return;
    }
    try {
      new X509Certificate(blocks[0]!);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'the PEM CERTIFICATE does not parse as an X.509 certificate' });
    }
  });

export const profileSpecSchema = z.strictObject({
  name: templated(200),
  scope: z.enum(['user', 'device'], { message: 'must be "user" or "device"' }),
  subjectName: subjectNameSchema,
  subjectAlternativeNames: z.array(sanSchema).max(20, 'at most 20 entries').default(() => []),
  extendedKeyUsages: z
    .array(z.string().regex(DOTTED_OID, 'must be a dotted OID such as 1.3.6.1.5.5.7.3.2'))
    .max(20, 'at most 20 entries')
    .default(() => [CLIENT_AUTH_EKU]),
  keyUsage: z
    .array(z.enum(KEY_USAGES, { message: `must be one of ${KEY_USAGES.join(', ')}` }))
    .default((): KeyUsageName[] => ['digitalSignature', 'keyEncipherment']),
  keySize: z.literal([1024, 2048, 4096], { message: 'must be 1024, 2048 or 4096' }).default(2048),
  hashAlgorithm: z.enum(HASH_ALGORITHMS, { message: `must be one of ${HASH_ALGORITHMS.join(', ')}` }).default('SHA-256'),
  validityDays: z
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be 1..3650')
    .max(3650, 'must be 1..3650')
    .default(365),
  renewalThresholdPercent: z
    .number({ message: 'must be a number' })
    .int('must be a whole number')
    .min(1, 'must be 1..99')
    .max(99, 'must be 1..99')
    .default(20),
  keyProtection: z.enum(KEY_PROTECTIONS, { message: `must be one of ${KEY_PROTECTIONS.join(', ')}` }).default('software'),
  keyExportable: z.boolean({ message: 'must be true or false' }).default(false),
  scepServerUrls: z.array(httpUrl).max(10, 'at most 10 URLs').default(() => []),
  trustedRootCertificate: trustedRootSchema.nullable().default(null),
  requireApproval: z.boolean({ message: 'must be true or false' }).default(false),
  revokeOnRemoval: z.boolean({ message: 'must be true or false' }).default(true),
  // Which CA issues (docs/upstream-ca.md); whether the name exists is checked by the admin API against the configured CAs.
  issuer: z.string({ message: 'must be a CA name' }).regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'must be a CA name: 1 to 32 lower-case letters, digits and "-"').optional(),
});

// Compile-time guarantee that the schema produces exactly a ProfileSpec.
type Parsed = z.output<typeof profileSpecSchema>;
const _sameShape: [Parsed, ProfileSpec] extends [ProfileSpec, Parsed] ? true : never = true;
void _sameShape;

export interface ProfileIssue {
  /** Dotted field path, e.g. `subjectAlternativeNames.0.value`; '' for the whole spec. */
  path: string;
  message: string;
}

export function parseProfileSpec(input: unknown): { ok: true; spec: ProfileSpec } | { ok: false; issues: ProfileIssue[] } {
  const r = profileSpecSchema.safeParse(input);
  if (r.success) return { ok: true, spec: r.data };
  return {
    ok: false,
    issues: r.error.issues.map((i) => {
      // Unknown keys are reported on the parent; name them in the path.
      const keys = i.code === 'unrecognized_keys' ? i.keys : [];
      const path = [...i.path, ...(keys.length === 1 ? keys : [])].map(String).join('.');
      return { path, message: i.message };
    }),
  };
}
