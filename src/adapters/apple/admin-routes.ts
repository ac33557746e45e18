import { Router } from 'express';
import { z } from 'zod';
import type { AdapterServices } from '../../core/adapter.js';
import { fromPem, fromPkcs12, publicInfo, PushCertificateError, PUSH_CERTIFICATE_SETTING } from './push-certificate.js';
import { withDeviceLock } from './device-lock.js';
import type { Pusher } from './pusher.js';
import { loadState } from './state.js';
import { syncDevice } from './sync.js';
import { apiDoc } from '../../http/admin/api-doc.js';

// Admin routes, mounted under /api/v1 behind the admin token:
//   PUT  /apple/push-certificate        {certificate, privateKey} (PEM) or {pkcs12, password}
//   GET  /apple/push-certificate        topic, subject, expiry (never the key)
//   GET  /apple/devices/:id             the adapter's device state (push secrets redacted)
//   POST /apple/devices/:id/sync        queue what is missing now and push ({retryFailed?})
//   POST /apple/devices/:id/commands    {kind: ProfileList | CertificateList, channel?}
//   GET  /apple/devices/:id/commands    the device's command queue with results

const uploadBody = z.union([
  z.strictObject({ certificate: z.string().min(1).max(64_000), privateKey: z.string().min(1).max(64_000), replaceTopic: z.boolean().optional() }),
  z.strictObject({ pkcs12: z.string().min(1).max(128_000), password: z.string().max(1024), replaceTopic: z.boolean().optional() }),
]);
const commandBody = z.strictObject({ kind: z.enum(['ProfileList', 'CertificateList']), channel: z.string().max(200).optional() });
const syncBody = z.strictObject({ retryFailed: z.boolean().optional() });

export function adminRoutes(s: AdapterServices, pusher: Pusher, now: () => Date): Router {
  const r = Router();

  r.put('/apple/push-certificate', apiDoc({ tag: 'Apple', summary: 'Upload the APNs push certificate (PEM pair, or PKCS#12 in base64)', body: uploadBody, responses: { 200: 'topic, subject, expiry (never the key)', 400: 'not one of the two shapes, or the certificate is not a usable push certificate', 409: 'another topic than the configured one, without replaceTopic: true' } }), async (req, res) => {
    const b = uploadBody.safeParse(req.body);
    if (!b.success) {
      res.status(400).json({ error: 'give {certificate, privateKey} as PEM, or {pkcs12, password} with the PKCS#12 file in base64' });
      return;
    }
    let cert;
    try {
      cert = 'pkcs12' in b.data ? fromPkcs12(b.data.pkcs12, b.data.password, now()) : fromPem(b.data.certificate, b.data.privateKey, now());
    } catch (e) {
      if (e instanceof PushCertificateError) {
        res.status(400).json({ error: e.message });
        return;
      }
      throw e;
    }
    const previous = await pusher.pushCertificate();
    // Enrolled devices listen on the old topic: a new topic orphans them, so it must be asked for.
    if (previous && previous.topic !== cert.topic && !b.data.replaceTopic) {
      res.status(409).json({ error: `the configured push certificate has topic ${previous.topic}; this one has ${cert.topic}. Devices enrolled under the old topic cannot be pushed any more: send replaceTopic: true to replace it anyway` });
      return;
    }
    // Sealed: the private key must not sit in the database in the clear.
    await s.secrets.put(PUSH_CERTIFICATE_SETTING, JSON.stringify(cert));
    await s.audit('apple.push-certificate.uploaded', { ...publicInfo(cert), previousTopic: previous?.topic ?? null });
    res.status(200).json(publicInfo(cert));
  });

  r.get('/apple/push-certificate', apiDoc({ tag: 'Apple', summary: 'The APNs push certificate: topic, subject, expiry', responses: { 200: 'topic, subject, expiry', 404: 'none configured' } }), async (_req, res) => {
    const cert = await pusher.pushCertificate();
    if (!cert) res.status(404).json({ error: 'no push certificate configured' });
    else res.json(publicInfo(cert));
  });

  r.get('/apple/devices/:id', apiDoc({ tag: 'Apple', summary: "The Apple adapter's state of a device (push secrets redacted)", responses: { 200: 'the device state', 404: 'unknown device' } }), async (req, res) => {
    const device = await s.devices.get(req.params.id);
    if (!device) {
      res.status(404).json({ error: 'device not found' });
      return;
    }
    const state = await loadState(s, device.id);
    const channels = Object.fromEntries(Object.entries(state.channels).map(([k, c]) => [k, { ...c, token: `${c.token.slice(0, 8)}…`, pushMagic: '(redacted)' }]));
    res.json({ ...state, channels });
  });

  r.post('/apple/devices/:id/sync', apiDoc({ tag: 'Apple', summary: 'Queue what the device is missing now, and push', body: syncBody, bodyRequired: false, responses: { 200: '{queuedOn, pushes}', 404: 'unknown device' } }), async (req, res) => {
    const b = syncBody.safeParse(req.body ?? {});
    const device = await s.devices.get(req.params.id);
    if (!device) {
      res.status(404).json({ error: 'device not found' });
      return;
    }
    const touched = await withDeviceLock(s, device.id, () => syncDevice(s, device, { now: now(), retryFailed: b.success ? b.data.retryFailed : false }));
    const pushes = await Promise.all([...touched].map(async (ch) => ({ channel: ch, ...(await pusher.notify(device.id, ch)) })));
    res.json({ queuedOn: [...touched], pushes });
  });

  r.post('/apple/devices/:id/commands', apiDoc({ tag: 'Apple', summary: 'Queue a ProfileList or CertificateList command, and push', body: commandBody, responses: { 201: '{command, push}', 400: 'kind is not ProfileList or CertificateList', 404: 'unknown device' } }), async (req, res) => {
    const b = commandBody.safeParse(req.body);
    if (!b.success) {
      res.status(400).json({ error: 'give {kind: "ProfileList" | "CertificateList", channel?}' });
      return;
    }
    const device = await s.devices.get(req.params.id);
    if (!device) {
      res.status(404).json({ error: 'device not found' });
      return;
    }
    const channel = b.data.channel ?? 'device';
    const cmd = await s.commands.enqueue({ deviceId: device.id, channel, kind: b.data.kind, payload: {}, profileId: null, profileVersion: null });
    const push = await pusher.notify(device.id, channel);
    res.status(201).json({ command: cmd, push });
  });

  r.get('/apple/devices/:id/commands', apiDoc({ tag: 'Apple', summary: "The device's command queue with results", responses: { 200: 'the commands', 404: 'unknown device' } }), async (req, res) => {
    const device = await s.devices.get(req.params.id);
    if (!device) {
      res.status(404).json({ error: 'device not found' });
      return;
    }
    res.json(await s.commands.list(device.id));
  });

  return r;
}
