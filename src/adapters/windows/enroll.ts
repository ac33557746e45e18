import 'reflect-metadata';
import { createPublicKey } from 'node:crypto';
import { Pkcs10CertificateRequest } from '@peculiar/x509';
import type { AdapterServices } from '../../core/adapter.js';
import { SCEP_LIMITS } from '../../core/input-limits.js';
import { parseBer } from '../../scep/codec/ber-reader.js';
import type { TokenRefusal } from '../../core/enrollment-tokens.js';
import type { Device } from '../../core/model.js';
import type { SoapFault } from './soap.js';
import { type RequestSecurityToken, contextValue } from './wstep.js';
import { provisioningDoc } from './provisioning-doc.js';
import { readWindowsState, writeWindowsState } from './state.js';
import { bindDevice, hardwareKey } from './device-binding.js';

// The enrollment decision for one RequestSecurityToken (MS-WSTEP over the
// OnPremise auth policy): look the one-time enrollment token up, check the UPN
// against the token's user (or the token's device's user), then spend the
// token, create or link the device record, issue the identity certificate from
// the device's PKCS#10 and build the provisioning document. Every refusal is a
// SOAP fault with the MS-MDE2 subcode (mobile-device-enrollment.md), never an
// exception. The token is only spent once everything else passed (UPN, CSR,
// which device this is: device-binding.ts), so a refusal does not burn it.
// The DeviceName the client sends is a reported value, never the admin's name.

const MAX_DEVICE_ID = 128;

export type EnrollOutcome = { ok: true; device: Device; provisioningDoc: string; thumbprint: string } | { ok: false; fault: SoapFault };

/** An AdditionalContext value as kept in the device state: at most 256 characters. */
function context(rst: RequestSecurityToken, name: string): string | null {
  return contextValue(rst, name)?.slice(0, 256) ?? null;
}

/** `presented`: the identity certificate the request came with (AdapterServices.presentedDevice), if any. */
export async function enroll(
  s: AdapterServices,
  rst: RequestSecurityToken,
  presented: { device: Device; thumbprint: string } | null = null,
): Promise<EnrollOutcome> {
  const creds = rst.credentials;
  if (!creds) return { ok: false, fault: { code: 'Authentication', reason: 'a WS-Security UsernameToken (UPN and enrollment token) is required' } };
  if (rst.requestType && !/\/Issue$/.test(rst.requestType)) {
    return { ok: false, fault: { code: 'MessageFormat', reason: `RequestType ${rst.requestType} is not supported (only Issue)` } };
  }
  const tokenFault = async (reason: TokenRefusal): Promise<EnrollOutcome> => {
    if (reason === 'device-blocked') {
      // The token is left unspent: it works again once the admin unblocks the device.
      await s.audit('windows.enrollment.refused', { upn: creds.username, reason }, { reasonCode: 'DEVICE_BLOCKED' });
      return { ok: false, fault: { code: 'Authorization', reason: 'DEVICE_BLOCKED: the device this enrollment token is for is blocked by an administrator' } };
    }
    await s.audit('windows.enrollment.refused', { upn: creds.username, reason: `token-${reason}` }, { reasonCode: 'ENROLLMENT_TOKEN_INVALID' });
    return { ok: false, fault: { code: 'Authentication', reason: `the enrollment token is ${reason === 'wrong-platform' ? 'not for Windows' : reason}` } };
  };
  const found = await s.peekEnrollmentToken(creds.password, 'windows');
  if (!found.ok) return tokenFault(found.reason);
  const token = found.token;
  const tokenDevice: Device | null = token.deviceId ? await s.devices.get(token.deviceId) : null;
  if (token.deviceId && !tokenDevice) return { ok: false, fault: { code: 'EnrollmentServer', reason: 'the device this enrollment token was made for no longer exists' } };
  const userId = token.userId ?? tokenDevice?.userId ?? null;
  if (userId) {
    const user = await s.users.get(userId);
    if (!user || user.userPrincipalName.toLowerCase() !== creds.username.trim().toLowerCase()) {
      await s.audit('windows.enrollment.refused', { upn: creds.username, tokenId: token.id, reason: 'upn-mismatch' }, { reasonCode: 'ENROLLMENT_UPN_MISMATCH' });
      return { ok: false, fault: { code: 'Authorization', reason: 'this user is not authorized to enroll with this enrollment token' } };
    }
  }

  // A CSR that cannot be certified is refused before the token is spent or a device record made
  // (core's identity policy still decides for real when it issues).
  const csrProblem = await csrPrecheck(rst.csrDer);
  if (csrProblem) return { ok: false, fault: { code: 'CertificateRequest', reason: `the certificate request was refused: ${csrProblem}` } };

  // Which device this is: a DeviceID bound to an enrolled device needs that device's proof (device-binding.ts).
  const hardwareId = contextValue(rst, 'DeviceID')?.trim() || null;
  // Real DeviceIDs are GUID-sized; the id keys the binding setting, so it is bounded.
  if (hardwareId && hardwareId.length > MAX_DEVICE_ID) {
    return { ok: false, fault: { code: 'MessageFormat', reason: `the DeviceID is longer than ${MAX_DEVICE_ID} characters` } };
  }
  const binding = await bindDevice(s, { tokenDevice, userId, hardwareId, presented });
  if (!binding.ok) {
    await s.audit(
      'windows.enrollment.refused',
      { upn: creds.username, tokenId: token.id, reason: binding.reason, hardwareId, claimedDeviceId: binding.claimedBy, presentedDeviceId: presented?.device.id ?? null },
      { reasonCode: 'ENROLLMENT_DEVICE_CLAIMED' },
    );
    return { ok: false, fault: binding.fault };
  }

  // Everything checked: spend the token now (a concurrent request may have won it).
  const spent = await s.consumeEnrollmentToken(creds.password, 'windows');
  if (!spent.ok) return tokenFault(spent.reason);

  const reportedName = context(rst, 'DeviceName');
  let device = binding.device;
  if (device) device = await s.devices.report(device, { name: reportedName });
  else device = await s.devices.create({ platform: 'windows', userId, reported: { name: reportedName } });

  const issued = await s.issueIdentityCertificate(device, rst.csrDer);
  if (!issued.ok) {
    return { ok: false, fault: { code: 'CertificateRequest', reason: `the certificate request was refused: ${issued.refusal.code}` } };
  }
  if (hardwareId) await s.settings.put(hardwareKey(hardwareId), device.id);
  const state = await readWindowsState(s, device.id);
  // A new enrollment is a new DM client (a reset device has none of our certificates): deliver everything again.
  state.profiles = {};
  state.undeliverable = {};
  state.enrollment = {
    upn: creds.username,
    hardwareId: hardwareId ?? null,
    osVersion: context(rst, 'OSVersion'),
    osEdition: context(rst, 'OSEdition'),
    deviceType: context(rst, 'DeviceType'),
    enrollmentType: context(rst, 'EnrollmentType'),
    identityThumbprint: issued.identity.thumbprint,
    at: new Date().toISOString(),
  };
  if (state.enrollment.osVersion) state.osVersion = state.enrollment.osVersion;
  delete state.session;
  await writeWindowsState(s, device.id, state);
  await s.audit('windows.enrolled', { deviceId: device.id, hardwareId, tokenId: token.id, thumbprint: issued.identity.thumbprint, proof: binding.proof }, { deviceId: device.id });

  const doc = provisioningDoc({
    rootDer: s.caCertificate,
    identityDer: issued.identity.certificate,
    identityStore: contextValue(rst, 'EnrollmentType') === 'Device' ? 'System' : 'User',
    managementUrl: `${s.publicUrl}/ManagementServer/MDM.svc`,
    // What the device shows as its enrollment's name: the admin's, else its own.
    deviceName: device.name ?? device.reported.name ?? 'Windows device',
  });
  return { ok: true, device, provisioningDoc: doc, thumbprint: issued.identity.thumbprint };
}

/** A light check of the PKCS#10 before anything is spent: it parses, its signature verifies, RSA >= 2048 bits or EC P-256/P-384. */
export async function csrPrecheck(der: Uint8Array): Promise<string | null> {
  // Core's CSR parser (the one issuance uses) bounds size and BER elements: a request past them would
  // be refused only after the token is spent; and @peculiar/x509 below reads with asn1js's looser defaults.
  if (der.length > SCEP_LIMITS.maxCsrBytes) return `the PKCS#10 request is larger than ${SCEP_LIMITS.maxCsrBytes} bytes`;
  try {
    parseBer(der, 'PKCS#10 request');
  } catch (e) {
    return `not a PKCS#10 certificate request (${(e as Error).message})`;
  }
  let csr: Pkcs10CertificateRequest;
  try {
    csr = new Pkcs10CertificateRequest(der);
  } catch {
    return 'not a PKCS#10 certificate request';
  }
  try {
    if (!(await csr.verify())) return 'the PKCS#10 signature does not verify';
  } catch {
    return 'the PKCS#10 signature cannot be verified';
  }
  try {
    const key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
    // The same keys core's identity policy certifies (identity-issuance.ts): anything else would be
    // refused only after the token is spent and the device record made.
    if (key.asymmetricKeyType === 'ec') {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return curve === 'prime256v1' || curve === 'secp384r1' ? null : `an EC key on ${curve ?? 'an unnamed curve'} is not accepted (P-256 or P-384)`;
    }
    if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return null;
    return key.asymmetricKeyType === 'rsa' ? `the RSA key has ${key.asymmetricKeyDetails?.modulusLength} bits (at least 2048 required)` : `a ${key.asymmetricKeyType} key is not accepted (RSA or EC)`;
  } catch {
    return 'the public key does not parse';
  }
}
