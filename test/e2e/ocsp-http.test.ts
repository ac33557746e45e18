import { randomBytes, X509Certificate } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { decodeResponse, ocspRequest } from '../ca/ocsp/helpers.js';

// The OCSP routes (RFC 6960 appendix A) on a real gateway: every answer,
// refusals included, is an application/ocsp-response, never an HTTP error
// page or a 500; GET answers are HTTP-cacheable, POST answers are not.

let t: TestGateway;
let serial: string;

beforeAll(async () => {
  t = await startTestGateway();
  const device = await t.api.ok('POST', '/devices', { name: 'ocsp-http', platform: 'windows' });
  const profile = await t.api.ok('POST', '/profiles', { name: 'ocsp-http', scope: 'device', subjectName: 'CN={{DeviceName}}' });
  await t.api.ok('POST', '/assignments', { profileId: profile.id, deviceId: device.id });
  const { challenge } = await t.api.ok('POST', '/challenges', { profileId: profile.id, deviceId: device.id });
  const r = await scepEnroll({ scepUrl: t.scepUrl, subject: 'CN=ocsp-http', challenge });
  serial = new X509Certificate(r.certificate!).serialNumber.toLowerCase().replace(/^(00)+(?=.)/, '');
});
afterAll(async () => {
  await t.stop();
});

const post = (body: Uint8Array, headers: Record<string, string> = { 'content-type': 'application/ocsp-request' }) =>
  fetch(`${t.url}/ocsp`, { method: 'POST', body, headers });

async function ocspStatusOf(res: Response): Promise<number> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('application/ocsp-response');
  return decodeResponse(new Uint8Array(await res.arrayBuffer())).status;
}

describe('OCSP over HTTP', () => {
  it('POST answers good, not HTTP-cacheable', async () => {
    const res = await post(ocspRequest({ issuer: t.gw.authorities.current.certificate, serial }));
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('etag')).toBeNull();
    expect(await ocspStatusOf(res)).toBe(0);
  });

  it('GET with a nonce is answered, but not HTTP-cacheable', async () => {
    const der = ocspRequest({ issuer: t.gw.authorities.current.certificate, serial, nonce: randomBytes(16) });
    const res = await fetch(`${t.url}/ocsp/${encodeURIComponent(Buffer.from(der).toString('base64'))}`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await ocspStatusOf(res)).toBe(0);
  });

  it('refuses garbage, oversized and empty requests with an OCSP malformedRequest, writing nothing', async () => {
    const files = await readdir(t.dataDir);
    const audit = (await t.gw.storage.listAudit()).length;
    const cached = t.gw.ocsp.cache.size;
    const big = new Uint8Array(randomBytes(9 * 1024));
    const cases: [string, () => Promise<Response>][] = [
      ['garbage POST', () => post(new Uint8Array(randomBytes(100)))],
      ['empty POST', () => post(new Uint8Array(0))],
      ['POST over 8 KiB', () => post(big)],
      ['POST over 8 KiB, no content type', () => post(big, {})],
      ['GET over 8 KiB', () => fetch(`${t.url}/ocsp/${encodeURIComponent(Buffer.from(big).toString('base64'))}`)],
      ['GET not base64', () => fetch(`${t.url}/ocsp/not*base64!`)],
      ['GET bad percent-encoding', () => fetch(`${t.url}/ocsp/%E0%A4%A`)],
      ['GET garbage base64', () => fetch(`${t.url}/ocsp/${encodeURIComponent(randomBytes(50).toString('base64'))}`)],
      ['GET nothing', () => fetch(`${t.url}/ocsp`)],
      ['GET empty', () => fetch(`${t.url}/ocsp/`)],
    ];
    for (const [name, send] of cases) {
      const res = await send();
      expect(res.status, name).toBe(200);
      expect(await ocspStatusOf(res), name).toBe(1);
    }
    expect(await readdir(t.dataDir)).toEqual(files);
    expect((await t.gw.storage.listAudit()).length).toBe(audit);
    expect(t.gw.ocsp.cache.size).toBe(cached);
  });

  it('answers unauthorized for a CertID of another issuer', async () => {
    const res = await post(ocspRequest({ issuer: t.gw.ra.certificate, serial }));
    expect(await ocspStatusOf(res)).toBe(6);
  });
  // Issue 13: OCSP is answered in front of Express (src/http/fast-ocsp.ts); what it leaves to the Express route gets the same answer.
  const counted = async (method: string, route: string) => {
    const text = await (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${t.gw.adminToken}` } })).text();
    const line = text.split('\n').find((l) => l.startsWith('mdmgw_http_requests_total{') && l.includes(`route="${route}"`) && l.includes('status="200"') && l.includes(`method="${method}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('answers POST and cacheable GET in front of Express, counted per route, with the caching headers', async () => {
    const der = ocspRequest({ issuer: t.gw.authorities.current.certificate, serial });
    const [posts, gets] = [await counted('POST', '/ocsp'), await counted('GET', '/ocsp/{request}')];
    expect(await ocspStatusOf(await post(der))).toBe(0);
    const res = await fetch(`${t.url}/ocsp/${encodeURIComponent(Buffer.from(der).toString('base64'))}`);
    expect(res.headers.get('cache-control')).toMatch(/^max-age=\d+, public, no-transform, must-revalidate$/);
    expect(res.headers.get('etag')).toMatch(/^".+"$/);
    expect(new Date(res.headers.get('expires')!).getTime()).toBeGreaterThan(Date.now());
    expect(await ocspStatusOf(res)).toBe(0);
    expect(await counted('POST', '/ocsp')).toBe(posts + 1);
    expect(await counted('GET', '/ocsp/{request}')).toBe(gets + 1);
  });

  it('leaves a conditional GET (304) and a compressed POST to the Express route, which answers them', async () => {
    const der = ocspRequest({ issuer: t.gw.authorities.current.certificate, serial });
    const url = `${t.url}/ocsp/${encodeURIComponent(Buffer.from(der).toString('base64'))}`;
    const etag = (await fetch(url)).headers.get('etag')!;
    const gets = await counted('GET', '/ocsp/{request}');
    const conditional = await fetch(url, { headers: { 'if-none-match': etag, 'cache-control': 'max-age=0' } });
    expect(conditional.status).toBe(304);
    expect(await counted('GET', '/ocsp/{request}')).toBe(gets);
    const posts = await counted('POST', '/ocsp');
    const gz = await post(new Uint8Array(gzipSync(der)), { 'content-type': 'application/ocsp-request', 'content-encoding': 'gzip' });
    expect(await ocspStatusOf(gz)).toBe(0);
    expect(await counted('POST', '/ocsp')).toBe(posts + 1); // counted once, by the Express route's metrics
  });

  it('closes the connection after refusing an oversized POST, and answers the next request on a new one', async () => {
    const res = await post(new Uint8Array(randomBytes(9 * 1024)));
    expect(res.headers.get('connection')).toBe('close');
    expect(await ocspStatusOf(res)).toBe(1);
    expect(await ocspStatusOf(await post(ocspRequest({ issuer: t.gw.authorities.current.certificate, serial })))).toBe(0);
  });
});
