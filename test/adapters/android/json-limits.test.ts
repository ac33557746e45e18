import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../../src/adapters/android/index.js';
import { DEVICE_JSON_LIMITS } from '../../../src/core/input-limits.js';
import { jsonBoundsProblem } from '../../../src/http/json-bounds.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { AndroidAgentSim } from '../../../src/sim/android.js';

// JSON bounds on the Android agent routes (issue #15): depth and value count
// are checked on the raw bytes before JSON.parse, size by express.json.

let t: TestGateway;
let sim: AndroidAgentSim;
let enrollUrl: string;

beforeAll(async () => {
  t = await startTestGateway({ adapters: [androidAdapter] });
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'json@contoso.com', email: 'json@contoso.com', displayName: 'Json' });
  sim = new AndroidAgentSim(t.url);
  await sim.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
  enrollUrl = (await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl;
});
afterAll(async () => {
  await t?.stop();
});

async function post(path: 'enroll' | 'status', body: string): Promise<{ status: number; error: string; ms: number }> {
  const url = path === 'enroll' ? enrollUrl : `${t.url}/android/v1/status`;
  const headers = { 'content-type': 'application/json', ...(path === 'status' ? sim.authHeaders() : {}) };
  const started = performance.now();
  const res = await fetch(url, { method: 'POST', headers, body });
  const json = (await res.json()) as { error: string };
  return { status: res.status, error: json.error, ms: performance.now() - started };
}

describe('Android JSON bodies', () => {
  it('refuses a body nested deeper than 16 on both routes with 400, before parsing', async () => {
    const deep = `{"device":${'['.repeat(17)}${']'.repeat(17)}}`;
    for (const path of ['enroll', 'status'] as const) {
      const r = await post(path, deep);
      expect(r.status).toBe(400);
      expect(r.error).toBe(`JSON nested deeper than ${DEVICE_JSON_LIMITS.maxDepth}`);
      expect(r.ms).toBeLessThan(1000);
    }
  });

  it('refuses a flood of values within the size limit', async () => {
    const flood = `{"results":[${Array(DEVICE_JSON_LIMITS.maxValues + 1).fill('0').join(',')}]}`;
    expect(flood.length).toBeLessThan(DEVICE_JSON_LIMITS.statusBodyBytes);
    const r = await post('status', flood);
    expect(r.status).toBe(400);
    expect(r.error).toBe(`JSON body has more than ${DEVICE_JSON_LIMITS.maxValues} values`);
  });

  it('answers 413 past the size limits', async () => {
    expect((await post('enroll', JSON.stringify({ pad: 'x'.repeat(DEVICE_JSON_LIMITS.enrollBodyBytes) }))).status).toBe(413);
    expect((await post('status', JSON.stringify({ pad: 'x'.repeat(DEVICE_JSON_LIMITS.statusBodyBytes) }))).status).toBe(413);
  });

  it('counts neither brackets nor commas inside strings, escapes included', () => {
    const b = (s: string) => new Uint8Array(Buffer.from(s));
    const bounds = { maxDepth: 2, maxValues: 4 };
    expect(jsonBoundsProblem(b('{"a":"[[[[,,,,\\"[[[["}'), bounds)).toBeNull();
    expect(jsonBoundsProblem(b('[[[1]]]'), bounds)).toBe('JSON nested deeper than 2');
    expect(jsonBoundsProblem(b('[1,2,3,4]'), bounds)).toBe('JSON body has more than 4 values');
  });

  it('hands a body within the bounds to the route, which judges its content', async () => {
    const r = await post('status', JSON.stringify({ results: [{ policyId: '00000000-0000-4000-8000-000000000000', policyVersion: 1, state: 'pending' }] }));
    // Parsed and validated: the policy is not one this device was served.
    expect(r).toMatchObject({ status: 400, error: 'invalid status report' });
  });
});
