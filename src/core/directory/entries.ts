import type { Attributes } from '../model.js';

// What a directory read hands the sync engine (sync.ts), whatever the
// directory: plain values, already decoded. DNs are kept as the directory
// wrote them; the engine compares them normalised (normalizeDn).

export interface DirectoryUser {
  /** The directory's stable id (objectGUID, entryUUID): a rename or move keeps it. */
  externalId: string;
  dn: string;
  userPrincipalName: string;
  email: string;
  displayName: string;
  enabled: boolean;
  /** Template variables (UserName, ObjectSid, OnPremisesDistinguishedName, the admin's mapping). */
  attributes: Attributes;
}

export interface DirectoryGroup {
  externalId: string;
  dn: string;
  name: string;
  /** DNs of direct members: users, or groups whose members are members too (nesting). */
  members: string[];
}

export interface DirectorySnapshot {
  /** Full: every user in scope (those missing are disabled). Incremental: only users changed since the last read. */
  full: boolean;
  users: DirectoryUser[];
  /** Always every group in scope. */
  groups: DirectoryGroup[];
  /** Entries the read left out, with why (no userPrincipalName, unreadable id). */
  skipped: string[];
}

/** DN comparison form: lower case, no blanks around `,` `=` `+` (enough for the DNs one directory writes itself). */
export function normalizeDn(dn: string): string {
  return dn
    .trim()
    .replace(/\s*([,=+])\s*/g, '$1')
    .toLowerCase();
}
