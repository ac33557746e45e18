// The ClientCertificateInstall `ErrorCode` node is the HRESULT of the last
// enrollment error (clientcertificateinstall-scep.md). Formatting and the
// meaning of common ones, for the admin's view. The MENROLL_E_* codes are
// from mobile-device-enrollment.md; the others are the documented Win32 /
// WinINet / CryptoAPI HRESULTs a SCEP enrollment typically ends with.

const MEANINGS: Record<string, string> = {
  '0x80004005': 'E_FAIL: unspecified failure',
  '0x80070005': 'E_ACCESSDENIED: access is denied',
  '0x80070057': 'E_INVALIDARG: the parameter is incorrect',
  '0x80072EE2': 'ERROR_INTERNET_TIMEOUT: the SCEP server did not answer in time',
  '0x80072EE7': 'ERROR_INTERNET_NAME_NOT_RESOLVED: the SCEP server name could not be resolved',
  '0x80072EFD': 'ERROR_INTERNET_CANNOT_CONNECT: no connection to the SCEP server',
  '0x80072F8F': 'ERROR_INTERNET_SECURE_FAILURE: TLS error talking to the SCEP server',
  '0x80090016': 'NTE_BAD_KEYSET: the key container does not exist',
  '0x80090029': 'NTE_NOT_SUPPORTED: the key storage provider does not support the request (e.g. TPM key length)',
  '0x80090030': 'NTE_DEVICE_NOT_READY: the TPM is not ready (KeyProtection 1 requires a TPM)',
  '0x800B0109': 'CERT_E_UNTRUSTEDROOT: the SCEP CA chain ends in an untrusted root (CAThumbprint / root not installed)',
  '0x800B010A': 'CERT_E_CHAINING: the SCEP CA chain could not be built',
  '0x80094800': 'CERTSRV_E_UNSUPPORTED_CERT_TYPE: the CA refused the requested certificate type',
  '0x80180001': 'MENROLL_E_DEVICE_MESSAGE_FORMAT_ERROR',
  '0x80180002': 'MENROLL_E_DEVICE_AUTHENTICATION_ERROR',
  '0x80180003': 'MENROLL_E_DEVICE_AUTHORIZATION_ERROR',
  '0x80180004': 'MENROLL_E_DEVICE_CERTIFICATEREQUEST_ERROR',
  '0x80180005': 'MENROLL_E_DEVICE_CONFIGMGRSERVER_ERROR',
  '0x80180006': 'MENROLL_E_DEVICE_INTERNALSERVICE_ERROR',
  '0x80180007': 'MENROLL_E_DEVICE_INVALIDSECURITY_ERROR',
};

/** The ErrorCode node's value (decimal, possibly a negative 32-bit int, or hex) as 0xXXXXXXXX; the raw text if it is neither. */
export function formatHresult(raw: string | undefined): string | undefined {
  const t = raw?.trim();
  if (!t) return undefined;
  let n: number;
  if (/^0x[0-9a-f]{1,8}$/i.test(t)) n = parseInt(t.slice(2), 16);
  else if (/^-?\d{1,10}$/.test(t)) n = Number(t);
  else return t.slice(0, 64);
  if (n < 0) n += 2 ** 32;
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 32) return t.slice(0, 64);
  return `0x${n.toString(16).toUpperCase().padStart(8, '0')}`;
}

export function hresultMeaning(code: string | undefined): string | undefined {
  return code ? MEANINGS[code] : undefined;
}
