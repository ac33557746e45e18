import { describe, expect, it } from 'vitest';
import { ntdsCaSecurity } from '../../src/ca/certificate-builder.js';
import { DerError } from '../../src/x509/asn1/der-error.js';

// The NTDS CA security extension's value must be byte for byte what AD CS
// writes, or a domain controller does not find the SID (KB5014754).

describe('ntdsCaSecurity', () => {
  it('encodes the SID exactly as AD CS does (bytes captured from an AD CS-issued DC certificate)', () => {
    const ext = ntdsCaSecurity('S-1-5-21-1608104657-630783805-1473387121-1000');
    expect(ext.oid).toBe('1.3.6.1.4.1.311.25.2');
    expect(ext.critical).toBe(false);
    expect(Buffer.from(ext.value).toString('hex')).toBe(
      '303fa03d060a2b060104018237190201a02f042d532d312d352d32312d313630383130343635372d3633303738333830352d313437333338373132312d31303030',
    );
  });

  it('encodes a short SID with the same structure ([MS-WCCE] 2.2.2.7.7.4)', () => {
    expect(Buffer.from(ntdsCaSecurity('S-1-5-21-1').value).toString('hex')).toBe('301ca01a060a2b060104018237190201a00c040a532d312d352d32312d31');
  });

  it('refuses what is not a SID rather than writing it', () => {
    for (const bad of ['', 'S-1-5', 'S-1-5-21-1\u0000', 'S-1-5-21-é']) expect(() => ntdsCaSecurity(bad), bad).toThrow(DerError);
  });
});
