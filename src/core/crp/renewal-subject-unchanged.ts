import { describeRdns, parseCertificateSubject, sameRdnSet } from '../profile/subject.js';
import { need, type Check } from './context.js';

/**
 * The renewal CSR asks for the subject of the certificate being renewed (as a
 * set of attributes). What is issued is still the current resolved subject.
 */
export const checkRenewalSubjectUnchanged: Check = {
  name: 'renewalSubjectUnchanged',
  summary: "the CSR subject equals the renewed certificate's subject (RDN sets)",
  refuses: ['SUBJECT_MISSING', 'RENEWAL_SUBJECT_MISMATCH'],
  async run(ctx) {
    const { x509 } = need(ctx.signer, this.name, 'the renewal signer');
    const old = parseCertificateSubject(x509.subject);
    const subject = ctx.request.csr.subject;
    if (subject.length === 0) return { code: 'SUBJECT_MISSING', expected: describeRdns(old), received: '' };
    if (!sameRdnSet(subject, old)) {
      return { code: 'RENEWAL_SUBJECT_MISMATCH', expected: describeRdns(old), received: describeRdns(subject) };
    }
    return null;
  },
};
