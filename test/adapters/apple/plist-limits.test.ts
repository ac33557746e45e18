import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAppleAdapter } from '../../../src/adapters/apple/index.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { buildBplist, dict, doublingBomb, str, arr } from '../../helpers/bplist.js';
import { FakeApns, pushCertificate } from '../../../src/sim/fake-apns.js';
import { AppleDeviceSim } from '../../../src/sim/apple.js';

// Issue #15, S1, through the real route: an enrolled Apple device (signed
// Mdm-Signature, real identity certificate) sends a 239-byte binary plist
// whose arrays each reference the next one twice to PUT /mdm/connect. Before
// the fix, plist's parseBinary expanded it to 2^47 values and the process
// died at its heap limit; now it is refused with 400 in milliseconds.

const TOPIC = 'com.apple.mgmt.External.5d1c2f3e-8a5b-4c7d-9e0f-1a2b3c4d5e6f';
let t: TestGateway;
let apns: FakeApns;
let sim: AppleDeviceSim;

beforeAll(async () => {
  apns = await FakeApns.start();
  const push = await pushCertificate(apns.ca, TOPIC);
  t = await startTestGateway({ adapters: [createAppleAdapter({ apnsUrl: apns.url, apnsCa: apns.ca.certPem })] });
  await t.api.ok('PUT', '/apple/push-certificate', { certificate: push.certPem, privateKey: push.keyPem }, 200);
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'bomb@contoso.com', email: 'bomb@contoso.com', displayName: 'Bomb' });
  const tok = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'ios' });
  sim = new AppleDeviceSim(t.url, 'ios');
  await sim.enroll(tok.enrollmentUrl);
  expect((await sim.authenticate()).status).toBe(200);
  expect((await sim.tokenUpdate()).status).toBe(200);
});
afterAll(async () => {
  await t?.stop();
  await apns?.stop();
});

/** PUTs raw bytes as the enrolled device, signed like every real message. */
async function putSigned(path: 'connect' | 'checkin', body: Uint8Array): Promise<{ status: number; error: string; ms: number }> {
  const url = path === 'connect' ? sim.enrollment!.mdm.ServerURL : sim.enrollment!.mdm.CheckInURL;
  const started = performance.now();
  const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/x-apple-aspen-mdm', 'Mdm-Signature': await sim.sign(body) }, body });
  const text = await res.text();
  const ms = performance.now() - started;
  return { status: res.status, error: text ? ((JSON.parse(text) as { error?: string }).error ?? '') : '', ms };
}

describe('plist bombs on the Apple device routes (issue #15, S1)', () => {
  it('refuses the 239-byte doubling-reference bplist on /mdm/connect with 400, fast, memory flat, and keeps serving', async () => {
    const bomb = doublingBomb();
    expect(bomb.length).toBe(239);
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < 5; i++) {
      const r = await putSigned('connect', bomb);
      expect(r.status).toBe(400);
      expect(r.error).toMatch(/binary property list refused: expands to more than 100000 values/);
      expect(r.ms).toBeLessThan(1000);
    }
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    // The same device goes on working.
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
  });

  it('refuses the depth-22 variant (2.5 s and 900 MB per request before the fix) just as fast', async () => {
    const r = await putSigned('connect', doublingBomb(22));
    expect(r.status).toBe(400);
    expect(r.error).toMatch(/expands to more than/);
    expect(r.ms).toBeLessThan(1000);
  });

  it('refuses one 1,000,000-character string referenced 8 times (3.5 s of string building in parseBinary) fast', async () => {
    const n = 1_000_000;
    const big = new Uint8Array(n + 6);
    big.set([0x5f, 0x12, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
    big.fill(0x61, 6);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    const body = buildBplist({ objects: [dict([1, 2, 3, 4, 5, 6, 7, 8], Array(8).fill(9)), ...keys.map(str), big], offsetSize: 4 });
    const r = await putSigned('connect', body);
    expect(r.status).toBe(400);
    expect(r.error).toMatch(/expands to more than 262144 string characters/);
    expect(r.ms).toBeLessThan(1000);
  });

  it('refuses a reference cycle, an out-of-range reference and a __proto__ key on /mdm/checkin', async () => {
    const cycle = buildBplist({ objects: [dict([1], [2]), str('a'), arr(3), arr(2)] });
    const outOfRange = buildBplist({ objects: [dict([1], [9]), str('a')] });
    const proto = buildBplist({ objects: [dict([1], [2]), str('__proto__'), dict([3], [4]), str('MessageType'), str('Authenticate')] });
    for (const [body, why] of [
      [cycle, /contains itself/],
      [outOfRange, /references object 9 of 2/],
      [proto, /__proto__ key/],
    ] as const) {
      const r = await putSigned('checkin', body);
      expect(r.status).toBe(400);
      expect(r.error).toMatch(why);
    }
  });

  it('refuses an XML plist with more than 10,000 elements (1.2 s of xmldom at 100,000) fast', async () => {
    const flood = `<plist version="1.0"><dict><key>a</key><array>${'<true/>'.repeat(99_000)}</array></dict></plist>`;
    const r = await putSigned('connect', new Uint8Array(Buffer.from(flood)));
    expect(r.status).toBe(400);
    expect(r.error).toBe('XML property list refused: more than 10000 elements');
    expect(r.ms).toBeLessThan(1000);
  });

  it('refuses an XML plist nested past the depth limit, and a DOCTYPE internal subset', async () => {
    const deep = `<?xml version="1.0"?><plist version="1.0"><dict><key>a</key>${'<array>'.repeat(200)}${'</array>'.repeat(200)}</dict></plist>`;
    const r = await putSigned('connect', new Uint8Array(Buffer.from(deep)));
    expect(r.status).toBe(400);
    expect(r.error).toMatch(/XML property list refused: nested deeper than 64/);
    const entity = `<?xml version="1.0"?><!DOCTYPE plist [<!ENTITY a "aaaaaaaaaa">]><plist version="1.0"><dict><key>a</key><string>&a;</string></dict></plist>`;
    const e = await putSigned('connect', new Uint8Array(Buffer.from(entity)));
    expect(e.status).toBe(400);
    expect(e.error).toMatch(/internal subset/);
  });

  // xmldom (inside plist) prints every malformed document with console.error, outside pino:
  // an enrolled device sending these in a loop filled stderr. Now each is our own 400, printed nowhere.
  it('refuses malformed XML plists with 400 naming the fault, and nothing reaches console.error', async () => {
    const printed = [vi.spyOn(console, 'error').mockImplementation(() => {}), vi.spyOn(console, 'warn').mockImplementation(() => {})];
    try {
      const malformed = [
        '<plist version="1.0"><dict><key>Status</key><string>Idle</dict></plist>', // mismatched end tag
        '<plist version="1.0"><dict><key>Status</key><string>Idle</string></dict>', // unclosed root
        '<plist version=1.0><dict/></plist>', // unquoted attribute
        '<plist version="1.0"><dict><key>Status</key><string>&undeclared;</string></dict></plist>', // unknown entity
        '<plist version="1.0"><dict/></plist><plist/>', // two roots
        '<?xml version="1.0" encodgng="UTF-8"?><plist version="1.0"><dict/></plist>', // broken declaration
      ];
      for (const body of malformed) {
        const r = await putSigned('connect', new Uint8Array(Buffer.from(body)));
        expect(r.status, body).toBe(400);
        for (const spy of printed) expect(spy, body).not.toHaveBeenCalled();
        expect(r.error, body).toMatch(/^XML property list is not well-formed: (warning|error|fatalError): /);
        expect(r.ms).toBeLessThan(1000);
      }
    } finally {
      for (const spy of printed) spy.mockRestore();
    }
    // A well-formed message from the same device still works.
    expect(await sim.connect({ Status: 'Idle' })).toBeNull();
  });

  it('refuses an Mdm-Signature header nested past the BER depth bound (32) with 401', async () => {
    const deep = Buffer.from([...Array(40).fill([0x30, 0x80]).flat(), ...Array(80).fill(0)]).toString('base64');
    const body = new Uint8Array(Buffer.from('<plist version="1.0"><dict/></plist>'));
    const res = await fetch(sim.enrollment!.mdm.ServerURL, { method: 'PUT', headers: { 'Mdm-Signature': deep }, body });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/nesting depth exceeded/);
  });

  it('answers 413 to a body over the 1 MiB limit, unread', async () => {
    const big = new Uint8Array(1024 * 1024 + 1).fill(0x20);
    const res = await fetch(sim.enrollment!.mdm.ServerURL, { method: 'PUT', headers: { 'content-type': 'application/x-apple-aspen-mdm' }, body: big });
    expect(res.status).toBe(413);
  });
});
