import { describe, expect, it } from 'vitest';
import { accountDisabled, decodeGuid, decodeSid } from '../../src/core/directory/ad-decoding.js';
import { changedSince, toUser } from '../../src/core/directory/ldap-reader.js';
import { PRESETS } from '../../src/core/directory/ldap-presets.js';

// Active Directory's binary attributes, written here byte by byte from the
// specification (not from our decoder), as AD sends them.

/** MS-DTYP 2.4.2.2: Revision, SubAuthorityCount, IdentifierAuthority (48-bit big-endian), SubAuthority[] (32-bit little-endian). */
function sidBytes(authority: number, subs: number[]): Buffer {
  const b = Buffer.alloc(8 + 4 * subs.length);
  b[0] = 1;
  b[1] = subs.length;
  b.writeUIntBE(authority, 2, 6);
  subs.forEach((s, i) => b.writeUInt32LE(s, 8 + 4 * i));
  return b;
}

// The SID of a domain user as Microsoft documents it, and the same bytes spelled out.
const DOMAIN_USER_SID = Buffer.from('010500000000000515000000c720ffd77c4855c894541a01f5030000', 'hex');
// GUID {00112233-4455-6677-8899-aabbccddeeff}: Data1..Data3 little-endian, Data4 as is.
const GUID_BYTES = Buffer.from('33221100554477668899aabbccddeeff', 'hex');

describe('AD decoding', () => {
  it('decodes objectSid to S-1-5-21-...', () => {
    expect(sidBytes(5, [21, 3623821511, 3361032316, 18502804, 1013])).toEqual(DOMAIN_USER_SID);
    expect(decodeSid(DOMAIN_USER_SID)).toBe('S-1-5-21-3623821511-3361032316-18502804-1013');
    expect(decodeSid(sidBytes(5, [32, 544]))).toBe('S-1-5-32-544'); // BUILTIN\\Administrators
    expect(decodeSid(sidBytes(1, [0]))).toBe('S-1-1-0'); // Everyone
    expect(decodeSid(sidBytes(0x010203040506, [7]))).toBe(`S-1-${0x010203040506}-7`); // the whole 48-bit authority
    expect(decodeSid(sidBytes(5, [0xffffffff]))).toBe('S-1-5-4294967295'); // sub-authorities are unsigned
  });

  it('refuses SIDs that are not one', () => {
    expect(() => decodeSid(Buffer.from('0105000000', 'hex'))).toThrow(/too short/);
    expect(() => decodeSid(DOMAIN_USER_SID.subarray(0, 20))).toThrow(/sub-authorities/);
    const rev2 = Buffer.from(DOMAIN_USER_SID);
    rev2[0] = 2;
    expect(() => decodeSid(rev2)).toThrow(/revision 2/);
  });

  it('decodes objectGUID mixed-endian to the canonical string', () => {
    expect(decodeGuid(GUID_BYTES)).toBe('00112233-4455-6677-8899-aabbccddeeff');
    expect(() => decodeGuid(GUID_BYTES.subarray(0, 15))).toThrow(/15 bytes/);
  });

  it("reads userAccountControl's ACCOUNTDISABLE bit (0x2)", () => {
    expect(accountDisabled('512')).toBe(false); // NORMAL_ACCOUNT
    expect(accountDisabled('514')).toBe(true); // NORMAL_ACCOUNT | ACCOUNTDISABLE
    expect(accountDisabled('66050')).toBe(true); // + DONT_EXPIRE_PASSWORD
    expect(accountDisabled('66048')).toBe(false);
    expect(accountDisabled(undefined)).toBe(false);
    expect(accountDisabled('garbage')).toBe(false);
  });

  it('turns a recorded AD user entry into a directory user', () => {
    const preset = PRESETS['active-directory'];
    const skipped: string[] = [];
    const entry = {
      dn: 'CN=Alice Smith,OU=Staff,DC=corp,DC=example',
      objectGUID: GUID_BYTES,
      objectSid: DOMAIN_USER_SID,
      userPrincipalName: 'alice@corp.example',
      mail: 'alice.smith@example.com',
      displayName: 'Alice Smith',
      sAMAccountName: 'asmith',
      userAccountControl: '514',
      department: 'Finance',
    };
    const u = toUser(entry, preset, { ...preset.attributes, Department: 'department' }, skipped);
    expect(skipped).toEqual([]);
    expect(u).toEqual({
      externalId: '00112233-4455-6677-8899-aabbccddeeff',
      dn: entry.dn,
      userPrincipalName: 'alice@corp.example',
      email: 'alice.smith@example.com',
      displayName: 'Alice Smith',
      enabled: false,
      attributes: {
        OnPremisesDistinguishedName: entry.dn,
        UserName: 'asmith',
        ObjectSid: 'S-1-5-21-3623821511-3361032316-18502804-1013',
        Department: 'Finance',
      },
    });
    // No UPN: left out, saying why; a broken SID: left out too, never a crash.
    expect(toUser({ ...entry, userPrincipalName: [] as string[] }, preset, preset.attributes, skipped)).toBeNull();
    expect(toUser({ ...entry, objectSid: Buffer.from('01', 'hex') }, preset, preset.attributes, skipped)).toBeNull();
    expect(skipped).toEqual([`${entry.dn}: no usable userPrincipalName (userPrincipalName must look like user@domain)`, `${entry.dn}: objectSid: 1 bytes is too short for a SID`]);
  });

  it('incremental reads: AD strictly after the highest uSNChanged (64-bit safe), OpenLDAP from the newest modifyTimestamp', () => {
    expect(changedSince(PRESETS['active-directory'], '12345')).toBe('(uSNChanged>=12346)');
    expect(changedSince(PRESETS['active-directory'], '9007199254740993')).toBe('(uSNChanged>=9007199254740994)');
    expect(changedSince(PRESETS.openldap, '20261207052934Z')).toBe('(modifyTimestamp>=20261207052934Z)');
  });
});
