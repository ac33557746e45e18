import type { IssuedCertificate } from './model.js';

// After `mdmgw ca rollover` the certificates a retired CA signed are re-issued
// under the current CA, but a device must hold the current root before it is
// given a certificate that chains to it (a Wi-Fi or VPN server checking the
// client chain is not the problem; the device's own chain building and its
// trust in the new CA for SCEP are). Every payload carries every root in use
// (AdapterServices.caCertificatePem), so the order is:
//
//   1. the first check-in after the rollover delivers the roots (Windows: the
//      RootCATrustedCertificates Add, confirmed by its status; Android: the
//      policy document, whose trustedRoots the agent installs; Apple: a
//      root-only profile, confirmed by its acknowledgement);
//   2. only after that, at a later check-in, the certificate is re-issued like
//      a renewal.
//
// The adapters remember step 1 in their own state as the CA id the device was
// given the roots for.

/**
 * Whether `cert` was signed by a CA other than the current one (a retired CA).
 * Unknown issuers (null) are not, nor are the other CAs that issue now
 * (`activeCaIds`: the named CAs profiles pick, ca/registry.ts).
 */
export function issuedByRetiredCa(cert: Pick<IssuedCertificate, 'issuerId'> | undefined, currentCaId: string, activeCaIds?: ReadonlySet<string>): boolean {
  return cert !== undefined && cert.issuerId !== null && cert.issuerId !== undefined && cert.issuerId !== currentCaId && !activeCaIds?.has(cert.issuerId);
}

/** Re-issue under the current CA: its certificate is a retired CA's and the device already holds the current root. */
export function rolloverReissueDue(cert: Pick<IssuedCertificate, 'issuerId'> | undefined, currentCaId: string, rootsHeldFor: string | undefined, activeCaIds?: ReadonlySet<string>): boolean {
  return issuedByRetiredCa(cert, currentCaId, activeCaIds) && rootsHeldFor === currentCaId;
}
