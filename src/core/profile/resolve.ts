import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical-json.js';
import type { Device, Profile, RdnAttribute, ResolvedRequest, SanEntry, Target, User } from '../model.js';
import { modelRdnType } from '../rdn-types.js';
import { parseSubjectTemplate } from './subject.js';
import { fillTemplate } from './variables.js';
import { SID_ATTRIBUTE, sidUri, targetSid } from './security-identifier.js';

// A profile + a target + the directory = the exact request a CSR must match.
// Templates are filled one field at a time after the subject template has
// been split into RDNs, so directory values (a display name "Doe, Jane") are
// data, never syntax. RDN types leave here in model.ts's vocabulary (CN, OU,
// O, L, ST, C, E, SERIALNUMBER, DC, UID, else the dotted OID), which is what
// the CA encodes and the CSR parser reports.

export interface AttributeMissing {
  code: 'ATTRIBUTE_MISSING';
  /** The variable without braces, e.g. `SerialNumber` or `user.employeeId`. */
  variable: string;
  /** The profile field it is used in, e.g. `subjectName` or `subjectAlternativeNames.0`. */
  field: string;
  /** The admin set no value and the one the device reported collides with another device's. */
  reportedConflict?: true;
  /** The value exists but is unusable, e.g. an ObjectSid that is not `S-1-...` syntax. */
  invalid?: string;
}

export type ResolveResult = { ok: true; resolved: ResolvedRequest } | { ok: false; error: AttributeMissing };

// A profile's subject template is parsed once per template text, not once per
// delivery (issue 13: 8% of an Android fetch's own CPU): the parsed RDNs are
// only read here. Bounded (the oldest entry goes); a template that does not
// parse is not kept and throws every time.
const SUBJECT_TEMPLATES_MAX = 256;
const subjectTemplates = new Map<string, readonly Readonly<RdnAttribute>[]>();

function subjectTemplate(text: string): readonly Readonly<RdnAttribute>[] {
  let rdns = subjectTemplates.get(text);
  if (!rdns) {
    rdns = Object.freeze(parseSubjectTemplate(text).map((r) => Object.freeze(r)));
    if (subjectTemplates.size >= SUBJECT_TEMPLATES_MAX) subjectTemplates.delete(subjectTemplates.keys().next().value!);
    subjectTemplates.set(text, rdns);
  }
  return rdns;
}

export function resolveRequest(
  profile: Profile,
  target: Target,
  dir: { user: User | null; device: Device | null },
): ResolveResult {
  const subject: RdnAttribute[] = [];
  for (const rdn of subjectTemplate(profile.subjectName)) {
    const filled = fillTemplate(rdn.value, dir);
    if (!filled.ok) return missing(filled, 'subjectName');
    subject.push({ type: modelRdnType(rdn.type), value: filled.value.trim() });
  }
  // The SID is needed by a sid-url SAN or the security extension: resolved once, refused with the field that asked.
  const sid = targetSid(target.kind, dir);
  const sidFor = (field: string): { ok: true; sid: string } | { ok: false; result: ResolveResult } =>
    sid.ok ? sid : { ok: false, result: sidProblem(sid.problem, target.kind, field) };
  const sans: SanEntry[] = [];
  for (const [i, san] of profile.subjectAlternativeNames.entries()) {
    if (san.type === 'sid-url') {
      const s = sidFor(`subjectAlternativeNames.${i}`);
      if (!s.ok) return s.result;
      // A plain URI from here on: the CSR carries it as one and the CA encodes it as one.
      sans.push({ type: 'uri', value: sidUri(s.sid) });
      continue;
    }
    const filled = fillTemplate(san.value, dir);
    if (!filled.ok) return missing(filled, `subjectAlternativeNames.${i}`);
    sans.push({ type: san.type, value: filled.value.trim() });
  }
  let securityIdentifier: string | undefined;
  if (profile.sidExtension) {
    const s = sidFor('sidExtension');
    if (!s.ok) return s.result;
    securityIdentifier = s.sid;
  }
  return {
    ok: true,
    resolved: {
      profileId: profile.id,
      profileVersion: profile.version,
      target: copyTarget(target),
      subject,
      subjectAlternativeNames: sans,
      extendedKeyUsages: [...profile.extendedKeyUsages],
      keyUsage: [...profile.keyUsage],
      keySize: profile.keySize,
      hashAlgorithm: profile.hashAlgorithm,
      validityDays: profile.validityDays,
      ...(securityIdentifier !== undefined && { securityIdentifier }),
    },
  };
}

function sidProblem(problem: 'missing' | 'invalid', scope: 'user' | 'device', field: string): ResolveResult {
  const variable = `${scope}.${SID_ATTRIBUTE}`;
  if (problem === 'missing') return { ok: false, error: { code: 'ATTRIBUTE_MISSING', variable, field } };
  return { ok: false, error: { code: 'ATTRIBUTE_MISSING', variable, field, invalid: 'is not a SID (S-1-<authority>-<sub-authority>...)' } };
}

function missing(f: { missing: string; reportedConflict?: true }, field: string): ResolveResult {
  return { ok: false, error: { code: 'ATTRIBUTE_MISSING', variable: f.missing, field, ...(f.reportedConflict && { reportedConflict: true as const }) } };
}

function copyTarget(t: Target): Target {
  return t.kind === 'device' ? { kind: 'device', deviceId: t.deviceId } : { kind: 'user', userId: t.userId, deviceId: t.deviceId };
}

export const IDENTITY_ORGANIZATION = 'mdm-gateway device identity';
/** The RSA floor of device identity keys (EC: P-256 or P-384, core/key-policy.ts). */
export const IDENTITY_KEY_SIZE = 2048;
/** Validity of a device identity certificate; adapters that announce it (Windows GetPolicies) read it here. */
export const IDENTITY_VALIDITY_DAYS = 365;

/** The device identity certificate: no admin profile; the gateway's fixed shape. */
export function identityRequest(device: Pick<Device, 'id'>): ResolvedRequest {
  return {
    profileId: null,
    profileVersion: null,
    target: { kind: 'device', deviceId: device.id },
    subject: [
      { type: 'CN', value: device.id },
      { type: 'O', value: IDENTITY_ORGANIZATION },
    ],
    subjectAlternativeNames: [],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    keySize: IDENTITY_KEY_SIZE,
    hashAlgorithm: 'SHA-256',
    validityDays: IDENTITY_VALIDITY_DAYS,
  };
}

export { canonicalJson };


/**
 * SHA-256 over the canonical JSON of a resolved request (32 bytes). A check-in
 * computes it once per delivery (core/delivery.ts) for both the challenge's
 * digest and the adapter's fingerprint of the request (issue 13).
 */
export function requestSha256(r: ResolvedRequest): Buffer {
  return createHash('sha256').update(canonicalJson(r), 'utf8').digest();
}

/** First 16 bytes of SHA-256 over the canonical JSON: what a challenge commits to. */
export function requestDigestBytes(r: ResolvedRequest): Buffer {
  return requestSha256(r).subarray(0, 16);
}

/** requestDigestBytes as base64 (24 characters). */
export function requestDigest(r: ResolvedRequest): string {
  return requestDigestBytes(r).toString('base64');
}
