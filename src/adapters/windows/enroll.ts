import type { AdapterServices, Refusal } from '../../core/adapter.js';
import type { ConsumeFailure } from '../../core/enrollment-tokens.js';
import type { Device } from '../../core/model.js';
import type { SoapFault } from './soap.js';
import { type RequestSecurityToken, contextValue } from './wstep.js';
import { RENEW_RETRY_INTERVAL_DAYS, provisioningDoc, renewPeriodDays } from './provisioning-doc.js';
import { IDENTITY_RENEWAL_THRESHOLD_PERCENT } from '../../core/identity-renewal.js';
import { readWindowsState, writeWindowsState } from './state.js';
import { bindDevice, hardwareKey, type Proof } from './device-binding.js';

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

/**
 * `presented`: the identity certificate the request came with (AdapterServices.presentedDevice), if any.
 * `now`: the adapter's clock (createWindowsAdapter's `now`), for what the state records.
 */
export async function enroll(
  s: AdapterServices,
  rst: RequestSecurityToken,
  presented: { device: Device; thumbprint: string } | null,
  now: Date,
): Promise<EnrollOutcome> {
  const creds = rst.credentials;
  if (!creds) return { ok: false, fault: { code: 'Authentication', reason: 'a WS-Security UsernameToken (UPN and enrollment token) is required' } };
  if (rst.requestType && !/\/Issue$/.test(rst.requestType)) {
    return { ok: false, fault: { code: 'MessageFormat', reason: `RequestType ${rst.requestType} is not supported (only Issue and Renew)` } };
  }
  if (rst.tokenType !== 'PKCS10') return { ok: false, fault: { code: 'MessageFormat', reason: 'an enrollment (Issue) carries a PKCS#10 BinarySecurityToken; PKCS#7 is for renewal' } };
  const tokenFault = async (reason: ConsumeFailure): Promise<EnrollOutcome> => {
    await s.audit('windows.enrollment.refused', { upn: creds.username, reason: `token-${reason}` }, { reasonCode: 'ENROLLMENT_TOKEN_INVALID' });
    return { ok: false, fault: { code: 'Authentication', reason: `the enrollment token is ${reason === 'wrong-platform' ? 'not for Windows' : reason}` } };
  };
  // Which device this is: a DeviceID bound to an enrolled device needs that device's proof (device-binding.ts).
  const hardwareId = contextValue(rst, 'DeviceID')?.trim() || null;
  let proof: Proof = 'new-device';
  // Core runs every check before the token is spent (core/token-redemption.ts): the token's device exists
  // and is not blocked, the UPN is the token's user's, then this check; a refusal burns nothing.
  const redeemed = await s.redeemEnrollmentToken<SoapFault>(creds.password, {
    userMatches: async (user, token) => {
      if (user && user.userPrincipalName.toLowerCase() === creds.username.trim().toLowerCase()) return true;
      await s.audit('windows.enrollment.refused', { upn: creds.username, tokenId: token.id, reason: 'upn-mismatch' }, { reasonCode: 'ENROLLMENT_UPN_MISMATCH' });
      return false;
    },
    check: async ({ token, device: tokenDevice, userId }) => {
      // A CSR that cannot be certified is refused before the token is spent or a device record made:
      // core's own check, the one issuance runs (same parser, same key policy), so the two cannot disagree.
      const csrRefusal = await s.precheckIdentityCsr(rst.csrDer);
      if (csrRefusal) {
        await s.audit('windows.enrollment.refused', { upn: creds.username, tokenId: token.id, reason: 'csr', detail: refusalText(csrRefusal) }, { reasonCode: csrRefusal.code });
        return { refuse: { code: 'CertificateRequest', reason: `the certificate request was refused: ${refusalText(csrRefusal)}` } };
      }
      // Real DeviceIDs are GUID-sized; the id keys the binding setting, so it is bounded.
      if (hardwareId && hardwareId.length > MAX_DEVICE_ID) return { refuse: { code: 'MessageFormat', reason: `the DeviceID is longer than ${MAX_DEVICE_ID} characters` } };
      const binding = await bindDevice(s, { tokenDevice, userId, hardwareId, presented });
      if (!binding.ok) {
        await s.audit(
          'windows.enrollment.refused',
          { upn: creds.username, tokenId: token.id, reason: binding.reason, hardwareId, claimedDeviceId: binding.claimedBy, presentedDeviceId: presented?.device.id ?? null },
          { reasonCode: 'ENROLLMENT_DEVICE_CLAIMED' },
        );
        return { refuse: binding.fault };
      }
      proof = binding.proof;
      return { device: binding.device };
    },
    reported: { name: context(rst, 'DeviceName') },
  });
  if (!redeemed.ok) {
    switch (redeemed.reason) {
      case 'check':
        return { ok: false, fault: redeemed.refusal };
      case 'user-mismatch':
        return { ok: false, fault: { code: 'Authorization', reason: 'this user is not authorized to enroll with this enrollment token' } };
      case 'device-missing':
        return { ok: false, fault: { code: 'EnrollmentServer', reason: 'the device this enrollment token was made for no longer exists' } };
      case 'device-blocked':
        await s.audit('windows.enrollment.refused', { upn: creds.username, tokenId: redeemed.token.id, reason: 'device-blocked' }, { reasonCode: 'DEVICE_BLOCKED', deviceId: redeemed.device.id });
        return { ok: false, fault: { code: 'Authorization', reason: 'DEVICE_BLOCKED: an administrator has blocked the device this enrollment token was made for' } };
      default:
        return tokenFault(redeemed.reason);
    }
  }
  const { token, device } = redeemed;

  const issued = await s.issueIdentityCertificate(device, rst.csrDer);
  if (!issued.ok) {
    // Core audited the refusal (identity.refused). A CA failure is ours, not the request's: the
    // EnrollmentServer fault (503), which the client reports as a server error to retry later.
    if (issued.refusal.code === 'INTERNAL_ERROR') return { ok: false, fault: { code: 'EnrollmentServer', reason: 'the enrollment server could not issue the certificate; try again later' } };
    return { ok: false, fault: { code: 'CertificateRequest', reason: `the certificate request was refused: ${refusalText(issued.refusal)}` } };
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
    at: now.toISOString(),
  };
  if (state.enrollment.osVersion) state.osVersion = state.enrollment.osVersion;
  delete state.session;
  await writeWindowsState(s, device.id, state);
  await s.audit('windows.enrolled', { deviceId: device.id, hardwareId, tokenId: token.id, thumbprint: issued.identity.thumbprint, proof }, { deviceId: device.id });

  const doc = provisioningDoc({
    rootDer: s.caCertificate,
    identityDer: issued.identity.certificate,
    identityStore: contextValue(rst, 'EnrollmentType') === 'Device' ? 'System' : 'User',
    managementUrl: `${s.publicUrl}/ManagementServer/MDM.svc`,
    // What the device shows as its enrollment's name: the admin's, else its own.
    deviceName: device.name ?? device.reported.name ?? 'Windows device',
    renewal: {
      serverUrl: `${s.publicUrl}/EnrollmentServer/Enrollment.svc`,
      renewPeriodDays: renewPeriodDays(issued.identity.certificate, IDENTITY_RENEWAL_THRESHOLD_PERCENT),
      retryIntervalDays: RENEW_RETRY_INTERVAL_DAYS,
    },
  });
  return { ok: true, device, provisioningDoc: doc, thumbprint: issued.identity.thumbprint };
}

/** A refusal as the fault reason shows it: the reason code, and what was expected when core says. */
function refusalText(r: Refusal): string {
  return r.expected === undefined ? r.code : `${r.code} (expected ${String(r.expected)}, received ${String(r.received)})`;
}
