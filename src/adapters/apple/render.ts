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

export function renderProfile(device: Device, d: ReadyDelivery): PlistDict {
  const p = d.profile;
  const id = profileIdentifier(p.id);
  const uuids = profilePayloadUuids(p.id, p.version);
  const r = d.resolved;

  const scep: PlistDict = {
    URL: d.scepUrl,
    Name: SCEP_CA_NAME,
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
      {
        PayloadType: 'com.apple.security.root',
        PayloadVersion: 1,
        PayloadIdentifier: `${id}.root`,
        PayloadUUID: uuids.root,
        PayloadDisplayName: 'Trusted root',
        PayloadCertificateFileName: 'root.cer',
        PayloadContent: pemToDer(d.trustedRootPem),
      },
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
