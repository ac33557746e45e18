// OCSP over HTTP against the gateway process (issue 13: "GetCACaps, GetCACert
// and an OCSP response: CPU per request"): POST /ocsp for a good certificate
// without a nonce (answered from the response cache), the same with a fresh
// nonce (signed per request by the responder key) and a revoked one. Requests
// are built before the timed window; every answer is decoded and its
// certificate status checked inside it (a wrong answer counts as an error).
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { decodeResponse, ocspRequest } from '../../test/ca/ocsp/helpers.js';
import { runLoad, type LoadResult } from './load.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

export interface OcspResults {
  cachedGood: LoadResult;
  noncedGood: LoadResult;
  revoked: LoadResult;
}

export async function ocspBench(o: { url: string; dataDir: string; api: Api; mint: () => Promise<string>; cpuMs: () => number; n: number }): Promise<OcspResults> {
  const issuer = new Uint8Array(new X509Certificate(await readFile(path.join(o.dataDir, 'ca.pem'))).raw);
  const enroll = async () => {
    const r = await scepEnroll({ scepUrl: `${o.url}/certsrv/mscep/mscep.dll`, subject: 'CN=bench-device, O=Bench', challenge: await o.mint() });
    if (!r.certificate) throw new Error(`OCSP bench enrollment: ${r.failInfo ?? r.status}`);
    return new X509Certificate(r.certificate).serialNumber.toLowerCase();
  };
  const good = await enroll();
  const revoked = await enroll();
  await o.api('POST', `/certificates/${revoked}/revoke`, { reason: 'keyCompromise' });
  const series = async (expect: 'good' | 'revoked', build: () => Uint8Array) => {
    const requests = Array.from({ length: o.n }, build);
    const send = async (i: number) => {
      const res = await fetch(`${o.url}/ocsp`, { method: 'POST', body: requests[i % requests.length], headers: { 'content-type': 'application/ocsp-request' } });
      const answer = decodeResponse(new Uint8Array(await res.arrayBuffer()));
      if (res.status !== 200 || answer.status !== 0 || answer.single[0]?.status !== expect) throw new Error(`OCSP: HTTP ${res.status}, response status ${answer.status}, certificate ${answer.single[0]?.status}`);
    };
    await runLoad({ n: Math.min(100, o.n), concurrency: 4, cpuMs: o.cpuMs, op: send }); // warm-up and cache fill, not counted
    return runLoad({ n: o.n, concurrency: 4, cpuMs: o.cpuMs, op: send });
  };
  return {
    cachedGood: await series('good', () => ocspRequest({ issuer, serial: good })),
    noncedGood: await series('good', () => ocspRequest({ issuer, serial: good, nonce: randomBytes(16) })),
    revoked: await series('revoked', () => ocspRequest({ issuer, serial: revoked })),
  };
}
