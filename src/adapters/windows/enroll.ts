import type { AdapterServices } from '../../core/adapter.js';
import type { Device } from '../../core/model.js';
import type { SoapFault } from './soap.js';
import { type RequestSecurityToken, contextValue } from './wstep.js';
import { provisioningDoc } from './provisioning-doc.js';
import { readWindowsState, writeWindowsState } from './state.js';

// The enrollment decision for one RequestSecurityToken (MS-WSTEP over the
// OnPremise auth policy): look the one-time enrollment token up, check the UPN
// against the token's user (or the token's device's user), then spend the
// token, create or link the device record, issue the identity certificate from
// the device's PKCS#10 and build the provisioning document. Every refusal is a
// SOAP fault with the MS-MDE2 subcode (mobile-device-enrollment.md), never an
// exception. The token is only spent once the UPN matched, so a typo in the
// account name does not burn it.

export type EnrollOutcome = { ok: true; device: Device; provisioningDoc: string; thumbprint: string } | { ok: false; fault: SoapFault };

/** settings key: the Windows hardware DeviceID (AdditionalContext) -> our device id, to link re-enrollments. */
export const hardwareKey = (hardwareId: string) => `hardware.${hardwareId.toUpperCase()}`;

export async function enroll(s: AdapterServices, rst: RequestSecurityToken): Promise<EnrollOutcome> {
  const creds = rst.credentials;
  if (!creds) return { ok: false, fault: { code: 'Authentication', reason: 'a WS-Security UsernameToken (UPN and enrollment token) is required' } };
  if (rst.requestType && !/\/Issue$/.test(rst.requestType)) {
    return { ok: false, fault: { code: 'MessageFormat', reason: `RequestType ${rst.requestType} is not supported (only Issue)` } };
  }
  const tokenFault = async (reason: 'unknown' | 'used' | 'expired' | 'wrong-platform'): Promise<EnrollOutcome> => {
    await s.audit('windows.enrollment.refused', { upn: creds.username, reason: `token-${reason}` }, { reasonCode: 'ENROLLMENT_TOKEN_INVALID' });
    return { ok: false, fault: { code: 'Authentication', reason: `the enrollment token is ${reason === 'wrong-platform' ? 'not for Windows' : reason}` } };
  };
  const found = await s.peekEnrollmentToken(creds.password, 'windows');
  if (!found.ok) return tokenFault(found.reason);
  const token = found.token;
  let device: Device | null = token.deviceId ? await s.devices.get(token.deviceId) : null;
  if (token.deviceId && !device) return { ok: false, fault: { code: 'EnrollmentServer', reason: 'the device this enrollment token was made for no longer exists' } };
  const userId = token.userId ?? device?.userId ?? null;
  if (userId) {
    const user = await s.users.get(userId);
    if (!user || user.userPrincipalName.toLowerCase() !== creds.username.trim().toLowerCase()) {
      await s.audit('windows.enrollment.refused', { upn: creds.username, tokenId: token.id, reason: 'upn-mismatch' }, { reasonCode: 'ENROLLMENT_UPN_MISMATCH' });
      return { ok: false, fault: { code: 'Authorization', reason: 'this user is not authorized to enroll with this enrollment token' } };
    }
  }

  // Everything checked: spend the token now (a concurrent request may have won it).
  const spent = await s.consumeEnrollmentToken(creds.password, 'windows');
  if (!spent.ok) return tokenFault(spent.reason);

  const hardwareId = contextValue(rst, 'DeviceID');
  const deviceName = (contextValue(rst, 'DeviceName') ?? '').slice(0, 256) || 'Windows device';
  if (!device && hardwareId) {
    // Re-enrollment of a device we know (same hardware id, same user): link, don't duplicate.
    const known = await s.settings.get(hardwareKey(hardwareId));
    const existing = known ? await s.devices.get(known) : null;
    if (existing && existing.platform === 'windows' && existing.userId === userId) device = existing;
  }
  device ??= await s.devices.create({ name: deviceName, platform: 'windows', userId });

  const issued = await s.issueIdentityCertificate(device, rst.csrDer);
  if (!issued.ok) {
    return { ok: false, fault: { code: 'CertificateRequest', reason: `the certificate request was refused: ${issued.refusal.code}` } };
  }
  if (hardwareId) await s.settings.put(hardwareKey(hardwareId), device.id);
  const state = await readWindowsState(s, device.id);
  state.enrollment = {
    upn: creds.username,
    hardwareId: hardwareId ?? null,
    osVersion: contextValue(rst, 'OSVersion') ?? null,
    osEdition: contextValue(rst, 'OSEdition') ?? null,
    deviceType: contextValue(rst, 'DeviceType') ?? null,
    enrollmentType: contextValue(rst, 'EnrollmentType') ?? null,
    identityThumbprint: issued.identity.thumbprint,
    at: new Date().toISOString(),
  };
  if (state.enrollment.osVersion) state.osVersion = state.enrollment.osVersion;
  delete state.session;
  await writeWindowsState(s, device.id, state);
  await s.audit('windows.enrolled', { deviceId: device.id, hardwareId, tokenId: token.id, thumbprint: issued.identity.thumbprint }, { deviceId: device.id });

  const doc = provisioningDoc({
    rootDer: s.caCertificate,
    identityDer: issued.identity.certificate,
    identityStore: contextValue(rst, 'EnrollmentType') === 'Device' ? 'System' : 'User',
    managementUrl: `${s.publicUrl}/ManagementServer/MDM.svc`,
    deviceName: device.name,
  });
  return { ok: true, device, provisioningDoc: doc, thumbprint: issued.identity.thumbprint };
}
