import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { AdapterServices } from '../../../src/core/adapter.js';
import type { EnrollmentToken, Platform } from '../../../src/core/model.js';
import { deviceRoutes } from '../../../src/adapters/apple/routes.js';
import type { Pusher } from '../../../src/adapters/apple/pusher.js';
import { redeemEnrollmentToken, type RedemptionDeps } from '../../../src/core/token-redemption.js';

// GET /mdm/enroll against stub services, for the paths the real API cannot
// reach: the token's device deleted, and losing the race to spend the token.
// The token is looked at first and spent only once its device is known.

const TOKEN = 'TOKENTOKENTOKENTOKENTOKENTOKEN12';

function app(tok: EnrollmentToken, opts: { deviceExists: boolean; consume: 'ok' | 'used' }) {
  const calls: string[] = [];
  // The token store's verdicts, recorded: what core's redemption is given.
  const tokens: Pick<RedemptionDeps, 'peek' | 'consume'> = {
    peek: async (_t: string, p: Platform) => {
      calls.push(`peek:${p}`);
      return p === tok.platform ? { ok: true, token: tok } : { ok: false, reason: 'wrong-platform' };
    },
    consume: async (_t: string, p: Platform) => {
      calls.push(`consume:${p}`);
      return opts.consume === 'ok' ? { ok: true, token: { ...tok, usedAt: new Date().toISOString() } } : { ok: false, reason: 'used' };
    },
  };
  const s = {
    devices: {
      get: async () => (opts.deviceExists ? { id: tok.deviceId, platform: tok.platform } : null),
      create: async () => {
        calls.push('create');
        return { id: 'new', platform: tok.platform };
      },
    },
    audit: async (type: string) => {
      calls.push(`audit:${type}`);
    },
  } as unknown as AdapterServices;
  // Core's redemption (what adapterServices binds) over the stubbed token and device calls.
  s.redeemEnrollmentToken = (raw, o) =>
    redeemEnrollmentToken(
      { ...tokens, getDevice: s.devices.get, createDevice: s.devices.create, reportDevice: async (d) => d, getUser: async () => null },
      ['ios', 'macos'],
      raw,
      o,
    );
  const pusher = { pushCertificate: async () => ({ topic: 'com.apple.mgmt.test' }) } as unknown as Pusher;
  const a = express();
  a.use(deviceRoutes(s, { pusher, now: () => new Date() }));
  return { a, calls };
}

const token = (over: Partial<EnrollmentToken>): EnrollmentToken => ({
  id: 't1',
  platform: 'ios',
  userId: 'u1',
  deviceId: null,
  createdAt: '2030-01-01T00:00:00.000Z',
  expiresAt: '2031-01-01T00:00:00.000Z',
  usedAt: null,
  ...over,
});

describe('GET /mdm/enroll token handling', () => {
  it('does not spend a token whose device no longer exists', async () => {
    const { a, calls } = app(token({ platform: 'macos', deviceId: 'gone' }), { deviceExists: false, consume: 'ok' });
    const r = await request(a).get(`/mdm/enroll?token=${TOKEN}`);
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/no longer exists/);
    expect(calls).toEqual(['peek:ios', 'peek:macos']);
  });

  it('refuses with 401 when another request spent the token after the look, creating nothing', async () => {
    const { a, calls } = app(token({ platform: 'macos' }), { deviceExists: true, consume: 'used' });
    const r = await request(a).get(`/mdm/enroll?token=${TOKEN}`);
    expect(r.status).toBe(401);
    expect(r.body.error).toMatch(/used/);
    expect(calls).toEqual(['peek:ios', 'peek:macos', 'consume:macos', 'audit:apple.enroll.refused']);
  });
});
