import type { Device, Group, MemberRef, User, DeviceReported, ReportedField, RevocationReason } from '../model.js';
import type { NewUser, NewDevice, DevicePatch, BlockResult, UnblockResult, UserPatch, UpdateUserResult, DeleteUserResult, RetireResult, BeginRetireResult, DeleteDeviceResult, UserPageQuery, DevicePageQuery, NewExternalUser, ExternalSource, DeleteGroupResult, DirectorySearch, CreatedPageQuery, UserSearchQuery, UserSearchPage } from './storage.js';

// The directory: users, devices, groups, memberships and the device/user
// lifecycle (docs/lifecycle.md). The lifecycle methods (block, retire, delete,
// disable) also revoke certificates and drop memberships, assignments and
// pending removals: they stay here, each one transaction, because a device that
// is half retired (marked, but its certificates still valid) must not exist.
export interface DirectoryStore {
  createUser(u: NewUser): Promise<User>; // conflict on a duplicate userPrincipalName
  getUser(id: string): Promise<User | null>;
  /** Users not deleted; `q` keeps those whose userPrincipalName, email or displayName contain it, ignoring case. */
  listUsers(search?: DirectorySearch): Promise<User[]>;
  createDevice(d: NewDevice): Promise<Device>; // throws StorageConflictError(not-found) for an unknown userId
  getDevice(id: string): Promise<Device | null>;
  listDevices(): Promise<Device[]>;
  /**
   * Fields left undefined are untouched; `attributes` replaces the whole map.
   * null when the device does not exist; not-found for an unknown userId.
   */
  updateDevice(id: string, patch: DevicePatch): Promise<Device | null>;
  /**
   * One transaction: marks the device blocked and revokes every unrevoked
   * certificate issued for it (and their renewals) with `reason`. Refused,
   * writing nothing, when the device is unknown or already blocked.
   */
  blockDevice(id: string, at: string, reason: RevocationReason): Promise<BlockResult>;
  /** Clears the block; revoked certificates stay revoked. */
  unblockDevice(id: string): Promise<UnblockResult>;
  /** Replaces the device's reported values and their conflicts. null when the device does not exist. */
  setDeviceReported(id: string, reported: DeviceReported): Promise<Device | null>;
  /**
   * Devices whose admin value or reported value of `field` equals `value`,
   * ignoring case and surrounding blanks (to find who else claims a name or serial).
   */
  findDevicesByIdentifier(field: ReportedField, value: string): Promise<Device[]>;
  createGroup(name: string): Promise<Group>; // conflict on a duplicate name
  getGroup(id: string): Promise<Group | null>;
  /** Groups; `q` keeps those whose name contains it, ignoring case. */
  listGroups(search?: DirectorySearch): Promise<Group[]>;
  /** null when unknown; conflict when the name is taken. */
  renameGroup(id: string, name: string): Promise<Group | null>;
  /**
   * One transaction: deletes the group and its memberships, returning the
   * members it had. Refused, writing nothing, while an assignment targets it
   * (removing those is the admin's choice: it revokes certificates).
   */
  deleteGroup(id: string): Promise<DeleteGroupResult>;
  /** Idempotent; not-found when the group or member does not exist. */
  addGroupMember(groupId: string, member: MemberRef): Promise<void>;
  removeGroupMember(groupId: string, member: MemberRef): Promise<boolean>;
  /** Ids of the groups the user or device is a direct member of (sorted by id). */
  groupsOf(member: MemberRef): Promise<string[]>;
  /** groupsOf for several members in one read: one list per member, in the order given. */
  groupsOfMembers(members: readonly MemberRef[]): Promise<string[][]>;
  /** The direct members of a group (empty for an unknown group). */
  listGroupMembers(groupId: string): Promise<MemberRef[]>;
  /** Devices whose primary user this is. */
  listDevicesOfUser(userId: string): Promise<Device[]>;

  // ---- lifecycle (revocation triggers, docs/lifecycle.md). Each is one
  // transaction with its revocations: nothing is half retired or half deleted.
  /**
   * Updates the user's fields; `enabled: false` on an enabled user also
   * revokes every unrevoked profile certificate issued for the user (and their
   * renewals) with `reason`; `enabled: true` only re-enables (nothing is
   * un-revoked). Refused, writing nothing: not-found, or already-disabled for
   * `enabled: false` on a disabled user.
   */
  updateUser(id: string, patch: UserPatch, at: string, reason: RevocationReason): Promise<UpdateUserResult>;
  /**
   * Deletes the user: the row is kept (certificates and audit name it) but no
   * read returns it; its profile certificates are revoked with `reason`, it is
   * cleared as primary user of its devices (`devices` lists them), and its
   * group memberships and user assignments are removed. Its userPrincipalName
   * stays taken.
   */
  deleteUser(id: string, at: string, reason: RevocationReason): Promise<DeleteUserResult>;
  /**
   * Marks the device retired and revokes every unrevoked certificate issued
   * for it (identity and profile, and their renewals) with `reason`. Refused,
   * writing nothing, when unknown or already retired.
   */
  retireDevice(id: string, at: string, reason: RevocationReason): Promise<RetireResult>;
  /**
   * Starts retiring the device (POST /devices/:id/retire): sets retiringSince
   * and revokes every unrevoked profile certificate issued for it (and their
   * renewals) with `reason`; its identity stays valid until retireDevice.
   * Refused, writing nothing, when unknown, already retiring or retired.
   */
  beginRetireDevice(id: string, at: string, reason: RevocationReason): Promise<BeginRetireResult>;
  /** Devices retiring (not yet retired, not deleted) since before `before` (exclusive), oldest first. */
  listRetiringDevices(before: string): Promise<Device[]>;
  /**
   * Deletes the device: revoked like retireDevice (a retired device may be
   * deleted), the row is kept for its certificates and audit but no read
   * returns it; its group memberships, device assignments and pending
   * removals are removed. not-found when unknown or already deleted.
   */
  deleteDevice(id: string, at: string, reason: RevocationReason): Promise<DeleteDeviceResult>;
  /**
   * Revokes every unrevoked certificate issued for the device (and their
   * renewals) without changing the device (it unenrolled and may enroll
   * again). null for an unknown device; [] when nothing was left to revoke.
   */
  revokeDeviceCertificates(id: string, at: string, reason: RevocationReason): Promise<string[] | null>;

  // ---- directory sync (docs/directory.md)
  /** Users not deleted, in list order (createdAt, id), after `after`, at most `limit` (1..10000), of one source when given. */
  listUsersPage(q: UserPageQuery): Promise<User[]>;
  /**
   * A substring of userPrincipalName, email or displayName, ignoring case,
   * over at most `examine` users after `after`: the page may hold fewer than
   * `limit` matches (none) while `next` says where to resume.
   */
  searchUsersPage(q: UserSearchQuery): Promise<UserSearchPage>;
  /** Devices not deleted, in list order (createdAt, id), after `after`, at most `limit` (1..10000): GET /devices' pages. */
  listDevicesPage(q: DevicePageQuery): Promise<Device[]>;
  /** Groups in list order (createdAt, id), after `after`, at most `limit`; `q` as listGroups: GET /groups' pages. */
  listGroupsPage(q: CreatedPageQuery & DirectorySearch): Promise<Group[]>;
  /** A user owned by a directory; conflict when the userPrincipalName or (source, externalId) is taken. */
  createExternalUser(u: NewExternalUser): Promise<User>;
  /** Several at once, in one transaction (a first sync brings thousands); a conflict on any writes none. Returned in the order given. */
  createExternalUsers(users: readonly NewExternalUser[]): Promise<User[]>;
  /** The directory renamed the user; null when unknown or deleted; conflict when the name is taken. */
  renameUser(id: string, userPrincipalName: string): Promise<User | null>;
  /** A group owned by a directory; conflict when the name or (source, externalId) is taken. */
  createExternalGroup(name: string, source: ExternalSource, externalId: string): Promise<Group>;
  /**
   * One transaction: the group's user members become exactly `userIds`
   * (device members untouched). Returns the users added and removed (sorted).
   * not-found for an unknown group or user, writing nothing.
   */
  setGroupUserMembers(groupId: string, userIds: readonly string[]): Promise<{ added: string[]; removed: string[] }>;
}
