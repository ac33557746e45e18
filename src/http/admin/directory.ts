import { Router } from 'express';
import { z } from 'zod';
import { PLATFORMS } from '../../core/model.js';
import type { DirectoryStore, DeliveryStore, AssignmentStore, IssuanceStore, AuditStore } from '../../core/storage/storage.js';
import { devicesForMember } from '../../core/affected-devices.js';
import { flagCollisionsWithAdminValue } from '../../core/reported-values.js';
import type { Device } from '../../core/model.js';
import type { DeviceChangeListener } from '../../core/device-changes.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';

// Users, devices and groups: the directory profiles' templates are filled from.

const attributes = z
  .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'attribute names: letters, digits, _ and -'), z.string().max(1024))
  .refine((a) => Object.keys(a).length <= 64, 'at most 64 attributes')
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

const memberBody = z.union(
  [z.strictObject({ userId: z.string().uuid() }), z.strictObject({ deviceId: z.string().uuid() })],
  { message: 'give exactly one of userId or deviceId' },
);

export function directoryRoutes(storage: DirectoryStore & AssignmentStore & IssuanceStore & DeliveryStore & AuditStore, devicesChanged: DeviceChangeListener = () => {}): Router {
  const r = Router();

  /** A name or serial the admin gives a device stops another device's equal reported value from reaching certificates. */
  async function flagReportedCollisions(d: Device): Promise<void> {
    await flagCollisionsWithAdminValue(storage, d.id, 'name', d.name, 'admin');
    await flagCollisionsWithAdminValue(storage, d.id, 'serialNumber', d.serialNumber, 'admin');
  }

  r.post('/users', apiDoc({ tag: 'Directory', summary: 'Create a user', body: userBody, responses: { 201: 'the user', 400: 'a field is invalid', 409: 'the userPrincipalName is taken' } }), async (req, res) => {
    res.status(201).json(await storage.createUser(parseBody(userBody, req.body)));
  });
  r.get('/users', apiDoc({ tag: 'Directory', summary: 'List users', responses: { 200: 'every user not deleted' } }), async (_req, res) => {
    res.json(await storage.listUsers());
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
  r.get('/devices', apiDoc({ tag: 'Directory', summary: 'List devices', responses: { 200: 'every device not deleted' } }), async (_req, res) => {
    res.json(await storage.listDevices());
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
  r.get('/groups', apiDoc({ tag: 'Directory', summary: 'List groups', responses: { 200: 'every group' } }), async (_req, res) => {
    res.json(await storage.listGroups());
  });
  r.get('/groups/:id', apiDoc({ tag: 'Directory', summary: 'Read a group', responses: { 200: 'the group', 404: 'unknown group' } }), async (req, res) => {
    const g = await storage.getGroup(req.params.id);
    if (!g) throw notFound('group');
    res.json(g);
  });
  r.post('/groups/:id/members', apiDoc({ tag: 'Directory', summary: 'Add a user or a device to a group', body: memberBody, responses: { 201: '{groupId, userId | deviceId}', 400: 'not exactly one of userId or deviceId', 404: 'unknown group or member', 409: 'already a member' } }), async (req, res) => {
    const member = parseBody(memberBody, req.body);
    await storage.addGroupMember(req.params.id, member);
    devicesChanged(devicesForMember(storage, member));
    res.status(201).json({ groupId: req.params.id, ...member });
  });
  r.delete('/groups/:id/members/:kind/:memberId', apiDoc({ tag: 'Directory', summary: 'Remove a member (kind: users or devices)', responses: { 204: 'removed', 404: 'unknown kind, group or member' } }), async (req, res) => {
    const { kind, memberId } = req.params;
    if (kind !== 'users' && kind !== 'devices') throw new HttpError(404, 'member kind must be users or devices');
    const member = kind === 'users' ? { userId: memberId } : { deviceId: memberId };
    const removed = await storage.removeGroupMember(req.params.id, member);
    if (!removed) throw notFound('group member');
    devicesChanged(devicesForMember(storage, member));
    res.status(204).end();
  });

  return r;
}
