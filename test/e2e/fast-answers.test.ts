import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCertsOnly } from '../../src/scep/codec/index.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13: /healthz, GetCACaps and GetCACert are answered in front of the
// Express stack from answers built once per RA (src/http/fast-answers.ts),
// with the same status, type and bytes, still counted in the metrics; other
// methods and queries still reach the Express routes.

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t?.stop();
});

const requestsCounted = async (route: string) => {
  const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
  const line = text.split('\n').find((l) => l.startsWith('mdmgw_http_requests_total{') && l.includes(`route="${route}"`) && l.includes('status="200"') && l.includes('method="GET"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
};

describe('static answers in front of Express', () => {
  it('answers /healthz, GetCACaps and GetCACert without the Express stack (no ETag), with the same content, counted', async () => {
    const before = await requestsCounted('/certsrv/mscep/mscep.dll');
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    expect(health.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(health.headers.get('etag')).toBeNull(); // Express would have added one
    expect(await health.json()).toEqual({ status: 'ok' });

    const caps = await fetch(`${t.scepUrl}?operation=GetCACaps`);
    expect(caps.status).toBe(200);
    expect(caps.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(caps.headers.get('etag')).toBeNull();
    expect(await caps.text()).toBe(await t.gw.scep.caCaps());

    const cert = await fetch(`${t.scepUrl}?operation=GetCACert&message=CAIdentifier`);
    expect(cert.status).toBe(200);
    expect(cert.headers.get('content-type')).toBe('application/x-x509-ca-ra-cert');
    const certs = readCertsOnly(new Uint8Array(await cert.arrayBuffer()));
    expect(certs.map((c) => Buffer.from(c).toString('hex'))).toEqual([t.gw.ra.certificate, t.gw.root.certificate].map((c) => Buffer.from(c).toString('hex')));
    expect(await requestsCounted('/certsrv/mscep/mscep.dll')).toBe(before + 2);
  });

  it('answers the plain query and any other spelling of it alike (prebuilt heads), and a name it does not know goes on to Express', async () => {
    const der = Buffer.from(await t.gw.scep.caCert());
    for (const q of ['operation=GetCACert', 'operation=GetCACert&x=1', 'x=1&operation=GetCACert']) {
      const r = await fetch(`${t.scepUrl}?${q}`);
      expect(r.status, q).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/x-x509-ca-ra-cert');
      expect(r.headers.get('content-length')).toBe(String(der.byteLength));
      expect(r.headers.get('etag')).toBeNull();
      expect(Buffer.from(await r.arrayBuffer()).equals(der), q).toBe(true);
    }
    const caps = await t.gw.scep.caCaps();
    for (const q of ['operation=GetCACaps', 'operation=GetCACaps&message=x']) {
      const r = await fetch(`${t.scepUrl}?${q}`);
      expect(r.headers.get('content-length')).toBe(String(Buffer.byteLength(caps)));
      expect(await r.text(), q).toBe(caps);
    }
    for (const q of ['constructor', '__proto__', 'toString']) expect((await fetch(`${t.scepUrl}?${q}`)).status, q).toBe(400);
  });

  it('builds the GetCACert bytes once per RA, not per request', async () => {
    const a = await t.gw.scep.caCert();
    const b = await t.gw.scep.caCert();
    expect(b).toBe(a);
  });

  it('leaves everything else to the Express routes (HEAD, a repeated operation, other operations, other paths)', async () => {
    const head = await fetch(`${t.scepUrl}?operation=GetCACaps`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const twice = await fetch(`${t.scepUrl}?operation=GetCACaps&operation=GetCACert`);
    expect(twice.status).toBe(400); // Express's answer: not one operation
    const none = await fetch(`${t.scepUrl}?operation=Nope`);
    expect(none.status).toBe(400);
    expect(await none.text()).toMatch(/unsupported SCEP operation "Nope"/);
    expect((await fetch(`${t.url}/healthz?x=1`)).status).toBe(200);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});

describe('POST PKIOperation in front of Express (src/http/fast-pki-operation.ts)', () => {
  const counted = async (status: string) => {
    const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
    const value = (prefix: string, extra = '') =>
      Number(text.split('\n').find((l) => l.startsWith(prefix) && l.includes('route="/certsrv/mscep/mscep.dll"') && l.includes('method="POST"') && l.includes(extra))?.split(' ').at(-1) ?? 0);
    return { requests: value('mdmgw_http_requests_total{', `status="${status}"`), timed: value('mdmgw_http_request_duration_seconds_count{') };
  };

  it('issues without the Express stack (no ETag), counted and timed under the route, and a certificate comes back', async () => {
    const device = await t.api.ok('POST', '/devices', { name: 'fast-device', platform: 'windows' });
    const profile = await t.api.ok('POST', '/profiles', { name: 'fast', scope: 'device', subjectName: 'CN={{DeviceName}},O=Fast' });
    await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
    const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
    const before = await counted('200');
    const seen: Headers[] = [];
    const realFetch = globalThis.fetch;
    globalThis.fetch = async (input, init) => {
      const r = await realFetch(input, init);
      if (init?.method === 'POST') seen.push(r.headers);
      return r;
    };
    try {
      const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=fast-device, O=Fast', challenge });
      expect(r.status).toBe('SUCCESS');
    } finally {
      globalThis.fetch = realFetch;
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]!.get('content-type')).toBe('application/x-pki-message');
    expect(seen[0]!.get('etag')).toBeNull(); // the Express route's res.send() adds one
    const after = await counted('200');
    expect(after.requests).toBe(before.requests + 1);
    expect(after.timed).toBe(before.timed + 1);
  });

  it('answers an empty body 400, an oversized one 413, garbage 400 with the codec reason, as the Express route did', async () => {
    const post = (body: Uint8Array) => fetch(`${t.scepUrl}?operation=PKIOperation`, { method: 'POST', body });
    const empty = await post(new Uint8Array(0));
    expect(empty.status).toBe(400);
    expect(await empty.text()).toBe('empty pkiMessage\n');
    const big = await post(new Uint8Array(256 * 1024 + 1));
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({ error: 'request body too large' });
    const garbage = await post(Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00));
    expect(garbage.status).toBe(400);
    expect(await garbage.text()).toMatch(/^MESSAGE_MALFORMED: /);
    expect((await counted('400')).requests).toBeGreaterThanOrEqual(2);
  });
});
