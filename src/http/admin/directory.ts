import { Router } from 'express';
import { z } from 'zod';
import { PLATFORMS } from '../../core/model.js';
import type { DirectoryStore, DeliveryStore, AssignmentStore, IssuanceStore, AuditStore } from '../../core/storage/storage.js';
import { devicesForMember } from '../../core/affected-devices.js';
import { flagCollisionsWithAdminValue } from '../../core/reported-values.js';
import type { Device } from '../../core/model.js';
import type { DeviceChangeListener } from '../../core/device-changes.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { fieldIssues } from '../../core/field-issues.js';
import { apiDoc } from './api-doc.js';
import { decodeUserCursor, encodeUserCursor, refuseSyncedGroup, userListQuery, USERS_EXAMINED_PER_SEARCH } from './directory-source.js';
import { answerCreatedPage, createdListQuery, decodeDeviceCursor, deviceListQuery, encodeDeviceCursor, linkNextPage } from './list-pages.js';
import { SID_ATTRIBUTE, sidAttributeProblem } from '../../core/profile/security-identifier.js';

// Users, devices and groups: the directory profiles' templates are filled from.

const attributes = z
  .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'attribute names: letters, digits, _ and -'), z.string().max(1024))
  .refine((a) => Object.keys(a).length <= 64, 'at most 64 attributes')
  .superRefine((a, ctx) => {
    // ObjectSid feeds strong certificate mapping (docs/strong-mapping.md): refuse a malformed one now, not at delivery.
    const problem = sidAttributeProblem(a);
    if (problem) ctx.addIssue({ code: 'custom', path: [SID_ATTRIBUTE], message: problem });
  })
  .optional();

const userBody = z.strictObject({
  userPrincipalName: z.string().trim().regex(/^[^@\s]+@[^@\s]+$/, 'must look like user@domain'),
  email: z.string().trim().email('must be an email address'),
  displayName: z.string().trim().min(1, 'must not be empty').max(256),
  attributes,
});

const deviceBody = z.strictObject({
  name: z.string().trim().min(1, 'must not be empty').max(256),
  platform: z.enum(PLATFORMS, { message: `must be one of ${PLATFORMS.join(', ')}` }),
  serialNumber: z.string().trim().min(1).max(128).nullable().optional(),
  userId: z.string().uuid('must be a user id').nullable().optional(),
  attributes,
});

// name: null clears the admin's name, so {{DeviceName}} falls back on the device's reported one.
const devicePatch = deviceBody
  .omit({ platform: true })
  .extend({ name: z.string().trim().min(1, 'must not be empty').max(256).nullable() })
  .partial();

const groupBody = z.strictObject({ name: z.string().trim().min(1, 'must not be empty').max(256) });

// ?q=: a case-insensitive substring (users: userPrincipalName, email, displayName; groups: name).
const searchQuery = z.strictObject({ q: z.string({ message: 'give q once' }).trim().min(1, 'must not be empty').max(256, 'must be at most 256 characters').optional() });

// GET /groups: paged (list-pages.ts), and q a substring: groups are few enough (hundreds to thousands) that the walk stays cheap.
const groupListQuery = createdListQuery(searchQuery.shape);

const memberBody = z.union(
  [z.strictObject({ userId: z.string().uuid() }), z.strictObject({ deviceId: z.string().uuid() })],
  { message: 'give exactly one of userId or deviceId' },
);

export function directoryRoutes(storage: DirectoryStore & AssignmentStore & IssuanceStore & DeliveryStore & AuditStore, devicesChanged: DeviceChangeListener = () => {}): Router {
  const r = Router();
  const audit = (type: string, details: Record<string, unknown>) => storage.appendAudit({ transactionId: null, type, reasonCode: null, actor: 'admin', details });

  /** A name or serial the admin gives a device stops another device's equal reported value from reaching certificates. */
  async function flagReportedCollisions(d: Device): Promise<void> {
    await flagCollisionsWithAdminValue(storage, d.id, 'name', d.name, 'admin');
    await flagCollisionsWithAdminValue(storage, d.id, 'serialNumber', d.serialNumber, 'admin');
  }

  r.post('/users', apiDoc({ tag: 'Directory', summary: 'Create a user', body: userBody, responses: { 201: 'the user', 400: 'a field is invalid', 409: 'the userPrincipalName is taken' } }), async (req, res) => {
    res.status(201).json(await storage.createUser(parseBody(userBody, req.body)));
  });
  r.get('/users', apiDoc({ tag: 'Directory', summary: 'List users, paged (X-Next-Cursor; pass it as after), by source, q (case-insensitive prefix of userPrincipalName, email or displayName) and contains (substring, not indexed: at most 5,000 users read a request, follow X-Next-Cursor; a page may hold fewer matches than limit)', query: userListQuery, responses: { 200: 'one page of users not deleted, in creation order', 400: 'invalid query: issues name each parameter' } }), async (req, res) => {
    const parsed = userListQuery.safeParse(req.query);
    if (!parsed.success) throw new HttpError(400, 'invalid query', fieldIssues(parsed.error));
    const q = parsed.data;
    if (q.contains !== undefined) {
      // A substring: bounded walk (USERS_EXAMINED_PER_SEARCH users a request); a page may hold fewer matches than limit, even none, while X-Next-Cursor is set.
      if (q.q !== undefined) throw new HttpError(400, 'invalid query', [{ path: 'contains', message: 'give q or contains, not both' }]);
      const found = await storage.searchUsersPage({ contains: q.contains, examine: USERS_EXAMINED_PER_SEARCH, limit: q.limit, ...(q.source && { source: q.source }), ...(q.after !== undefined && { after: decodeUserCursor(q.after) }) });
      if (found.next) res.set('X-Next-Cursor', encodeUserCursor(found.next));
      return void res.json(found.users);
    }
    // One more than the page: whether it exists decides the next cursor.
    const rows = await storage.listUsersPage({ limit: q.limit + 1, ...(q.source && { source: q.source }), ...(q.q && { prefix: q.q }), ...(q.after !== undefined && { after: decodeUserCursor(q.after) }) });
    const page = rows.slice(0, q.limit);
    if (rows.length > q.limit) res.set('X-Next-Cursor', encodeUserCursor(page[page.length - 1]!));
    res.json(page);
  });
  r.get('/users/:id', apiDoc({ tag: 'Directory', summary: 'Read a user', responses: { 200: 'the user', 404: 'unknown or deleted user' } }), async (req, res) => {
    const u = await storage.getUser(req.params.id);
    if (!u) throw notFound('user');
    res.json(u);
  });

  r.post('/devices', apiDoc({ tag: 'Directory', summary: 'Create a device', body: deviceBody, responses: { 201: 'the device', 400: 'a field is invalid', 404: 'userId names no user' } }), async (req, res) => {
    const body = parseBody(deviceBody, req.body);
    if (body.userId && !(await storage.getUser(body.userId))) throw new HttpError(404, 'userId: user not found');
    const d = await storage.createDevice(body);
    await flagReportedCollisions(d);
    res.status(201).json(d);
  });
  r.get('/devices', apiDoc({ tag: 'Directory', summary: 'List devices, paged (X-Next-Cursor, Link rel=next; pass it as after)', query: deviceListQuery, responses: { 200: 'one page of devices not deleted, in creation order', 400: 'invalid query: issues name each parameter' } }), async (req, res) => {
    const parsed = deviceListQuery.safeParse(req.query);
    if (!parsed.success) throw new HttpError(400, 'invalid query', fieldIssues(parsed.error));
    const q = parsed.data;
    // One more than the page: whether it exists decides the next cursor.
    const rows = await storage.listDevicesPage({ limit: q.limit + 1, ...(q.after !== undefined && { after: decodeDeviceCursor(q.after) }) });
    const page = rows.slice(0, q.limit);
    if (rows.length > q.limit) linkNextPage(req, res, 'after', encodeDeviceCursor(page[page.length - 1]!));
    res.json(page);
  });
  r.get('/devices/:id', apiDoc({ tag: 'Directory', summary: 'Read a device', responses: { 200: 'the device (admin values and device-reported ones)', 404: 'unknown or deleted device' } }), async (req, res) => {
    const d = await storage.getDevice(req.params.id);
    if (!d) throw notFound('device');
    res.json(d);
  });
  r.patch('/devices/:id', apiDoc({ tag: 'Directory', summary: 'Change a device (name: null clears it)', body: devicePatch, responses: { 200: 'the device', 400: 'a field is invalid', 404: 'unknown device, or userId names no user' } }), async (req, res) => {
    const body = parseBody(devicePatch, req.body);
    if (body.userId && !(await storage.getUser(body.userId))) throw new HttpError(404, 'userId: user not found');
    const d = await storage.updateDevice(req.params.id, body);
    if (!d) throw notFound('device');
    await flagReportedCollisions(d);
    // A new primary user brings that user's profiles.
    if (body.userId !== undefined) devicesChanged([d]);
    res.json(d);
  });

  r.get('/devices/:id/deliveries', apiDoc({ tag: 'Directory', summary: "The device's delivery status per profile", responses: { 200: 'what the device last reported per profile', 404: 'unknown device' } }), async (req, res) => {
    if (!(await storage.getDevice(req.params.id))) throw notFound('device');
    res.json(await storage.listDeliveryStatus({ deviceId: req.params.id }));
  });

  r.post('/groups', apiDoc({ tag: 'Directory', summary: 'Create a group', body: groupBody, responses: { 201: 'the group', 400: 'a field is invalid', 409: 'the name is taken' } }), async (req, res) => {
    res.status(201).json(await storage.createGroup(parseBody(groupBody, req.body).name));
  });
  r.get('/groups', apiDoc({ tag: 'Directory', summary: 'List groups, paged (X-Next-Cursor, Link rel=next; pass it as after); q: case-insensitive substring of the name', query: groupListQuery, responses: { 200: 'one page of groups (that match q), in creation order', 400: 'invalid query: issues name each parameter' } }), async (req, res) => {
    await answerCreatedPage(req, res, groupListQuery, (q) => storage.listGroupsPage({ limit: q.limit, ...(q.after && { after: q.after }), ...(q.q !== undefined && { q: q.q }) }));
  });
  r.get('/groups/:id', apiDoc({ tag: 'Directory', summary: 'Read a group', responses: { 200: 'the group', 404: 'unknown group' } }), async (req, res) => {
    const g = await storage.getGroup(req.params.id);
    if (!g) throw notFound('group');
    res.json(g);
  });
  r.patch('/groups/:id', apiDoc({ tag: 'Directory', summary: 'Rename a group', body: groupBody, responses: { 200: 'the group', 400: 'a field is invalid', 404: 'unknown group', 409: 'the name is taken' } }), async (req, res) => {
    const { name } = parseBody(groupBody, req.body);
    const g = await storage.renameGroup(req.params.id, name);
    if (!g) throw notFound('group');
    await audit('admin.group.renamed', { groupId: g.id, name: g.name });
    res.json(g);
  });
  // Refused while assignments target the group: deleting those is a separate, deliberate step
  // (it removes profiles and revokes their certificates); a group delete must not do it by surprise.
  r.delete('/groups/:id', apiDoc({ tag: 'Directory', summary: 'Delete a group and its memberships (refused while assignments target it)', responses: { 204: 'deleted', 404: 'unknown group', 409: 'assignments target the group: delete them first (their ids are in assignments)' } }), async (req, res) => {
    const result = await storage.deleteGroup(req.params.id);
    if (!result.ok && result.reason === 'not-found') throw notFound('group');
    if (!result.ok) {
      const ids = result.reason === 'has-assignments' ? result.assignments : [];
      res.status(409).json({ error: `${ids.length} assignment(s) target this group; delete them first (DELETE /api/v1/assignments/:id)`, assignments: ids });
      return;
    }
    await audit('admin.group.deleted', { groupId: result.group.id, name: result.group.name, members: result.members.length });
    // Memberships are gone: their devices re-evaluate what reaches them.
    devicesChanged(Promise.all(result.members.map((m) => devicesForMember(storage, m))).then((ds) => ds.flat()));
    res.status(204).end();
  });
  r.post('/groups/:id/members', apiDoc({ tag: 'Directory', summary: 'Add a user or a device to a group', body: memberBody, responses: { 201: '{groupId, userId | deviceId}', 400: 'not exactly one of userId or deviceId', 404: 'unknown group or member', 409: 'the group is synced from a directory' } }), async (req, res) => {
    const member = parseBody(memberBody, req.body);
    await refuseSyncedGroup(storage, req.params.id);
    await storage.addGroupMember(req.params.id, member);
    devicesChanged(devicesForMember(storage, member));
    res.status(201).json({ groupId: req.params.id, ...member });
  });
  r.delete('/groups/:id/members/:kind/:memberId', apiDoc({ tag: 'Directory', summary: 'Remove a member (kind: users or devices)', responses: { 204: 'removed', 404: 'unknown kind, group or member', 409: 'the group is synced from a directory' } }), async (req, res) => {
    const { kind, memberId } = req.params;
    if (kind !== 'users' && kind !== 'devices') throw new HttpError(404, 'member kind must be users or devices');
    const member = kind === 'users' ? { userId: memberId } : { deviceId: memberId };
    await refuseSyncedGroup(storage, req.params.id);
    const removed = await storage.removeGroupMember(req.params.id, member);
    if (!removed) throw notFound('group member');
    devicesChanged(devicesForMember(storage, member));
    res.status(204).end();
  });

  return r;
}
