import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadUpstreams, readUpstreamConfig, UpstreamConfigError } from '../../src/ca/upstream/upstream-config.js';
import { startTestGateway } from '../helpers/gateway.js';

// MDMGW_UPSTREAM_CAS: the file is checked at start, every problem named with
// its entry and field, and a bad file stops the gateway.

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'upstream-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(content: unknown): Promise<string> {
  const f = path.join(dir, `${Math.random().toString(36).slice(2)}.json`);
  await writeFile(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

async function problems(content: unknown): Promise<string> {
  const e = await readUpstreamConfig(await file(content)).catch((err: unknown) => err);
  expect(e).toBeInstanceOf(UpstreamConfigError);
  return (e as Error).message;
}

describe('upstream CA configuration', () => {
  it('accepts SCEP and EST entries with defaults (pollSeconds 60, timeoutSeconds 30, maxPendingHours 168)', async () => {
    const entries = await readUpstreamConfig(
      await file([
        { name: 'corp-ca', kind: 'scep', url: 'http://ca.example/scep', caFingerprint: 'AB:'.repeat(31) + 'AB' },
        { name: 'est-ca', kind: 'est', url: 'https://est.example/.well-known/est', clientCert: 'c.pem', clientKey: 'k.pem', pollSeconds: 10 },
      ]),
    );
    expect(entries.map((e) => [e.name, e.kind, e.pollSeconds, e.timeoutSeconds, e.maxPendingHours])).toEqual([
      ['corp-ca', 'scep', 60, 30, 168],
      ['est-ca', 'est', 10, 30, 168],
    ]);
  });

  it('names each problem with its entry and field', async () => {
    const m = await problems([
      { name: 'corp-ca', kind: 'scep', url: 'http://ca.example/scep', challenge: 's3cret' },
      { name: 'corp-ca', kind: 'est', url: 'http://est.example', clientKey: 'k.pem' },
      { name: 'default', kind: 'scep', url: 'ftp://x', pollSeconds: 1 },
      { name: 'x', kind: 'acme', url: 'https://x' },
    ]);
    expect(m).toContain('entry 0 (corp-ca) challenge: is not supported');
    expect(m).toContain('entry 1 (corp-ca) url: must start with https://');
    expect(m).toContain('entry 1 (corp-ca) clientCert: is required for EST');
    expect(m).toContain('entry 2 (default) name: "default" names the built-in CA');
    expect(m).toContain('entry 2 (default) url: must start with http:// or https://');
    expect(m).toContain('entry 2 (default) pollSeconds: must be at least 5');
    expect(m).toContain('entry 3 (x) kind: kind must be "scep" or "est"');
    expect(m).not.toContain('s3cret');
    const twice = await problems([
      { name: 'corp-ca', kind: 'scep', url: 'http://a.example/scep' },
      { name: 'corp-ca', kind: 'scep', url: 'http://b.example/scep' },
    ]);
    expect(twice).toContain('entry 1 (corp-ca) name: "corp-ca" is used twice');
  });

  it('refuses a file that is not JSON, is missing, or names an unreadable PEM file', async () => {
    expect(await problems('[{')).toContain('not valid JSON');
    const missing = await readUpstreamConfig(path.join(dir, 'nope.json')).catch((e: unknown) => e);
    expect((missing as Error).message).toContain('cannot be read');
    const est = await file([{ name: 'est-ca', kind: 'est', url: 'https://est.example', clientCert: 'missing.pem', clientKey: 'missing.key' }]);
    const e = await loadUpstreams(est, async () => {
      throw new Error('not used');
    }).catch((err: unknown) => err);
    expect((e as Error).message).toContain('entry est-ca clientCert: cannot read missing.pem: ENOENT');
  });

  it('a bad file stops the gateway with that message', async () => {
    const bad = await file([{ name: 'Bad Name', kind: 'scep', url: 'http://ca.example' }]);
    const dataDir = path.join(dir, 'data-bad');
    await expect(startTestGateway({ dataDir, env: { MDMGW_UPSTREAM_CAS: bad } })).rejects.toThrow(/entry 0 \(Bad Name\) name: must be 1 to 32 lower-case letters/);
    // Checked before anything is created: no CA, keys or database left behind.
    expect(existsSync(path.join(dataDir, 'ca.pem'))).toBe(false);
    expect(existsSync(path.join(dataDir, 'mdmgw.sqlite'))).toBe(false);
  });

  it('a profile may name only a configured CA as its issuer', async () => {
    const t = await startTestGateway({ env: { MDMGW_UPSTREAM_CAS: await file([{ name: 'corp-ca', kind: 'scep', url: 'http://127.0.0.1:9/scep' }]) } });
    try {
      const base = { name: 'Wi-Fi', scope: 'device', subjectName: 'CN={{DeviceName}}' };
      const unknown = await t.api.call('POST', '/profiles', { ...base, issuer: 'other-ca' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.issues).toEqual([{ path: 'issuer', message: `no CA named "other-ca" on this gateway (known: default, corp-ca); add a local CA with 'mdmgw ca init --name' or an upstream CA in MDMGW_UPSTREAM_CAS` }]);
      expect((await t.api.call('POST', '/profiles', { ...base, issuer: 'corp-ca' })).body.issuer).toBe('corp-ca');
      expect((await t.api.call('POST', '/profiles', { ...base, issuer: 'default' })).status).toBe(201);
    } finally {
      await t.stop();
    }
  });
});
