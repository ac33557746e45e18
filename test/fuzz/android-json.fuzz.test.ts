import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { AndroidAgentSim, PIXEL_8 } from '../../src/sim/android.js';
import { fuzzOptions, PER_INPUT_MS } from './fuzz-runs.js';

// Property-based tests of the Android agent's JSON routes through the real
// HTTP server: any body, JSON or not, gets an answer below 500 with an error
// message when it is refused, quickly. Near-valid bodies (the real shape with
// fields of random type and value) exercise the schema checks behind the
// JSON bounds, not only the parser in front of them.

let t: TestGateway;
let sim: AndroidAgentSim;

beforeAll(async () => {
  t = await startTestGateway({ adapters: [androidAdapter] });
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'fuzz@contoso.com', email: 'fuzz@contoso.com', displayName: 'Fuzz' });
  sim = new AndroidAgentSim(t.url);
  await sim.enroll((await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
});
afterAll(async () => {
  await t?.stop();
});

const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('__proto__', 'constructor', -0, 1e308, '', '\u0000', 'x'.repeat(600)));

/** The real enrollment body with some fields replaced by random values (or dropped, or extra ones added). */
const nearEnroll = fc
  .record({ device: fc.dictionary(fc.constantFrom(...Object.keys(PIXEL_8), 'extra', '__proto__'), anyValue, { maxKeys: 4 }), top: fc.dictionary(fc.constantFrom('token', 'supportedSchemaVersions', 'extra'), anyValue, { maxKeys: 2 }) })
  .map(({ device, top }) => JSON.stringify({ ...top, device: { ...PIXEL_8, ...device } }));

/** A status report whose results are random mixes of the real fields. */
const nearStatus = fc
  .array(
    fc.dictionary(fc.constantFrom('policyId', 'policyVersion', 'state', 'thumbprint', 'alias', 'certificate', 'errorCode', 'detail'), fc.oneof(anyValue, fc.constantFrom('installed', 'failed', 'pending', 'removed', '00000000-0000-4000-8000-000000000000', 'A'.repeat(40), 'MIIB'))),
    { maxLength: 4 },
  )
  .map((results) => JSON.stringify({ results }));

const anyBody = fc.oneof(fc.json({ maxDepth: 4 }), fc.string({ maxLength: 200 }), fc.string({ unit: 'binary', maxLength: 100 }));

async function expectRefusalOrAnswer(path: string, body: string, auth: boolean): Promise<void> {
  const started = performance.now();
  const res = await fetch(`${t.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? sim.authHeaders() : {}) }, body });
  const text = await res.text();
  expect(performance.now() - started).toBeLessThan(PER_INPUT_MS * 2);
  expect(res.status).toBeLessThan(500);
  if (res.status >= 400) expect(typeof (JSON.parse(text) as { error?: unknown }).error).toBe('string');
}

describe('Android JSON route fuzzing', () => {
  it('POST /android/v1/enroll with any or near-valid bodies (unknown token): 4xx with an error, never 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(anyBody, nearEnroll), (body) => expectRefusalOrAnswer('/android/v1/enroll?token=not-a-token', body, false)), fuzzOptions(40));
  });

  it('POST /android/v1/status as an enrolled agent with any or near-valid bodies: never 5xx', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(anyBody, nearStatus), (body) => expectRefusalOrAnswer('/android/v1/status', body, true)), fuzzOptions(40));
  });
});
