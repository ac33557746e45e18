import type { Attributes, Group, User } from '../model.js';
import type { AuditStore } from '../storage/audit-store.js';
import type { DirectoryStore } from '../storage/directory-store.js';
import { StorageConflictError, type ExternalSource } from '../storage/storage.js';
import { normalizeDn, type DirectoryGroup, type DirectorySnapshot, type DirectoryUser } from './entries.js';

// The directory sync engine: takes what a directory read returned and makes
// the gateway's users and groups of that source match it, through the same
// storage paths an administrator's changes take (so disabling a user revokes
// their certificates exactly as PATCH enabled:false does). It never touches
// local users or groups. It reads nothing from the network: the caller reads
// the whole directory first, so a read that fails changes nothing here.

export const DIRECTORY_REVOCATION_REASON = 'affiliationChanged' as const;

export interface SyncCounts {
  usersCreated: number;
  usersUpdated: number;
  usersDisabled: number;
  groupsCreated: number;
  groupsUpdated: number;
  membershipsChanged: number;
}

export interface SyncOutcome {
  counts: SyncCounts;
  /** Users whose values, state or groups changed: their devices may now get other profiles. */
  affectedUserIds: string[];
  /** Entries not applied, and why (a name taken by a local user or group). */
  skipped: string[];
}

/** A snapshot that would do more harm than good (an empty full read); nothing was changed. */
export class DirectorySyncRefused extends Error {}

/** DN attribute every synced user keeps: Intune's {{OnPremisesDistinguishedName}}, and how group members find them. */
export const DN_ATTRIBUTE = 'OnPremisesDistinguishedName';

export interface SyncContext {
  storage: DirectoryStore & AuditStore;
  source: ExternalSource;
  now: string;
  actor?: string;
}

function zeroCounts(): SyncCounts {
  return { usersCreated: 0, usersUpdated: 0, usersDisabled: 0, groupsCreated: 0, groupsUpdated: 0, membershipsChanged: 0 };
}

function sameAttributes(a: Attributes, b: Attributes): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

export async function applyDirectory(ctx: SyncContext, snapshot: DirectorySnapshot): Promise<SyncOutcome> {
  const out: SyncOutcome = { counts: zeroCounts(), affectedUserIds: [], skipped: [...snapshot.skipped] };
  const affected = new Set<string>();
  const all = await ctx.storage.listUsers();
  const mine = all.filter((u) => u.source === ctx.source);
  if (snapshot.full && snapshot.users.length === 0 && mine.some((u) => u.enabled)) {
    throw new DirectorySyncRefused(`the directory returned no users; refusing to disable ${mine.filter((u) => u.enabled).length} synced users (check userBaseDn and userFilter)`);
  }
  const others = new Set(all.filter((u) => u.source !== ctx.source).map((u) => u.userPrincipalName.toLowerCase()));
  const byExternalId = new Map(mine.map((u) => [u.externalId!, u]));
  const seen = new Set<string>();
  const fresh: DirectoryUser[] = [];

  for (const entry of snapshot.users) {
    if (seen.has(entry.externalId)) continue;
    seen.add(entry.externalId);
    const current = byExternalId.get(entry.externalId);
    if (!current) {
      if (others.has(entry.userPrincipalName.toLowerCase())) out.skipped.push(`${entry.dn}: userPrincipalName ${entry.userPrincipalName} belongs to a local user`);
      else fresh.push(entry);
      continue;
    }
    try {
      if (await updateUser(ctx, current, entry, out)) affected.add(current.id);
    } catch (e) {
      if (!(e instanceof StorageConflictError)) throw e;
      out.skipped.push(`${entry.dn}: ${e.message}`);
    }
  }
  for (const id of await createUsers(ctx, fresh, out)) affected.add(id);

  // Only a full read says who is gone; an incremental one lists the changed.
  if (snapshot.full) {
    for (const u of mine) {
      if (seen.has(u.externalId!) || !u.enabled) continue;
      await disable(ctx, u, 'removed from the directory', out);
      affected.add(u.id);
    }
  }

  await applyGroups(ctx, snapshot.groups, out, affected);
  out.affectedUserIds = [...affected].sort();
  return out;
}

/**
 * New users in one transaction (thousands on a first sync); when one of them
 * conflicts (a name a deleted user kept, twice in the directory) one by one,
 * skipping those that conflict.
 */
async function createUsers(ctx: SyncContext, entries: DirectoryUser[], out: SyncOutcome): Promise<string[]> {
  const toNew = (e: DirectoryUser) => ({ userPrincipalName: e.userPrincipalName, email: e.email, displayName: e.displayName, attributes: e.attributes, enabled: e.enabled, externalId: e.externalId, source: ctx.source, at: ctx.now });
  try {
    const made = await ctx.storage.createExternalUsers(entries.map(toNew));
    out.counts.usersCreated += made.length;
    return made.map((u) => u.id);
  } catch (e) {
    if (!(e instanceof StorageConflictError)) throw e;
  }
  const ids: string[] = [];
  for (const entry of entries) {
    try {
      ids.push((await ctx.storage.createExternalUser(toNew(entry))).id);
      out.counts.usersCreated++;
    } catch (e) {
      if (!(e instanceof StorageConflictError)) throw e;
      out.skipped.push(`${entry.dn}: ${e.message}`);
    }
  }
  return ids;
}

/** true when anything about the user changed. */
async function updateUser(ctx: SyncContext, current: User, entry: DirectoryUser, out: SyncOutcome): Promise<boolean> {
  let changed = false;
  if (current.userPrincipalName !== entry.userPrincipalName) {
    await ctx.storage.renameUser(current.id, entry.userPrincipalName);
    changed = true;
  }
  const patch: { email?: string; displayName?: string; attributes?: Attributes; enabled?: boolean } = {};
  if (current.email !== entry.email) patch.email = entry.email;
  if (current.displayName !== entry.displayName) patch.displayName = entry.displayName;
  if (!sameAttributes(current.attributes, entry.attributes)) patch.attributes = entry.attributes;
  if (!entry.enabled && current.enabled) {
    await disable(ctx, current, 'disabled in the directory', out, patch);
    return true;
  }
  if (entry.enabled && !current.enabled) patch.enabled = true;
  if (Object.keys(patch).length > 0) {
    const r = await ctx.storage.updateUser(current.id, patch, ctx.now, DIRECTORY_REVOCATION_REASON);
    if (!r.ok) throw new Error(`could not update user ${current.id}: ${r.reason}`);
    changed = true;
  }
  if (changed) out.counts.usersUpdated++;
  return changed;
}

/** Disables the user the way PATCH enabled:false does (their profile certificates revoked), audited. */
async function disable(ctx: SyncContext, u: User, why: string, out: SyncOutcome, patch: object = {}): Promise<void> {
  const r = await ctx.storage.updateUser(u.id, { ...patch, enabled: false }, ctx.now, DIRECTORY_REVOCATION_REASON);
  if (!r.ok) return; // disabled meanwhile: nothing left to do
  out.counts.usersDisabled++;
  await ctx.storage.appendAudit({
    transactionId: null,
    type: 'directory.user.disabled',
    reasonCode: null,
    actor: ctx.actor ?? `${ctx.source}-sync`,
    details: { userId: u.id, externalId: u.externalId, why, reason: DIRECTORY_REVOCATION_REASON, revoked: r.revoked },
  });
}

async function applyGroups(ctx: SyncContext, entries: DirectoryGroup[], out: SyncOutcome, affected: Set<string>): Promise<void> {
  const existing = (await ctx.storage.listGroups()).filter((g) => g.source === ctx.source);
  const byExternalId = new Map(existing.map((g) => [g.externalId!, g]));
  const wanted = new Map<string, { entry: DirectoryGroup; group: Group }>();
  for (const entry of entries) {
    if (wanted.has(entry.externalId)) continue;
    try {
      let group = byExternalId.get(entry.externalId);
      if (!group) {
        group = await ctx.storage.createExternalGroup(entry.name, ctx.source, entry.externalId);
        out.counts.groupsCreated++;
      } else if (group.name !== entry.name) {
        group = (await ctx.storage.renameGroup(group.id, entry.name)) ?? group;
        out.counts.groupsUpdated++;
      }
      wanted.set(entry.externalId, { entry, group });
    } catch (e) {
      if (!(e instanceof StorageConflictError)) throw e;
      out.skipped.push(`${entry.dn}: ${e.message}`);
    }
  }

  // Members are resolved by DN against every synced user (an incremental read lists only the changed ones).
  const userByDn = new Map<string, string>();
  for (const u of await ctx.storage.listUsers()) {
    const dn = u.source === ctx.source ? u.attributes[DN_ATTRIBUTE] : undefined;
    if (dn) userByDn.set(normalizeDn(dn), u.id);
  }
  const groupByDn = new Map(entries.map((g) => [normalizeDn(g.dn), g]));
  for (const { entry, group } of wanted.values()) {
    const members = effectiveMembers(entry, groupByDn, userByDn);
    await setMembers(ctx, group, members, out, affected);
  }
  // A group gone from the directory keeps its row (assignments name it) but loses its members.
  for (const g of existing) {
    if (wanted.has(g.externalId!) || entries.some((e) => e.externalId === g.externalId)) continue;
    await setMembers(ctx, g, [], out, affected);
  }
}

async function setMembers(ctx: SyncContext, group: Group, userIds: string[], out: SyncOutcome, affected: Set<string>): Promise<void> {
  const { added, removed } = await ctx.storage.setGroupUserMembers(group.id, userIds);
  out.counts.membershipsChanged += added.length + removed.length;
  for (const id of [...added, ...removed]) affected.add(id);
}

/** The group's users, nested groups flattened (each group visited once, so cycles end). */
function effectiveMembers(root: DirectoryGroup, groupByDn: Map<string, DirectoryGroup>, userByDn: Map<string, string>): string[] {
  const users = new Set<string>();
  const visited = new Set<string>([normalizeDn(root.dn)]);
  const queue = [root];
  while (queue.length > 0) {
    const g = queue.shift()!;
    for (const member of g.members) {
      const dn = normalizeDn(member);
      const user = userByDn.get(dn);
      if (user) users.add(user);
      const nested = groupByDn.get(dn);
      if (nested && !visited.has(dn)) {
        visited.add(dn);
        queue.push(nested);
      }
    }
  }
  return [...users];
}
