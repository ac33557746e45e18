import type { ReadyDelivery } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';

// The reference adapter's "platform protocol" is plain JSON: the smallest
// payload that still carries everything a real SCEP client needs. It exists to
// prove the adapter contract end to end before the real adapters do.

export interface ReferencePayload {
  profileId: string;
  profileVersion: number;
  scepUrl: string;
  challenge: string;
  subject: { type: string; value: string }[];
  subjectAlternativeNames: { type: string; value: string }[];
  extendedKeyUsages: string[];
  keyUsage: string[];
  keySize: number;
  hashAlgorithm: string;
  trustedRootPem: string;
  deviceId: string;
}

export function renderReference(device: Device, d: ReadyDelivery): ReferencePayload {
  return {
    profileId: d.profile.id,
    profileVersion: d.profile.version,
    scepUrl: d.scepUrl,
    challenge: d.challenge,
    subject: d.resolved.subject,
    subjectAlternativeNames: d.resolved.subjectAlternativeNames,
    extendedKeyUsages: d.resolved.extendedKeyUsages,
    keyUsage: d.resolved.keyUsage,
    keySize: d.resolved.keySize,
    hashAlgorithm: d.resolved.hashAlgorithm,
    trustedRootPem: d.trustedRootPem,
    deviceId: device.id,
  };
}
