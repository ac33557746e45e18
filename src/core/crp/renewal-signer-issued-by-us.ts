import { X509Certificate } from 'node:crypto';
import type { Target } from '../model.js';
import type { IssuanceStore } from '../storage/storage.js';
import { scepRequest, type Check } from './context.js';

/**
 * The certificate that signed the RenewalReq is one we issued: a stored
 * certificate with its serial number whose DER is byte-identical. (The SCEP
 * layer has already verified the pkiMessage signature with its key.) Its
 * record says what it was for: kind, profile, device, user.
 */
export const checkRenewalSignerIssuedByUs: Check = {
  name: 'renewalSignerIssuedByUs',
  summary: 'the signing certificate is byte-identical to one we issued, for a device or a user',
  refuses: ['RENEWAL_SIGNER_UNKNOWN', 'TARGET_UNKNOWN'],
  async run(ctx) {
    const der = Buffer.from(scepRequest(ctx, this.name).signerCertificate);
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch {
      return { code: 'RENEWAL_SIGNER_UNKNOWN', detail: 'the signer is not an X.509 certificate' };
    }
    const record = await findBySerial(ctx.deps.storage, x509.serialNumber);
    if (!record || !Buffer.from(record.der).equals(der)) {
      return {
        code: 'RENEWAL_SIGNER_UNKNOWN',
        detail: record ? 'a certificate with this serial number exists but the bytes differ' : 'no certificate with this serial number',
        received: { serialNumber: x509.serialNumber.toLowerCase(), issuer: x509.issuer.replace(/\n/g, ', ') },
      };
    }
    let target: Target;
    if (record.userId !== null) target = { kind: 'user', userId: record.userId, deviceId: record.deviceId };
    else if (record.deviceId !== null) target = { kind: 'device', deviceId: record.deviceId };
    else return { code: 'TARGET_UNKNOWN', detail: `certificate ${record.serialNumber} names neither a device nor a user` };
    ctx.signer = { record, x509 };
    ctx.basis = { kind: record.kind, profileId: record.profileId, profileVersion: null, target };
    return null;
  },
};

/** Node prints serials upper-case without leading zeros; try the spellings a store may use. */
async function findBySerial(storage: IssuanceStore, nodeSerial: string) {
  const bare = nodeSerial.toLowerCase().replace(/^0+(?=.)/, '');
  const even = bare.length % 2 === 1 ? `0${bare}` : bare;
  for (const candidate of new Set([bare, even, `00${even}`, nodeSerial.toLowerCase()])) {
    const found = await storage.getCertificate(candidate);
    if (found) return found;
  }
  return null;
}
