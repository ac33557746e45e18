import type { Device, User } from '../model.js';

// Microsoft's strong certificate mapping (KB5014754, docs/strong-mapping.md):
// a certificate names the AD account it is for by the account's SID, either in
// the NTDS CA security extension or as a SAN URI. The SID is the target's
// directory attribute ObjectSid (an LDAP sync fills it from objectSid; an
// admin may set it by hand): the user's for a user-scoped profile, the
// device's for a device-scoped one. Never a value the device sends.

/** The directory attribute holding the decoded objectSid, `S-1-5-21-...`. */
export const SID_ATTRIBUTE = 'ObjectSid';

/** Revision 1, an authority, 1 to 15 sub-authorities (MS-DTYP 2.4.2.1 allows at most 15). */
export const SID_RE = /^S-1-[0-9]+(-[0-9]+){1,15}$/;

/** The SAN URI form of a SID (KB5014754: `tag:microsoft.com,2022-09-14:sid:<SID>`). */
export const SID_URI_PREFIX = 'tag:microsoft.com,2022-09-14:sid:';

export function sidUri(sid: string): string {
  return `${SID_URI_PREFIX}${sid}`;
}

export function isValidSid(value: string): boolean {
  return value.length <= 184 && SID_RE.test(value);
}

export type TargetSid = { ok: true; sid: string } | { ok: false; problem: 'missing' | 'invalid' };

/** The SID of whom the certificate is for: the user (user scope) or the device (device scope). */
export function targetSid(scope: 'user' | 'device', dir: { user: User | null; device: Device | null }): TargetSid {
  const owner = scope === 'user' ? dir.user : dir.device;
  const attrs = owner?.attributes;
  const raw = attrs && Object.hasOwn(attrs, SID_ATTRIBUTE) ? attrs[SID_ATTRIBUTE]!.trim() : '';
  if (raw === '') return { ok: false, problem: 'missing' };
  return isValidSid(raw) ? { ok: true, sid: raw } : { ok: false, problem: 'invalid' };
}

/** For attribute maps an admin writes: a problem with their ObjectSid, or null. */
export function sidAttributeProblem(attrs: Readonly<Record<string, string>>): string | null {
  if (!Object.hasOwn(attrs, SID_ATTRIBUTE)) return null;
  return isValidSid(attrs[SID_ATTRIBUTE]!.trim()) ? null : 'must be a SID such as S-1-5-21-1004336348-1177238915-682003330-1103';
}
