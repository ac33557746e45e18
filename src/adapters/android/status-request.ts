import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import type { DeliveryReport } from '../../core/adapter.js';
import { AGENT_ERROR_CODE_LIST } from './error-codes.js';
import { fieldIssues, type FieldIssue } from '../../core/field-issues.js';

// POST /android/v1/status: the agent's per-policy results.
//   installed: with the SHA-1 thumbprint and the KeyChain alias (and ideally
//              the certificate itself, so the gateway knows its validity)
//   failed:    with an error code from error-codes.ts
//   pending:   SCEP answered PENDING (approval) or work is under way
//   removed:   the agent removed the key pair of a policy no longer assigned

const uuid = z.string({ message: 'must be a string' }).regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a policy id (UUID)');
const version = z.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1');
const detail = z.string({ message: 'must be a string' }).max(512, 'at most 512 characters').optional();
const alias = z.string({ message: 'is required (the KeyChain alias)' }).min(1, 'must not be empty').max(128, 'at most 128 characters');

const installed = z.strictObject({
  policyId: uuid,
  policyVersion: version,
  state: z.literal('installed'),
  thumbprint: z.string({ message: 'is required (SHA-1 of the certificate, hex)' }).regex(/^[0-9A-Fa-f]{40}$/, 'must be 40 hex digits (SHA-1 of the certificate DER)'),
  alias,
  /** The installed certificate, DER base64: lets the gateway check the thumbprint and learn the validity. */
  certificate: z.string({ message: 'must be base64 DER' }).base64('must be base64 DER').max(16_384, 'at most 16384 characters').optional(),
  detail,
});
const failed = z.strictObject({
  policyId: uuid,
  policyVersion: version,
  state: z.literal('failed'),
  errorCode: z.enum(AGENT_ERROR_CODE_LIST, { message: `must be one of ${AGENT_ERROR_CODE_LIST.join(', ')} (docs/android.md)` }),
  detail,
});
const pending = z.strictObject({ policyId: uuid, policyVersion: version, state: z.literal('pending'), detail });
const removed = z.strictObject({ policyId: uuid, policyVersion: version, state: z.literal('removed'), alias: alias.optional(), detail });

const result = z.discriminatedUnion('state', [installed, failed, pending, removed], { message: 'state must be installed, failed, pending or removed' });
export const statusRequestSchema = z.strictObject({
  results: z.array(result, { message: 'must be an array of policy results' }).min(1, 'must hold at least one result').max(100, 'at most 100 results'),
});

export type PolicyResult = z.output<typeof result>;
export type InstalledResult = z.output<typeof installed>;

export interface CertificateFacts {
  thumbprint: string;
  notBefore: string;
  notAfter: string;
}

export type ParsedStatus = { ok: true; results: PolicyResult[]; certificates: Map<number, CertificateFacts> } | { ok: false; issues: FieldIssue[] };

/** Validates the body; a certificate sent with an installed result must parse and have the reported thumbprint. */
export function parseStatusRequest(body: unknown): ParsedStatus {
  const r = statusRequestSchema.safeParse(body ?? {});
  if (!r.success) {
    return {
      ok: false,
      issues: fieldIssues(r.error),
    };
  }
  const issues: FieldIssue[] = [];
  const certificates = new Map<number, CertificateFacts>();
  const seen = new Set<string>();
  r.data.results.forEach((res, i) => {
    if (seen.has(res.policyId)) issues.push({ path: `results.${i}.policyId`, message: 'appears twice' });
    seen.add(res.policyId);
    if (res.state !== 'installed' || res.certificate === undefined) return;
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(res.certificate, 'base64'));
    } catch {
      issues.push({ path: `results.${i}.certificate`, message: 'does not parse as an X.509 certificate' });
      return;
    }
    const thumbprint = cert.fingerprint.replace(/:/g, '').toUpperCase();
    if (thumbprint !== res.thumbprint.toUpperCase()) {
      issues.push({ path: `results.${i}.thumbprint`, message: 'is not the SHA-1 of the certificate sent with it' });
      return;
    }
    certificates.set(i, { thumbprint, notBefore: new Date(cert.validFrom).toISOString(), notAfter: new Date(cert.validTo).toISOString() });
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, results: r.data.results, certificates };
}

/** One agent result as core's delivery report. The KeyChain alias goes into the detail (core has no field for it). */
export function toDeliveryReport(r: PolicyResult): DeliveryReport {
  const aliasNote = 'alias' in r && r.alias ? `KeyChain alias ${r.alias}` : undefined;
  const detailText = [aliasNote, r.detail].filter(Boolean).join('; ') || undefined;
  return {
    profileId: r.policyId,
    profileVersion: r.policyVersion,
    state: r.state,
    ...(r.state === 'installed' && { thumbprint: r.thumbprint.toUpperCase() }),
    ...(r.state === 'failed' && { errorCode: r.errorCode }),
    ...(detailText !== undefined && { detail: detailText }),
  };
}
