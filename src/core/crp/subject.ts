import { describeRdns, sameRdnSet } from '../profile/subject.js';
import { need, type Check } from './context.js';

/** The CSR subject is the resolved subject, as a set of attributes (order-insensitive). */
export const checkSubject: Check = {
  name: 'subject',
  summary: 'the CSR subject equals the resolved subject, compared as RDN sets (order-insensitive)',
  refuses: ['SUBJECT_MISSING', 'SUBJECT_MISMATCH'],
  async run(ctx) {
    const resolved = need(ctx.resolved, this.name, 'the resolved request');
    const subject = ctx.request.csr.subject;
    if (subject.length === 0) return { code: 'SUBJECT_MISSING', expected: describeRdns(resolved.subject), received: '' };
    if (!sameRdnSet(subject, resolved.subject)) {
      return { code: 'SUBJECT_MISMATCH', expected: describeRdns(resolved.subject), received: describeRdns(subject) };
    }
    return null;
  },
};
