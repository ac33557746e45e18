import { createHash } from 'node:crypto';
import type { AdapterServices, Refusal } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import type { EnrollOutcome } from './enroll.js';
import { renewalProvisioningDoc } from './provisioning-doc.js';
import { identityStanding, readWindowsState, writeWindowsState } from './state.js';
import type { RequestSecurityToken } from './wstep.js';

// MS-WSTEP automatic renewal (ROBO) of the device identity
// (certificate-renewal-windows-mdm.md): RequestType .../Renew, no user token;
// the client authenticates with its current MDM certificate over TLS
// (AdapterServices.presentedDevice: the TLS client certificate, or the trusted
// proxy's header), and the BinarySecurityToken is a PKCS#7 around a new
// PKCS#10, signed with that same certificate. The server checks, as the page
// lists: the PKCS#7 signature, that the certificate is ours and the device's
// current identity (the same requester), that it is inside its renewal
// period, and that the device is not blocked (core's renewIdentityCertificate,
// which also wants the CSR's subject to be the one the device enrolled with).
// The answer is the new certificate in the same wap-provisioningdoc shape. The
// old identity keeps working until the device uses the new one (then core
// revokes it, superseded; routes.ts makes the new one current).

const sha1 = (der: Uint8Array) => createHash('sha1').update(der).digest('hex').toUpperCase();

/** The PKCS#7 content: the PKCS#10 as DER (automatic renewal), or base64 of it (manual renewal). */
function csrOf(content: Uint8Array): Uint8Array {
  if (content[0] === 0x30) return content;
  const text = Buffer.from(content).toString('latin1').replace(/\s+/g, '');
  return /^[A-Za-z0-9+/]+={0,2}$/.test(text) ? new Uint8Array(Buffer.from(text, 'base64')) : content;
}

export async function renew(
  s: AdapterServices,
  rst: RequestSecurityToken,
  presented: { device: Device; thumbprint: string } | null,
  now: Date,
): Promise<EnrollOutcome> {
  const refused = async (fault: EnrollOutcome & { ok: false }, reason: string, deviceId?: string, reasonCode?: string) => {
    await s.audit('windows.renewal.refused', { reason, detail: fault.fault.reason, ...(deviceId && { deviceId }) }, { ...(deviceId && { deviceId }), ...(reasonCode && { reasonCode }) });
    return fault;
  };
  if (!presented) {
    return refused(
      { ok: false, fault: { code: 'Authentication', reason: 'renewal authenticates with the current MDM certificate as the TLS client certificate; none that is valid and current was presented' } },
      'no-client-certificate',
    );
  }
  const { device } = presented;
  if (rst.tokenType !== 'PKCS7') {
    return refused({ ok: false, fault: { code: 'MessageFormat', reason: 'a renewal BinarySecurityToken is a PKCS#7 signed with the current certificate' } }, 'not-pkcs7', device.id);
  }
  const opened = s.openSignedContent(rst.csrDer);
  if (!opened.ok) return refused({ ok: false, fault: { code: 'MessageFormat', reason: opened.reason } }, 'pkcs7', device.id);
  // The requester is the one that enrolled: the PKCS#7 is signed with the very certificate the TLS session proved.
  if (sha1(opened.signerCertificate) !== presented.thumbprint) {
    return refused({ ok: false, fault: { code: 'Authorization', reason: 'the PKCS#7 is not signed with the certificate the client authenticated with' } }, 'signer-not-client', device.id);
  }
  const state = await readWindowsState(s, device.id);
  if (identityStanding(state, presented.thumbprint) === null) {
    return refused({ ok: false, fault: { code: 'Authorization', reason: 'this certificate is not the identity of the device\'s current Windows enrollment' } }, 'identity-not-current', device.id);
  }
  const current = await s.certificates.byThumbprint(presented.thumbprint);
  if (!current) return refused({ ok: false, fault: { code: 'Authentication', reason: 'the client certificate is not in the issuance record' } }, 'unknown-certificate', device.id);

  const issued = await s.renewIdentityCertificate(device, csrOf(opened.content), current.serialNumber);
  if (!issued.ok) {
    // Core audited the refusal (identity.refused).
    if (issued.refusal.code === 'INTERNAL_ERROR') return { ok: false, fault: { code: 'EnrollmentServer', reason: 'the enrollment server could not issue the certificate; try again later' } };
    if (issued.refusal.code === 'DEVICE_BLOCKED') return { ok: false, fault: { code: 'Authorization', reason: 'DEVICE_BLOCKED: an administrator has blocked this device' } };
    return { ok: false, fault: { code: 'CertificateRequest', reason: `the renewal was refused: ${refusalText(issued.refusal)}` } };
  }
  const identity = issued.identity;
  const enrollment = state.enrollment!;
  enrollment.renewal = { thumbprint: identity.thumbprint, of: presented.thumbprint, at: now.toISOString() };
  await writeWindowsState(s, device.id, state);
  await s.audit('windows.identity.renewed', { deviceId: device.id, thumbprint: identity.thumbprint, renewalOf: presented.thumbprint, serialNumber: identity.serialNumber }, { deviceId: device.id });
  const doc = renewalProvisioningDoc({ identityDer: identity.certificate, identityStore: enrollment.enrollmentType === 'Device' ? 'System' : 'User' });
  return { ok: true, device, provisioningDoc: doc, thumbprint: identity.thumbprint };
}

function refusalText(r: Refusal): string {
  return r.expected === undefined ? r.code : `${r.code} (expected ${String(r.expected)}, received ${String(r.received)})`;
}
