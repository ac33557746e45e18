import { describe, expect, it } from 'vitest';
import { modelRdnType } from '../../../src/core/rdn-types.js';
import {
  describeRdns,
  parseCertificateSubject,
  parseSubjectTemplate,
  sameRdnSet,
  SubjectSyntaxError,
} from '../../../src/core/profile/subject.js';

describe('parseSubjectTemplate', () => {
  it('parses TYPE=value pairs in order, trimming whitespace', () => {
    expect(parseSubjectTemplate(' CN = {{DeviceName}} , OU=MDM,O=Contoso ')).toEqual([
      { type: 'CN', value: '{{DeviceName}}' },
      { type: 'OU', value: 'MDM' },
      { type: 'O', value: 'Contoso' },
    ]);
  });

  it('normalises type names and aliases to the short upper-case names', () => {
    const r = parseSubjectTemplate(
      'cn=a,emailAddress=a@b.c,Email=x@y.z,serialNumber=1,dc=ex,uid=u,street=Main,t=Eng,S=NRW,title=Dr,l=Bonn,st=NRW,c=DE,ou=x,o=y',
    );
    expect(r.map((a) => a.type)).toEqual(['CN', 'E', 'E', 'SERIALNUMBER', 'DC', 'UID', 'STREET', 'T', 'ST', 'T', 'L', 'ST', 'C', 'OU', 'O']);
  });

  it('accepts dotted OIDs, mapping known ones to their short names', () => {
    expect(parseSubjectTemplate('2.5.4.3=a,OID.2.5.4.11=b,1.2.3.4=c')).toEqual([
      { type: 'CN', value: 'a' },
      { type: 'OU', value: 'b' },
      { type: '1.2.3.4', value: 'c' },
    ]);
  });

  it('handles backslash escapes, hex escapes and quoted values', () => {
    expect(parseSubjectTemplate('CN=Doe\\, Jane,O="Contoso, Inc.",OU=a\\2Cb,L="say \\"hi\\""')).toEqual([
      { type: 'CN', value: 'Doe, Jane' },
      { type: 'O', value: 'Contoso, Inc.' },
      { type: 'OU', value: 'a,b' },
      { type: 'L', value: 'say "hi"' },
    ]);
  });

  it('decodes multi-byte UTF-8 hex escapes', () => {
    expect(parseSubjectTemplate('CN=M\\C3\\BCller')).toEqual([{ type: 'CN', value: 'Müller' }]);
  });

  it('returns [] for blank input', () => {
    expect(parseSubjectTemplate('   ')).toEqual([]);
  });

  it.each([
    ['CN', /not TYPE=value/],
    ['=x', /type is empty/],
    ['CN=', /value is empty/],
    ['CN=a,', /empty \(stray comma/],
    ['CN=a,,O=b', /empty/],
    ['FOO=a', /unknown attribute type "FOO"/],
    ['SN=Smith', /unknown attribute type "SN"/],
    ['CN="unterminated', /unterminated double quote/],
    ['CN="a"b', /nothing may follow the closing quote/],
    ['CN=a"b', /quote/],
    ['CN=a\\', /lone backslash/],
  ])('refuses %j with a clear message', (input, message) => {
    expect(() => parseSubjectTemplate(input)).toThrow(SubjectSyntaxError);
    expect(() => parseSubjectTemplate(input)).toThrow(message);
  });
});

describe('sameRdnSet', () => {
  it('ignores order and compares types after normalisation', () => {
    expect(
      sameRdnSet(
        [
          { type: 'CN', value: 'a' },
          { type: 'emailAddress', value: 'x@y' },
        ],
        [
          { type: '1.2.840.113549.1.9.1', value: 'x@y' },
          { type: '2.5.4.3', value: ' a ' },
        ],
      ),
    ).toBe(true);
  });

  it('compares values exactly (case matters) apart from outer whitespace', () => {
    expect(sameRdnSet([{ type: 'CN', value: 'Laptop' }], [{ type: 'CN', value: 'laptop' }])).toBe(false);
  });

  it('is a multiset comparison: duplicates count', () => {
    const two = [
      { type: 'OU', value: 'a' },
      { type: 'OU', value: 'a' },
    ];
    expect(sameRdnSet(two, [{ type: 'OU', value: 'a' }])).toBe(false);
    expect(sameRdnSet(two, [{ type: 'OU', value: 'a' }, { type: 'OU', value: 'b' }])).toBe(false);
    expect(sameRdnSet(two, [...two].reverse())).toBe(true);
  });

  it('distinguishes types with the same value', () => {
    expect(sameRdnSet([{ type: 'CN', value: 'x' }], [{ type: 'OU', value: 'x' }])).toBe(false);
  });
});

describe('describeRdns', () => {
  it('round-trips through parseSubjectTemplate, escaping special characters', () => {
    const rdns = [
      { type: 'CN', value: 'Doe, Jane' },
      { type: 'O', value: 'A+B "C" \\ D' },
      { type: '2.5.4.12', value: 'Eng' },
    ];
    const s = describeRdns(rdns);
    expect(s).toBe('CN=Doe\\, Jane,O=A\\+B \\"C\\" \\\\ D,T=Eng');
    expect(sameRdnSet(parseSubjectTemplate(s), rdns)).toBe(true);
  });
});

describe('modelRdnType', () => {
  it('keeps model short names and turns STREET and T into OIDs', () => {
    expect(['cn', 'emailAddress', 'street', 'T', '1.2.3'].map(modelRdnType)).toEqual(['CN', 'E', '2.5.4.9', '2.5.4.12', '1.2.3']);
  });
});

describe('parseCertificateSubject', () => {
  it("reads node's X509Certificate#subject format", () => {
    const nodeSubject = 'CN=a\\,b + UID=x\nO=Con\\"toso\nemailAddress=a@b.c\nSN=Smith\ntitle=Eng\nstreet=Main St\nCN=\\ lead#\nL=L\\0A';
    expect(parseCertificateSubject(nodeSubject)).toEqual([
      { type: 'CN', value: 'a,b' },
      { type: 'UID', value: 'x' },
      { type: 'O', value: 'Con"toso' },
      { type: 'E', value: 'a@b.c' },
      { type: '2.5.4.4', value: 'Smith' },
      { type: 'T', value: 'Eng' },
      { type: 'STREET', value: 'Main St' },
      { type: 'CN', value: 'lead#' },
      { type: 'L', value: 'L' },
    ]);
  });
});
