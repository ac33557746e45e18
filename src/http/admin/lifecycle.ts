import { Router, type Response } from 'express';
import { z } from 'zod';
import type { RevocationReason } from '../../core/model.js';
import type { DirectoryStore, AuditStore } from '../../core/storage/storage.js';
import type { DeviceChangeListener } from '../../core/device-changes.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';
import { reasonBody } from './revocation.js';

// Revocation triggers an administrator pulls (lifecycle issue #9, item 2;
// docs/lifecycle.md): retiring or deleting a device, disabling or deleting a
// user. Each is one storage transaction with its revocations (nothing is half
// retired), audited with the serials it revoked. Refusals write nothing.

/** A device that leaves service for good (retired, deleted). */
export const RETIRE_REVOCATION_REASON: RevocationReason = 'cessationOfOperation';
/** A user who is no longer ours to certify (disabled, deleted); re-enabling does not un-revoke. */
export const USER_REVOCATION_REASON: RevocationReason = 'affiliationChanged';

const attributes = z
  .record(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'attribute names: letters, digits, _ and -'), z.string().max(1024))
  .refine((a) => Object.keys(a).length <= 64, 'at most 64 attributes');

// The fields of POST /users an admin may change (not the userPrincipalName: certificates name it), and enabled.
const userPatch = z.strictObject({
  email: z.string().trim().email('must be an email address').optional(),
  displayName: z.string().trim().min(1, 'must not be empty').max(256).optional(),
  attributes: attributes.optional(),
  enabled: z.boolean({ message: 'must be true or false' }).optional(),
});

export function lifecycleRoutes(storage: DirectoryStore & AuditStore, devicesChanged: DeviceChangeListener = () => {}, clock: () => Date = () => new Date()): Router {
  const r = Router();
  const now = () => clock().toISOString();
  const audit = (type: string, details: Record<string, unknown>) => storage.appendAudit({ transactionId: null, type, reasonCode: null, actor: 'admin', details });

  // Retire in two steps (core/retirement.ts): profile certificates now, the
  // identity once the platform confirmed the removals or the grace ended.
  r.post('/devices/:id/retire', apiDoc({ tag: 'Lifecycle', summary: 'Retire a device: revoke its profile certificates now, remove its profiles through its platform, then revoke its identity (keyCompromise: everything at once)', body: reasonBody(RETIRE_REVOCATION_REASON), bodyRequired: false, responses: { 200: '{device (retiringSince, retiredAt), revoked: [serial...]}', 400: 'reason is not a revocation reason', 404: 'unknown device', 409: 'already retiring or retired' } }), async (req, res) => {
    const { reason } = parseBody(reasonBody(RETIRE_REVOCATION_REASON), req.body);
    // A compromised key must not keep checking in, even to receive removals: everything is revoked at once.
    if (reason === 'keyCompromise') return retireAtOnce(req.params.id, reason, res);
    const result = await storage.beginRetireDevice(req.params.id, now(), reason);
    if (!result.ok && result.reason === 'not-found') throw notFound('device');
    if (!result.ok) throw new HttpError(409, result.reason === 'already-retiring' ? 'the device is already retiring' : 'the device is already retired');
    await audit('device.retire.requested', { deviceId: result.device.id, reason, revoked: result.revoked });
    // Adapters that push (Apple) queue the removals and wake the device now.
    devicesChanged([result.device]);
    res.json({ device: result.device, revoked: result.revoked });
  });

  async function retireAtOnce(id: string, reason: RevocationReason, res: Response) {
    const current = await storage.getDevice(id);
    if (current?.retiringSince && !current.retiredAt) throw new HttpError(409, 'the device is already retiring');
    const result = await storage.retireDevice(id, now(), reason);
    if (!result.ok && result.reason === 'not-found') throw notFound('device');
    if (!result.ok) throw new HttpError(409, 'the device is already retired');
    await audit('device.retire.requested', { deviceId: result.device.id, reason, revoked: result.revoked });
    await audit('device.retire.completed', { deviceId: result.device.id, how: 'at-once', reason, revoked: result.revoked });
    devicesChanged([result.device]);
    res.json({ device: result.device, revoked: result.revoked });
  }

  r.delete('/devices/:id', apiDoc({ tag: 'Lifecycle', summary: 'Delete a device (revokes like retiring, then hides it)', responses: { 204: 'deleted', 404: 'unknown or already deleted device' } }), async (req, res) => {
    const result = await storage.deleteDevice(req.params.id, now(), RETIRE_REVOCATION_REASON);
    if (!result.ok) throw notFound('device');
    await audit('admin.device.deleted', { deviceId: result.device.id, reason: RETIRE_REVOCATION_REASON, revoked: result.revoked });
    res.status(204).end();
  });

  r.patch('/users/:id', apiDoc({ tag: 'Lifecycle', summary: 'Change a user; enabled: false revokes their certificates', body: userPatch, responses: { 200: 'the user', 400: 'a field is invalid or may not be changed', 404: 'unknown user', 409: 'enabled: false on a disabled user' } }), async (req, res) => {
    const patch = parseBody(userPatch, req.body);
    const result = await storage.updateUser(req.params.id, patch, now(), USER_REVOCATION_REASON);
    if (!result.ok && result.reason === 'not-found') throw notFound('user');
    if (!result.ok) throw new HttpError(409, 'the user is already disabled');
    const { enabled, ...fields } = patch;
    if (Object.keys(fields).length > 0) await audit('admin.user.updated', { userId: result.user.id, fields: Object.keys(fields).sort() });
    if (enabled === false) await audit('admin.user.disabled', { userId: result.user.id, reason: USER_REVOCATION_REASON, revoked: result.revoked });
    if (enabled === true) await audit('admin.user.enabled', { userId: result.user.id });
    // Attributes fill templates, and a disabled user's profiles no longer resolve: their devices may get something else.
    devicesChanged(storage.listDevicesOfUser(result.user.id));
    res.json(result.user);
  });

  r.delete('/users/:id', apiDoc({ tag: 'Lifecycle', summary: 'Delete a user (revokes like disabling, then hides them)', responses: { 204: 'deleted', 404: 'unknown or already deleted user' } }), async (req, res) => {
    const result = await storage.deleteUser(req.params.id, now(), USER_REVOCATION_REASON);
    if (!result.ok) throw notFound('user');
    await audit('admin.user.deleted', { userId: result.user.id, reason: USER_REVOCATION_REASON, revoked: result.revoked, devicesCleared: result.devices });
    devicesChanged(Promise.all(result.devices.map((id) => storage.getDevice(id))).then((ds) => ds.filter((d) => d !== null)));
    res.status(204).end();
  });

  return r;
}
