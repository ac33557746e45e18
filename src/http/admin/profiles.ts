import { Router } from 'express';
import { z } from 'zod';
import { parseProfileSpec } from '../../core/profile/profile-schema.js';
import type { Storage } from '../../core/storage/storage.js';
import { devicesForProfile, devicesForTargets } from '../../core/affected-devices.js';
import type { DeviceChangeListener } from '../../core/device-changes.js';
import type { AssignmentTarget } from '../../core/model.js';
import { HttpError, notFound, parseBody } from '../errors.js';

// Certificate profiles (versioned) and their assignments.

function specOrThrow(body: unknown) {
  const r = parseProfileSpec(body);
  if (!r.ok) throw new HttpError(400, 'invalid profile', r.issues);
  return r.spec;
}

const assignmentBody = z.union(
  [
    z.strictObject({ profileId: z.string().uuid(), userId: z.string().uuid() }),
    z.strictObject({ profileId: z.string().uuid(), deviceId: z.string().uuid() }),
    z.strictObject({ profileId: z.string().uuid(), groupId: z.string().uuid() }),
  ],
  { message: 'give profileId and exactly one of userId, deviceId or groupId' },
);

export function profileRoutes(storage: Storage, devicesChanged: DeviceChangeListener = () => {}): Router {
  const r = Router();

  r.post('/profiles', async (req, res) => {
    res.status(201).json(await storage.createProfile(specOrThrow(req.body)));
  });
  r.get('/profiles', async (_req, res) => {
    res.json(await storage.listProfiles());
  });
  r.get('/profiles/:id', async (req, res) => {
    const v = req.query.version === undefined ? undefined : Number(req.query.version);
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new HttpError(400, 'version must be a positive integer');
    const p = await storage.getProfile(req.params.id, v);
    if (!p) throw notFound('profile');
    res.json(p);
  });
  r.put('/profiles/:id', async (req, res) => {
    const p = await storage.updateProfile(req.params.id, specOrThrow(req.body));
    if (!p) throw notFound('profile');
    devicesChanged(devicesForProfile(storage, p.id));
    res.json(p);
  });
  r.delete('/profiles/:id', async (req, res) => {
    // Work out who had it before the assignments go with it.
    const affected = await devicesForProfile(storage, req.params.id);
    if (!(await storage.deleteProfile(req.params.id))) throw notFound('profile');
    devicesChanged(affected);
    res.status(204).end();
  });

  r.post('/assignments', async (req, res) => {
    const { profileId, ...rest } = parseBody(assignmentBody, req.body);
    const created = await storage.createAssignment(profileId, rest as AssignmentTarget);
    devicesChanged(devicesForTargets(storage, [created.target]));
    res.status(201).json(created);
  });
  r.get('/assignments', async (req, res) => {
    const profileId = typeof req.query.profileId === 'string' ? req.query.profileId : undefined;
    res.json(await storage.listAssignments(profileId ? { profileId } : undefined));
  });
  r.delete('/assignments/:id', async (req, res) => {
    const gone = (await storage.listAssignments()).find((a) => a.id === req.params.id);
    if (!gone || !(await storage.deleteAssignment(gone.id))) throw notFound('assignment');
    devicesChanged(devicesForTargets(storage, [gone.target]));
    res.status(204).end();
  });

  return r;
}
