import type { ConnectionOptions } from 'node:tls';
import { Client, InvalidCredentialsError, NoSuchObjectError, ResultCodeError, SizeLimitExceededError, type Entry } from 'ldapts';
import { accountDisabled, decodeGuid, decodeSid } from './ad-decoding.js';
import type { DirectoryGroup, DirectorySnapshot, DirectoryUser } from './entries.js';
import { attributeMapping, type LdapConfig } from './ldap-config.js';
import { CORE_FIELDS, PRESETS, type LdapPreset } from './ldap-presets.js';
import { DN_ATTRIBUTE } from './sync.js';

// Reads users and groups from an LDAP directory (Active Directory, OpenLDAP)
// with ldapts: ldaps:// or StartTLS against the configured CA, one simple
// bind, paged searches (RFC 2696) so a server's size limit (AD: 1,000) does
// not cut the directory short, AD's ranged `member;range=` values followed.
// Every failure becomes an LdapError whose message says what to fix.

export const PAGE_SIZE = 500;
const CONNECT_TIMEOUT_MS = 10_000;
const OPERATION_TIMEOUT_MS = 60_000;
/** Attribute values longer than this are cut to it (the admin API's attribute limit). */
const MAX_VALUE_LENGTH = 1024;

export class LdapError extends Error {}

function tlsOptions(config: LdapConfig): ConnectionOptions {
  return { minVersion: 'TLSv1.2', ...(config.caCertificate && { ca: [config.caCertificate] }) };
}

/** A message naming the step and what to check, from whatever ldapts or the socket threw. */
export function describeLdapError(e: unknown, step: string, config: LdapConfig): string {
  const err = e as NodeJS.ErrnoException & { code?: string | number };
  const message = err instanceof Error ? err.message.trim() : String(e);
  if (e instanceof InvalidCredentialsError) return `bind as ${config.bindDn} refused: invalid credentials (LDAP result 49)`;
  if (e instanceof NoSuchObjectError) return `${step}: no such entry (LDAP result 32); check the base DN`;
  if (e instanceof ResultCodeError) return `${step}: ${message || e.constructor.name} (LDAP result ${e.code})`;
  const code = typeof err.code === 'string' ? err.code : '';
  if (code === 'ECONNREFUSED') return `cannot reach ${config.url}: connection refused`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot reach ${config.url}: host name not found`;
  if (code === 'ECONNRESET' || /connection closed/i.test(message)) {
    const hint = /^ldaps:/i.test(config.url) || config.startTls ? 'a TLS problem on the server side?' : 'a TLS-only port (use ldaps://)?';
    return `${step}: ${config.url} closed the connection (${hint})`;
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_SSL|ERR_TLS|HOSTNAME|ALTNAME/i.test(code) || /certificate|ssl|tls/i.test(message)) {
    return `TLS with ${config.url} failed: ${message}${code ? ` (${code})` : ''}; check caCertificate and that the server certificate names this host`;
  }
  if (/timeout|timed out/i.test(message) || code === 'ETIMEDOUT') return `${step}: no answer from ${config.url} in time`;
  return `${step}: ${message}${code ? ` (${code})` : ''}`;
}

async function step<T>(name: string, config: LdapConfig, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (e instanceof LdapError) throw e;
    throw new LdapError(describeLdapError(e, name, config), { cause: e });
  }
}

/** Connects, secures, binds, runs `f`, unbinds. */
export async function withDirectory<T>(config: LdapConfig, password: string, f: (c: Client) => Promise<T>): Promise<T> {
  // ldapts speaks TLS from the start whenever tlsOptions is given: only for ldaps://.
  const ldaps = /^ldaps:/i.test(config.url);
  const client = new Client({ url: config.url, connectTimeout: CONNECT_TIMEOUT_MS, timeout: OPERATION_TIMEOUT_MS, ...(ldaps && { tlsOptions: tlsOptions(config) }), strictDN: false });
  try {
    if (config.startTls) await step('StartTLS', config, () => client.startTLS(tlsOptions(config)));
    await step('bind', config, () => client.bind(config.bindDn, password));
    return await f(client);
  } finally {
    await client.unbind().catch(() => {});
  }
}

/** PUT's check: bind, then one entry with each filter. */
export async function checkDirectory(config: LdapConfig, password: string): Promise<void> {
  const preset = PRESETS[config.preset];
  await withDirectory(config, password, async (client) => {
    for (const [what, base, filter] of [
      ['user search', config.userBaseDn, config.userFilter],
      ['group search', config.groupBaseDn, config.groupFilter],
    ] as const) {
      await step(`${what} (${base}, ${filter})`, config, async () => {
        try {
          await client.search(base, { scope: 'sub', filter, sizeLimit: 1, attributes: [preset.idAttribute] });
        } catch (e) {
          // More than one entry matches: the search works.
          if (!(e instanceof SizeLimitExceededError)) throw e;
        }
      });
    }
  });
}

export interface DirectoryRead {
  snapshot: DirectorySnapshot;
  /** The highest change marker seen (uSNChanged, modifyTimestamp): the next incremental read starts there. */
  highWater: string | null;
}

/** Reads the directory; incremental when `since` is given (only users changed since then). */
export async function readDirectory(config: LdapConfig, password: string, since: string | null): Promise<DirectoryRead> {
  const preset = PRESETS[config.preset];
  const mapping = attributeMapping(config);
  return withDirectory(config, password, async (client) => {
    const full = since === null;
    const userFilter = full ? config.userFilter : `(&${config.userFilter}${changedSince(preset, since)})`;
    const userAttributes = [...new Set([preset.idAttribute, preset.changeAttribute, ...(preset.disabledBy ? [preset.disabledBy] : []), ...Object.values(mapping)])];
    const users = await search(client, config, 'user search', config.userBaseDn, userFilter, userAttributes, Object.keys(preset.binary));
    const groups = await search(client, config, 'group search', config.groupBaseDn, config.groupFilter, [preset.idAttribute, preset.groupNameAttribute, preset.memberAttribute], Object.keys(preset.binary));
    const skipped: string[] = [];
    const snapshot: DirectorySnapshot = { full, users: [], groups: [], skipped };
    let highWater = since;
    for (const e of users) {
      const u = toUser(e, preset, mapping, skipped);
      if (u) snapshot.users.push(u);
      const mark = first(e, preset.changeAttribute);
      if (typeof mark === 'string' && (highWater === null || compareMarks(preset, mark, highWater) > 0)) highWater = mark;
    }
    for (const e of groups) {
      const g = await toGroup(client, config, e, preset, skipped);
      if (g) snapshot.groups.push(g);
    }
    return { snapshot, highWater };
  });
}

/** The filter part that selects entries changed since `since` (exported for the tests). */
export function changedSince(preset: LdapPreset, since: string): string {
  // uSNChanged is a counter: strictly after. modifyTimestamp has one-second steps: the same second again.
  if (preset.changeAttribute === 'uSNChanged') return `(uSNChanged>=${BigInt(since) + 1n})`;
  return `(modifyTimestamp>=${since})`;
}

function compareMarks(preset: LdapPreset, a: string, b: string): number {
  if (preset.changeAttribute === 'uSNChanged') {
    const d = BigInt(a) - BigInt(b);
    return d === 0n ? 0 : d > 0n ? 1 : -1;
  }
  return a < b ? -1 : a > b ? 1 : 0; // GeneralizedTime in UTC (Z) sorts as text
}

async function search(client: Client, config: LdapConfig, what: string, base: string, filter: string, attributes: string[], binary: string[]): Promise<Entry[]> {
  return step(`${what} (${base}, ${filter})`, config, async () => {
    try {
      const r = await client.search(base, { scope: 'sub', filter, attributes, explicitBufferAttributes: binary, paged: { pageSize: PAGE_SIZE } });
      return r.searchEntries;
    } catch (e) {
      if (e instanceof SizeLimitExceededError) throw new LdapError(`${what}: the server stopped at its size limit although the search was paged; does it support the paged results control (RFC 2696)?`, { cause: e });
      throw e;
    }
  });
}

/** The entry's attribute, whatever case the server wrote its name in. */
function values(e: Entry, attr: string): (string | Buffer)[] {
  const key = Object.keys(e).find((k) => k.toLowerCase() === attr.toLowerCase());
  if (key === undefined || key === 'dn') return [];
  const v = e[key]!;
  return Array.isArray(v) ? v : [v];
}

function first(e: Entry, attr: string): string | Buffer | undefined {
  return values(e, attr)[0];
}

function text(preset: LdapPreset, e: Entry, attr: string): string | undefined {
  const v = first(e, attr);
  if (v === undefined) return undefined;
  const kind = Object.entries(preset.binary).find(([a]) => a.toLowerCase() === attr.toLowerCase())?.[1];
  if (!Buffer.isBuffer(v)) return v;
  if (kind === 'sid') return decodeSid(v);
  if (kind === 'guid') return decodeGuid(v);
  return v.toString('utf8');
}

const UPN = /^[^@\s]+@[^@\s]+$/;

/** One user entry as the sync engine takes it, or null (and why, in `skipped`). Exported for the decoding tests. */
export function toUser(e: Entry, preset: LdapPreset, mapping: Record<string, string>, skipped: string[]): DirectoryUser | null {
  try {
    const externalId = text(preset, e, preset.idAttribute);
    if (!externalId) throw new Error(`no ${preset.idAttribute}`);
    const upn = text(preset, e, mapping.UserPrincipalName!)?.trim();
    if (!upn || !UPN.test(upn)) throw new Error(`no usable ${mapping.UserPrincipalName} (userPrincipalName must look like user@domain)`);
    const attributes: Record<string, string> = { [DN_ATTRIBUTE]: e.dn };
    for (const [variable, attr] of Object.entries(mapping)) {
      if (Object.hasOwn(CORE_FIELDS, variable)) continue;
      const v = text(preset, e, attr);
      if (v !== undefined && v !== '') attributes[variable] = v.slice(0, MAX_VALUE_LENGTH);
    }
    const disabled = preset.disabledBy ? accountDisabled(text(preset, e, preset.disabledBy)) : false;
    return {
      externalId,
      dn: e.dn,
      userPrincipalName: upn,
      email: text(preset, e, mapping.EmailAddress!)?.trim() || upn,
      displayName: text(preset, e, mapping.DisplayName!)?.trim() || upn,
      enabled: !disabled,
      attributes,
    };
  } catch (err) {
    skipped.push(`${e.dn}: ${(err as Error).message}`);
    return null;
  }
}

async function toGroup(client: Client, config: LdapConfig, e: Entry, preset: LdapPreset, skipped: string[]): Promise<DirectoryGroup | null> {
  let externalId: string | undefined;
  try {
    externalId = text(preset, e, preset.idAttribute);
  } catch (err) {
    skipped.push(`${e.dn}: ${(err as Error).message}`);
    return null;
  }
  const name = text(preset, e, preset.groupNameAttribute);
  if (!externalId || !name) {
    skipped.push(`${e.dn}: no ${externalId ? preset.groupNameAttribute : preset.idAttribute}`);
    return null;
  }
  const members = values(e, preset.memberAttribute).map(String);
  members.push(...(await rangedMembers(client, config, e, preset.memberAttribute)));
  return { externalId, dn: e.dn, name, members };
}

/**
 * AD returns at most 1,500 values of a large multi-valued attribute and names
 * it `member;range=0-1499`; the rest come from reads of `member;range=1500-*`
 * and on until a range ends in `*`.
 */
async function rangedMembers(client: Client, config: LdapConfig, e: Entry, attr: string): Promise<string[]> {
  const out: string[] = [];
  const rangeOf = (entry: Entry) => {
    const key = Object.keys(entry).find((k) => k.toLowerCase().startsWith(`${attr.toLowerCase()};range=`));
    const m = key ? /;range=(\d+)-(\d+|\*)$/i.exec(key) : null;
    return key && m ? { key, end: m[2]! } : null;
  };
  let range = rangeOf(e);
  if (range) out.push(...values(e, range.key).map(String));
  while (range && range.end !== '*') {
    const next = Number(range.end) + 1;
    const r = await step(`ranged read of ${attr} of ${e.dn}`, config, () => client.search(e.dn, { scope: 'base', filter: '(objectClass=*)', attributes: [`${attr};range=${next}-*`] }));
    const entry = r.searchEntries[0];
    range = entry ? rangeOf(entry) : null;
    if (entry && range) out.push(...values(entry, range.key).map(String));
  }
  return out;
}
