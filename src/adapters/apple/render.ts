import type { ReadyDelivery } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import type { PlistDict } from './plist-codec.js';
import { caFingerprint, keyUsageBits, pemToDer, subjectAltNameDict, subjectArray } from './scep-payload.js';
import { uuidV5 } from './uuid.js';

// A core profile delivery becomes an Apple configuration profile: a
// com.apple.security.root payload with the root to trust and a
// com.apple.security.scep payload that makes the device generate its key and
// enroll over SCEP. Pure: the same device and delivery give the same bytes
// (golden files test this).
//
// PayloadIdentifier is stable per profile (so a new version replaces the
// installed one) and every PayloadUUID is derived from profile id + version
// (so re-sending the same version replaces rather than duplicates).

export const PROFILE_IDENTIFIER_PREFIX = 'com.mdm-gateway.profile';
export const SCEP_CA_NAME = 'mdm-gateway';

export function profileIdentifier(profileId: string): string {
  return `${PROFILE_IDENTIFIER_PREFIX}.${profileId}`;
}

export function profilePayloadUuids(profileId: string, version: number): { profile: string; scep: string; root: string } {
  const base = `profile:${profileId}:${version}`;
  return { profile: uuidV5(base), scep: uuidV5(`${base}:scep`), root: uuidV5(`${base}:root`) };
}

/** SCEP retry policy: an approval-gated profile answers PENDING, so the device keeps asking for longer. */
function retries(requireApproval: boolean): { Retries: number; RetryDelay: number } {
  return requireApproval ? { Retries: 10, RetryDelay: 60 } : { Retries: 3, RetryDelay: 10 };
}

/** Every CERTIFICATE block of a PEM text (during a CA rollover: the current root, then the retired ones still in use). */
export function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [pem];
}

/** One com.apple.security.root payload per root; the first keeps the identifier and UUID a single root always had. */
export function rootPayloads(rootsPem: string, identifier: string, uuidFor: (i: number) => string, displayName = 'Trusted root'): PlistDict[] {
  return pemBlocks(rootsPem).map((pem, i) => ({
    PayloadType: 'com.apple.security.root',
    PayloadVersion: 1,
    PayloadIdentifier: i === 0 ? identifier : `${identifier}.${i}`,
    PayloadUUID: uuidFor(i),
    PayloadDisplayName: i === 0 ? displayName : 'Trusted root',
    PayloadCertificateFileName: i === 0 ? 'root.cer' : `root-${i}.cer`,
    PayloadContent: pemToDer(pem),
  }));
}

/**
 * A subordinate CA's intermediates as com.apple.security.pkcs1 payloads: the
 * device can then build the path from its certificate to the root (which is
 * the only one it is told to trust).
 */
export function intermediatePayloads(pem: string, identifier: string, uuidFor: (i: number) => string): PlistDict[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block, i) => ({
    PayloadType: 'com.apple.security.pkcs1',
    PayloadVersion: 1,
    PayloadIdentifier: `${identifier}.${i}`,
    PayloadUUID: uuidFor(i),
    PayloadDisplayName: 'Intermediate CA',
    PayloadCertificateFileName: `intermediate-${i}.cer`,
    PayloadContent: pemToDer(block),
  }));
}

export const TRUST_PROFILE_IDENTIFIER = 'com.mdm-gateway.trust';

/**
 * After a CA rollover: a profile with only the roots in use (current first),
 * sent before any certificate is re-issued under the new CA (core/ca-rollover.ts).
 * Its identifier is fixed, so a later rollover replaces it.
 */
export function renderTrustProfile(rootsPem: string, caId: string): PlistDict {
  const base = `trust:${caId}`;
  return {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: TRUST_PROFILE_IDENTIFIER,
    PayloadUUID: uuidV5(base),
    PayloadDisplayName: 'Trusted roots',
    PayloadDescription: 'The certificate authorities of this organization, installed before certificates are renewed under a new one.',
    PayloadOrganization: 'mdm-gateway',
    PayloadContent: rootPayloads(rootsPem, `${TRUST_PROFILE_IDENTIFIER}.root`, (i) => uuidV5(`${base}:root:${i}`)),
  };
}

export function renderProfile(device: Device, d: ReadyDelivery): PlistDict {
  const p = d.profile;
  const id = profileIdentifier(p.id);
  const uuids = profilePayloadUuids(p.id, p.version);
  const r = d.resolved;

  const scep: PlistDict = {
    URL: d.scepUrl,
    // iOS sends Name as GetCACert's message: a profile of a named CA (ca/registry.ts) asks for that CA's chain.
    Name: d.caName && d.caName !== 'default' ? d.caName : SCEP_CA_NAME,
    Subject: subjectArray(r.subject),
    Challenge: d.challenge,
    Keysize: r.keySize,
    'Key Type': 'RSA',
    ...retries(p.requireApproval),
    KeyIsExtractable: p.keyExportable,
    AllowAllAppsAccess: false,
  };
  const bits = keyUsageBits(r.keyUsage);
  if (bits !== 0) scep['Key Usage'] = bits;
  const san = subjectAltNameDict(r.subjectAlternativeNames);
  if (san) scep.SubjectAltName = san;
  // Only when the root to trust is our own CA, which is what our SCEP endpoint's GetCACert returns.
  if (p.trustedRootCertificate === null) scep.CAFingerprint = caFingerprint(d.trustedRootPem);

  const top: PlistDict = {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: id,
    PayloadUUID: uuids.profile,
    PayloadDisplayName: p.name,
    PayloadDescription: `Certificate "${p.name}" (profile version ${p.version}), enrolled over SCEP.`,
    PayloadOrganization: 'mdm-gateway',
    PayloadContent: [
      ...rootPayloads(d.trustedRootPem, `${id}.root`, (i) => (i === 0 ? uuids.root : uuidV5(`profile:${p.id}:${p.version}:root:${i}`))),
      ...intermediatePayloads(d.intermediatesPem ?? '', `${id}.ca`, (i) => uuidV5(`profile:${p.id}:${p.version}:ca:${i}`)),
      {
        PayloadType: 'com.apple.security.scep',
        PayloadVersion: 1,
        PayloadIdentifier: `${id}.scep`,
        PayloadUUID: uuids.scep,
        PayloadDisplayName: p.name,
        PayloadContent: scep,
      },
    ],
  };
  if (device.platform === 'macos') top.PayloadScope = p.scope === 'user' ? 'User' : 'System';
  return top;
}
