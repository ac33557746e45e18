import { Router } from 'express';
import { z } from 'zod';
import { parseProfileSpec, profileSpecSchema } from '../../core/profile/profile-schema.js';
import type { ProfileStore, AssignmentStore, DirectoryStore, IssuanceStore, DeliveryStore } from '../../core/storage/storage.js';
import { devicesForProfile, devicesForTargets } from '../../core/affected-devices.js';
import type { DeviceChangeListener } from '../../core/device-changes.js';
import type { AssignmentTarget } from '../../core/model.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';
import { answerCreatedPage, createdListQuery } from './list-pages.js';

// Certificate profiles (versioned) and their assignments.

/** The CA names profiles may give as `issuer` (the gateway's CA registry); without it any well-formed name passes. */
export interface KnownCas {
  has(name: string): boolean;
  names(): string[];
}

function specOrThrow(body: unknown, cas?: KnownCas) {
  const r = parseProfileSpec(body);
  if (!r.ok) throw new HttpError(400, 'invalid profile', r.issues);
  if (cas && !cas.has(r.spec.issuer)) {
    throw new HttpError(400, 'invalid profile', [{ path: 'issuer', message: `no CA named "${r.spec.issuer}" on this gateway (known: ${cas.names().join(', ')}); add a local CA with 'mdmgw ca init --name' or an upstream CA in MDMGW_UPSTREAM_CAS` }]);
  }
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

// What the readers below accept (they parse by hand, with these bounds).
const versionQuery = z.object({ version: z.string().regex(/^[1-9][0-9]*$/).optional().describe('an older version of the profile (1, 2, ...)') });
// The lists page in creation order like GET /devices (list-pages.ts).
const profileListQuery = createdListQuery({});
const assignmentQuery = createdListQuery({ profileId: z.string({ message: 'profileId must be given once' }).uuid('profileId must be a profile id').optional().describe("only this profile's assignments") });

export function profileRoutes(storage: DirectoryStore & ProfileStore & AssignmentStore & IssuanceStore & DeliveryStore, devicesChanged: DeviceChangeListener = () => {}, cas?: KnownCas): Router {
  const r = Router();

  r.post('/profiles', apiDoc({ tag: 'Profiles', summary: 'Create a certificate profile (version 1)', body: profileSpecSchema, responses: { 201: 'the profile', 400: 'invalid profile: issues name each field' } }), async (req, res) => {
    res.status(201).json(await storage.createProfile(specOrThrow(req.body, cas)));
  });
  r.get('/profiles', apiDoc({ tag: 'Profiles', summary: 'List profiles (current versions), paged (X-Next-Cursor, Link rel=next; pass it as after)', query: profileListQuery, responses: { 200: 'one page of profiles not deleted, in creation order', 400: 'invalid query: issues name each parameter' } }), async (req, res) => {
    await answerCreatedPage(req, res, profileListQuery, (q) => storage.listProfilesPage(q));
  });
  r.get('/profiles/:id', apiDoc({ tag: 'Profiles', summary: 'Read a profile, or one of its versions', query: versionQuery, responses: { 200: 'the profile', 400: 'version is not a positive integer', 404: 'unknown profile or version' } }), async (req, res) => {
    const v = req.query.version === undefined ? undefined : Number(req.query.version);
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new HttpError(400, 'version must be a positive integer');
    const p = await storage.getProfile(req.params.id, v);
    if (!p) throw notFound('profile');
    res.json(p);
  });
  r.put('/profiles/:id', apiDoc({ tag: 'Profiles', summary: 'Write a new version of a profile', body: profileSpecSchema, responses: { 200: 'the new version', 400: 'invalid profile: issues name each field', 404: 'unknown profile' } }), async (req, res) => {
    const p = await storage.updateProfile(req.params.id, specOrThrow(req.body, cas));
    if (!p) throw notFound('profile');
    devicesChanged(devicesForProfile(storage, p.id));
    res.json(p);
  });
  r.delete('/profiles/:id', apiDoc({ tag: 'Profiles', summary: 'Delete a profile and its assignments', responses: { 204: 'deleted', 404: 'unknown profile' } }), async (req, res) => {
    // Work out who had it before the assignments go with it.
    const affected = await devicesForProfile(storage, req.params.id);
    if (!(await storage.deleteProfile(req.params.id))) throw notFound('profile');
    devicesChanged(affected);
    res.status(204).end();
  });

  r.post('/assignments', apiDoc({ tag: 'Assignments', summary: 'Assign a profile to a user, device or group', body: assignmentBody, responses: { 201: 'the assignment', 400: 'not profileId and exactly one target', 404: 'unknown profile or target', 409: 'already assigned' } }), async (req, res) => {
    const { profileId, ...rest } = parseBody(assignmentBody, req.body);
    const created = await storage.createAssignment(profileId, rest as AssignmentTarget);
    devicesChanged(devicesForTargets(storage, [created.target]));
    res.status(201).json(created);
  });
  r.get('/assignments', apiDoc({ tag: 'Assignments', summary: 'List assignments, paged (X-Next-Cursor, Link rel=next; pass it as after)', query: assignmentQuery, responses: { 200: 'one page of assignments (of profileId when given), in creation order', 400: 'invalid query: issues name each parameter' } }), async (req, res) => {
    await answerCreatedPage(req, res, assignmentQuery, (q) => storage.listAssignmentsPage({ limit: q.limit, ...(q.after && { after: q.after }), ...(q.profileId !== undefined && { profileId: q.profileId }) }));
  });
  r.delete('/assignments/:id', apiDoc({ tag: 'Assignments', summary: 'Delete an assignment', responses: { 204: 'deleted', 404: 'unknown assignment' } }), async (req, res) => {
    // One DELETE ... RETURNING: the row by its key, not a read of every assignment first.
    const gone = await storage.deleteAssignment(req.params.id);
    if (!gone) throw notFound('assignment');
    devicesChanged(devicesForTargets(storage, [gone.target]));
    res.status(204).end();
  });

  return r;
}
