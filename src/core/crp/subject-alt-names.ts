import type { CsrSan } from '../csr-info.js';
import type { SanEntry } from '../model.js';
import { need, type Check } from './context.js';

/**
 * The CSR's SANs are exactly the resolved ones, as sets: DNS names and email
 * addresses compare case-insensitively, UPNs and URIs exactly. A CSR SAN the
 * profile does not list (including IP and other types) is SAN_MISMATCH,
 * checked first; a profile SAN the CSR lacks is SAN_MISSING.
 */
export const checkSubjectAltNames: Check = {
  name: 'subjectAltNames',
  summary: 'the CSR SANs equal the resolved SANs as a set (DNS/email case-insensitive); an extra one is SAN_MISMATCH',
  refuses: ['SAN_MISMATCH', 'SAN_MISSING'],
  async run(ctx) {
    const resolved = need(ctx.resolved, this.name, 'the resolved request');
    const wanted = new Map(resolved.subjectAlternativeNames.map((s) => [sanKey(s), show(s)]));
    const got = new Map(ctx.request.csr.subjectAltNames.map((s) => [sanKey(s), show(s)]));
    const expected = [...wanted.values()];
    const received = [...got.values()];
    const extra = [...got.keys()].filter((k) => !wanted.has(k));
    if (extra.length > 0) {
      return { code: 'SAN_MISMATCH', detail: `not in the profile: ${extra.map((k) => got.get(k)).join(', ')}`, expected, received };
    }
    const missing = [...wanted.keys()].filter((k) => !got.has(k));
    if (missing.length > 0) {
      return { code: 'SAN_MISSING', detail: `missing: ${missing.map((k) => wanted.get(k)).join(', ')}`, expected, received };
    }
    return null;
  },
};

function sanKey(s: SanEntry | CsrSan): string {
  const value = s.type === 'dns' || s.type === 'email' ? s.value.toLowerCase() : s.value;
  return `${s.type}:${value}`;
}

const show = (s: SanEntry | CsrSan) => `${s.type}:${s.value}`;
