import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { toPem } from '../../src/pem.js';
import { buildCsr, generateDeviceKey } from '../../src/sim/scep-client.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tempDir } from '../helpers/openssl.js';

// Device authentication when the gateway terminates TLS itself (--tls-cert,
// --tls-key): the identity certificate arrives as a TLS client certificate,
// and a proxy header is never trusted on such a connection.

let t: TestGateway;
let serverCa: string;
let serverKey: string;

function request(url: string, opts: { method?: string; body?: string; cert?: string; key?: string; headers?: Record<string, string> } = {}) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = https.request(
      url,
      { method: opts.method ?? 'GET', ca: serverCa, cert: opts.cert, key: opts.key, headers: { 'content-type': 'application/json', ...opts.headers } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

beforeAll(async () => {
  const dir = await tempDir('tls-');
  const certFile = path.join(dir, 'server.pem');
  const keyFile = path.join(dir, 'server.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  serverCa = readFileSync(certFile, 'utf8');
  serverKey = readFileSync(keyFile, 'utf8');
  // The proxy header is configured too (the test helper sets X-Client-Cert), but
  // on our own TLS connections only the certificate the client proved counts.
  t = await startTestGateway({ adapters: [referenceAdapter], env: { MDMGW_TLS_CERT: certFile, MDMGW_TLS_KEY: keyFile } });
});
afterAll(async () => {
  await t.stop();
});

describe('device identity over TLS client authentication', () => {
  it('authenticates the TLS client certificate and ignores a forged proxy header', async () => {
    expect(t.url).toMatch(/^https:/);
    const user = await request(`${t.url}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.gw.adminToken}` },
      body: JSON.stringify({ userPrincipalName: 'tls@contoso.com', email: 'tls@contoso.com', displayName: 'TLS' }),
    });
    expect(user.status).toBe(201);
    const tok = await request(`${t.url}/api/v1/enrollment-tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.gw.adminToken}` },
      body: JSON.stringify({ userId: JSON.parse(user.body).id, platform: 'android' }),
    });
    const { token } = JSON.parse(tok.body);

    const key = await generateDeviceKey();
    const csr = Buffer.from(await buildCsr(key, { subject: 'CN=x' })).toString('base64');
    const enrolled = await request(`${t.url}/reference/v1/enroll`, { method: 'POST', body: JSON.stringify({ token, platform: 'android', name: 'tls-phone', csr }) });
    expect(enrolled.status).toBe(201);
    const certPem = toPem(Buffer.from(JSON.parse(enrolled.body).certificate, 'base64'));
    const keyPem = key.keyObject.export({ type: 'pkcs8', format: 'pem' }).toString();

    const withCert = await request(`${t.url}/reference/v1/payload`, { cert: certPem, key: keyPem });
    expect(withCert.status).toBe(200);
    expect(JSON.parse(withCert.body).deviceId).toBe(JSON.parse(enrolled.body).deviceId);

    const none = await request(`${t.url}/reference/v1/payload`);
    expect(none.status).toBe(401);
    const forged = await request(`${t.url}/reference/v1/payload`, { headers: { 'X-Client-Cert': encodeURIComponent(certPem) } });
    expect(forged.status).toBe(401);

    // A client certificate from another CA is refused, with the reason.
    const foreign = await request(`${t.url}/reference/v1/payload`, { cert: serverCa, key: serverKey });
    expect(foreign.status).toBe(401);
    expect(JSON.parse(foreign.body).error).toMatch(/not issued by this gateway CA/);
  });
});
