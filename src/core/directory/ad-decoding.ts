// Active Directory's binary attributes, decoded to the strings admins know:
// objectSid (MS-DTYP 2.4.2.2) as S-1-5-21-..., objectGUID (MS-DTYP 2.3.4.2)
// as the canonical GUID string, and userAccountControl's ACCOUNTDISABLE bit.

/** userAccountControl flag: the account is disabled (MS-ADTS 2.2.16). */
export const UF_ACCOUNTDISABLE = 0x2;

/**
 * SID binary layout: Revision (1 byte), SubAuthorityCount (1 byte),
 * IdentifierAuthority (6 bytes, big-endian), then SubAuthorityCount
 * sub-authorities of 4 bytes each, little-endian.
 */
export function decodeSid(bytes: Uint8Array): string {
  if (bytes.length < 8) throw new Error(`objectSid: ${bytes.length} bytes is too short for a SID`);
  const revision = bytes[0]!;
  const count = bytes[1]!;
  if (revision !== 1) throw new Error(`objectSid: revision ${revision}, expected 1`);
  if (count > 15 || bytes.length !== 8 + 4 * count) throw new Error(`objectSid: ${bytes.length} bytes do not hold ${count} sub-authorities`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // 48-bit authority: the high 16 bits, then the low 32 (both big-endian).
  const authority = view.getUint16(2) * 2 ** 32 + view.getUint32(4);
  const subs = Array.from({ length: count }, (_, i) => view.getUint32(8 + 4 * i, true));
  return ['S', revision, authority, ...subs].join('-');
}

/** GUID layout: Data1 (4 bytes LE), Data2 (2 bytes LE), Data3 (2 bytes LE), Data4 (8 bytes as they are). */
export function decodeGuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new Error(`objectGUID: ${bytes.length} bytes, expected 16`);
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(bytes.subarray(from, to));
    return (reverse ? part.reverse() : part).map((b) => b.toString(16).padStart(2, '0')).join('');
  };
  return [hex(0, 4, true), hex(4, 6, true), hex(6, 8, true), hex(8, 10, false), hex(10, 16, false)].join('-');
}

/** true when userAccountControl (a decimal string) has ACCOUNTDISABLE; a missing or unreadable value is not disabled. */
export function accountDisabled(userAccountControl: string | undefined): boolean {
  if (userAccountControl === undefined || !/^-?\d{1,11}$/.test(userAccountControl.trim())) return false;
  // AD sends the flags as a signed 32-bit integer.
  return (Number(userAccountControl.trim()) & UF_ACCOUNTDISABLE) !== 0;
}
