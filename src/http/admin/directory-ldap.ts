import { Router } from 'express';
import { z } from 'zod';
import { ldapConfigBody, toLdapConfig } from '../../core/directory/ldap-config.js';
import { LdapError } from '../../core/directory/ldap-reader.js';
import { LdapSyncUnavailable, type LdapDirectorySync } from '../../core/directory/ldap-sync.js';
import { DirectorySyncRefused } from '../../core/directory/sync.js';
import { HttpError, notFound, parseBody } from '../errors.js';
import { apiDoc } from './api-doc.js';

// Directory sync from LDAP / Active Directory (issue 11, docs/directory.md):
// configure it (checked against the directory before it is saved), run it,
// see how the last run went. The bind password is write-only.

const syncBody = z.strictObject({ full: z.boolean({ message: 'must be true or false' }).optional() });

/** Maps the sync's refusals to statuses: 409 busy/not configured, 422 the directory said no, 502 the read failed. */
function syncError(e: unknown): never {
  if (e instanceof LdapSyncUnavailable) throw new HttpError(409, e.message);
  if (e instanceof DirectorySyncRefused) throw new HttpError(422, e.message);
  if (e instanceof LdapError) throw new HttpError(502, `the directory could not be read; nothing was changed: ${e.message}`);
  throw e;
}

export function directoryLdapRoutes(sync: LdapDirectorySync): Router {
  const r = Router();

  r.put('/directory/ldap', apiDoc({ tag: 'Directory sync', summary: 'Configure LDAP / Active Directory sync (checked with a bind and a search per filter; does not sync)', body: ldapConfigBody, responses: { 200: 'the configuration, without the password', 400: 'a field is invalid', 422: 'the check against the directory failed: the LDAP error' } }), async (req, res) => {
    const body = parseBody(ldapConfigBody, req.body);
    const config = toLdapConfig(body);
    try {
      await sync.configure(config, body.bindPassword);
    } catch (e) {
      if (e instanceof LdapSyncUnavailable) throw new HttpError(400, 'invalid request body', [{ path: 'bindPassword', message: 'required: no password is stored yet' }]);
      if (e instanceof LdapError) throw new HttpError(422, `the directory check failed; nothing was saved: ${e.message}`);
      throw e;
    }
    res.json({ ...config, bindPasswordSet: true });
  });

  r.get('/directory/ldap', apiDoc({ tag: 'Directory sync', summary: 'The LDAP sync configuration (never the password)', responses: { 200: 'the configuration and bindPasswordSet', 404: 'not configured' } }), async (_req, res) => {
    const config = await sync.config();
    if (!config) throw notFound('LDAP directory configuration');
    res.json({ ...config, bindPasswordSet: await sync.hasPassword() });
  });

  r.post('/directory/ldap/sync', apiDoc({ tag: 'Directory sync', summary: 'Sync from the directory now (full unless {"full": false})', body: syncBody, bodyRequired: false, responses: { 200: '{usersCreated, usersUpdated, usersDisabled, groupsCreated, groupsUpdated, membershipsChanged}', 400: 'a field is invalid', 409: 'not configured, or a sync is running', 422: 'the directory returned nothing to sync from (nothing changed)', 502: 'the directory could not be read (nothing changed)' } }), async (req, res) => {
    const { full } = parseBody(syncBody, req.body);
    try {
      res.json(await sync.syncNow({ full: full ?? true }));
    } catch (e) {
      syncError(e);
    }
  });

  r.get('/directory/ldap/status', apiDoc({ tag: 'Directory sync', summary: 'How the last directory sync went', responses: { 200: '{configured, running, lastSyncAt, lastSuccessAt, lastFullSyncAt, lastError, lastResult, counts, skipped}' } }), async (_req, res) => {
    res.json(await sync.status());
  });

  return r;
}
