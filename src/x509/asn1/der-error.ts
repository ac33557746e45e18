// The error the DER writer and the strict DER reader throw: a value that
// cannot be encoded, or bytes that are not the DER we expect. The CA also
// uses it for issuance requests it cannot turn into a certificate.

export class DerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerError';
  }
}
