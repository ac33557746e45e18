import { describe, expect, it } from 'vitest';
import { issuedByRetiredCa, rolloverReissueDue } from '../../src/core/ca-rollover.js';

// Several CAs (issue 12): a certificate another CA of the registry issued
// (a VPN profile's) is not a retired CA's; without activeCaIds every adapter
// would re-issue it at every check-in as if after a rollover.

describe('rollover re-issue with several CAs', () => {
  const current = 'aa';
  const active = new Set(['bb']);

  it('a certificate of another active CA is not retired and not re-issued', () => {
    expect(issuedByRetiredCa({ issuerId: 'bb' }, current, active)).toBe(false);
    expect(rolloverReissueDue({ issuerId: 'bb' }, current, current, active)).toBe(false);
  });

  it('a certificate of a CA that is neither current nor active still is (a retired CA)', () => {
    expect(issuedByRetiredCa({ issuerId: 'cc' }, current, active)).toBe(true);
    expect(rolloverReissueDue({ issuerId: 'cc' }, current, current, active)).toBe(true);
    expect(rolloverReissueDue({ issuerId: 'cc' }, current, 'older', active)).toBe(false);
    expect(issuedByRetiredCa({ issuerId: current }, current, active)).toBe(false);
    expect(issuedByRetiredCa({ issuerId: null }, current, active)).toBe(false);
  });
});
