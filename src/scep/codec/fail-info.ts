// The failInfo values a CertRep FAILURE carries (RFC 8894 section 3.2.1.4.5).
// The codec owns them; which refusal maps to which is decided outside it
// (core/reasons.ts names one per reason code, scep/service.ts checks the
// names against this type).

export type FailInfo = 'badAlg' | 'badMessageCheck' | 'badRequest' | 'badTime' | 'badCertId';

/** RFC 8894 section 3.2.1.4.5 failInfo numbers. */
export const FAIL_INFO_VALUE: Record<FailInfo, number> = {
  badAlg: 0,
  badMessageCheck: 1,
  badRequest: 2,
  badTime: 3,
  badCertId: 4,
};
