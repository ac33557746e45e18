import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { LDAP_PRESETS, PRESETS, type LdapPresetName } from './ldap-presets.js';

// The LDAP directory sync's configuration (PUT /api/v1/directory/ldap). The
// bind password is never part of what is shown or stored in the clear: it is
// sealed on its own (ldap-sync.ts).

export const DEFAULT_SYNC_INTERVAL_SECONDS = 3600;
/** 0 turns the schedule off; otherwise at least a minute, at most a day. */
export const MIN_SYNC_INTERVAL_SECONDS = 60;
export const MAX_SYNC_INTERVAL_SECONDS = 86_400;
/** Every Nth scheduled sync reads everything, so deletions are seen; the others read what changed. */
export const DEFAULT_FULL_SYNC_EVERY = 24;

const dn = (what: string) => z.string({ message: `${what} is required: the distinguished name to search under or bind as, e.g. dc=example,dc=com` }).trim().min(1, `${what} must not be empty`).max(1024);
const filter = z
  .string()
  .trim()
  .max(4096)
  .regex(/^\(.*\)$/s, 'must be an LDAP filter in parentheses, e.g. (objectClass=user)');

/** Template variable name -> LDAP attribute name (RFC 4512 descr, options allowed). */
const attributeMap = z
  .record(
    z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'variable names: letters, digits, _ and -'),
    z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}(;[A-Za-z0-9-]+)*$/, 'must be an LDAP attribute name, e.g. departmentNumber'),
  )
  .refine((a) => Object.keys(a).length <= 64, 'at most 64 attributes');

const pem = z
  .string()
  .max(65_536)
  .refine((s) => {
    try {
      new X509Certificate(s);
      return true;
    } catch {
      return false;
    }
  }, 'must be a PEM certificate (the CA that issued the directory server certificate)');

export const ldapConfigBody = z
  .strictObject({
    url: z
      .string({ message: 'is required: ldap://host[:port] or ldaps://host[:port]' })
      .trim()
      .regex(/^ldaps?:\/\/[^/\s?#]+\/?$/i, 'must be ldap://host[:port] or ldaps://host[:port]'),
    bindDn: dn('bindDn'),
    /** Leave out to keep the stored one. */
    bindPassword: z.string().min(1, 'must not be empty').max(1024).optional(),
    userBaseDn: dn('userBaseDn'),
    userFilter: filter.optional(),
    groupBaseDn: dn('groupBaseDn'),
    groupFilter: filter.optional(),
    attributes: attributeMap.default({}),
    syncIntervalSeconds: z
      .number()
      .int('must be a whole number of seconds')
      .refine((n) => n === 0 || (n >= MIN_SYNC_INTERVAL_SECONDS && n <= MAX_SYNC_INTERVAL_SECONDS), `must be 0 (off) or ${MIN_SYNC_INTERVAL_SECONDS}..${MAX_SYNC_INTERVAL_SECONDS}`)
      .default(DEFAULT_SYNC_INTERVAL_SECONDS),
    fullSyncEvery: z.number().int().min(1).max(1000).default(DEFAULT_FULL_SYNC_EVERY),
    caCertificate: pem.nullable().default(null),
    preset: z.enum(LDAP_PRESETS, { message: `must be one of ${LDAP_PRESETS.join(', ')}` }),
    startTls: z.boolean().default(false),
  })
  .refine((c) => !(c.startTls && /^ldaps:/i.test(c.url)), { message: 'startTls is for ldap:// URLs; ldaps:// is TLS from the start', path: ['startTls'] });

export type LdapConfigBody = z.infer<typeof ldapConfigBody>;

/** The stored configuration: the body with the preset's filters filled in and without the password. */
export interface LdapConfig {
  url: string;
  bindDn: string;
  userBaseDn: string;
  userFilter: string;
  groupBaseDn: string;
  groupFilter: string;
  attributes: Record<string, string>;
  syncIntervalSeconds: number;
  fullSyncEvery: number;
  caCertificate: string | null;
  preset: LdapPresetName;
  startTls: boolean;
}

export function toLdapConfig(body: LdapConfigBody): LdapConfig {
  const preset = PRESETS[body.preset];
  return {
    url: body.url.replace(/\/$/, ''),
    bindDn: body.bindDn,
    userBaseDn: body.userBaseDn,
    userFilter: body.userFilter ?? preset.userFilter,
    groupBaseDn: body.groupBaseDn,
    groupFilter: body.groupFilter ?? preset.groupFilter,
    attributes: body.attributes,
    syncIntervalSeconds: body.syncIntervalSeconds,
    fullSyncEvery: body.fullSyncEvery,
    caCertificate: body.caCertificate,
    preset: body.preset,
    startTls: body.startTls,
  };
}

/** The preset's mapping with the admin's over it. */
export function attributeMapping(config: LdapConfig): Record<string, string> {
  return { ...PRESETS[config.preset].attributes, ...config.attributes };
}
