// What each kind of directory calls things. `attributes` maps template
// variables to LDAP attributes; an admin's mapping is laid over these. The
// core user fields are the variables of the same name (UserPrincipalName,
// EmailAddress, DisplayName), so a mapping can move them too.

export const LDAP_PRESETS = ['active-directory', 'openldap'] as const;
export type LdapPresetName = (typeof LDAP_PRESETS)[number];

export interface LdapPreset {
  userFilter: string;
  groupFilter: string;
  /** The entry's stable id. */
  idAttribute: string;
  /** Attributes that arrive as bytes and how they become strings. */
  binary: Record<string, 'sid' | 'guid'>;
  /** Incremental reads ask for entries whose value of this is at or past the last one seen. */
  changeAttribute: 'uSNChanged' | 'modifyTimestamp';
  /** Present: userAccountControl's ACCOUNTDISABLE bit says the account is disabled. */
  disabledBy: 'userAccountControl' | null;
  groupNameAttribute: string;
  memberAttribute: string;
  attributes: Record<string, string>;
}

export const PRESETS: Record<LdapPresetName, LdapPreset> = {
  'active-directory': {
    userFilter: '(&(objectCategory=person)(objectClass=user))',
    groupFilter: '(objectClass=group)',
    idAttribute: 'objectGUID',
    binary: { objectGUID: 'guid', objectSid: 'sid' },
    changeAttribute: 'uSNChanged',
    disabledBy: 'userAccountControl',
    groupNameAttribute: 'cn',
    memberAttribute: 'member',
    attributes: {
      UserPrincipalName: 'userPrincipalName',
      EmailAddress: 'mail',
      DisplayName: 'displayName',
      UserName: 'sAMAccountName',
      ObjectSid: 'objectSid',
    },
  },
  openldap: {
    userFilter: '(objectClass=inetOrgPerson)',
    groupFilter: '(objectClass=groupOfNames)',
    idAttribute: 'entryUUID',
    binary: {},
    changeAttribute: 'modifyTimestamp',
    disabledBy: null,
    groupNameAttribute: 'cn',
    memberAttribute: 'member',
    attributes: {
      UserPrincipalName: 'mail',
      EmailAddress: 'mail',
      DisplayName: 'cn',
      UserName: 'uid',
    },
  },
};

/** Variables that fill the user's own fields rather than its attributes. */
export const CORE_FIELDS = { UserPrincipalName: 'userPrincipalName', EmailAddress: 'email', DisplayName: 'displayName' } as const;
