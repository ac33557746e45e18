import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

const load = (env: Record<string, string> = {}, flags: Record<string, string> = {}) => loadConfig({ flags, env, cwd: '/srv/mdmgw' });

describe('configuration', () => {
  it('has embedded defaults: 127.0.0.1:8080, ./data, a public URL derived from them', () => {
    const c = load();
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8080, dataDir: '/srv/mdmgw/data', publicUrl: 'http://127.0.0.1:8080', challengeTtlSeconds: 3600 });
    expect(c.databaseUrl).toBeUndefined();
    expect(c.clientCertHeader).toBeUndefined();
  });

  it('keeps audit records 90 days unless MDMGW_AUDIT_RETENTION_DAYS says otherwise (1..3650 whole days)', () => {
    expect(load().auditRetentionDays).toBe(90);
    expect(load({ MDMGW_AUDIT_RETENTION_DAYS: '30' }).auditRetentionDays).toBe(30);
    for (const bad of ['0', '-5', '1.5', 'ninety', '3651']) {
      expect(() => load({ MDMGW_AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/MDMGW_AUDIT_RETENTION_DAYS: must/);
    }
  });

  it('revokes removed profiles after 24 hours unless MDMGW_REMOVAL_GRACE_HOURS says otherwise (0..8760)', () => {
    expect(load().removalGraceHours).toBe(24);
    expect(load({ MDMGW_REMOVAL_GRACE_HOURS: '0' }).removalGraceHours).toBe(0);
    expect(load({ MDMGW_REMOVAL_GRACE_HOURS: '0.5' }).removalGraceHours).toBe(0.5);
    for (const bad of ['-1', 'a day', '8761']) {
      expect(() => load({ MDMGW_REMOVAL_GRACE_HOURS: bad }), bad).toThrow(/MDMGW_REMOVAL_GRACE_HOURS: must/);
    }
  });

  it('lets flags win over the environment', () => {
    const c = load({ MDMGW_PORT: '9000', MDMGW_HOST: '0.0.0.0', MDMGW_DATA_DIR: '/var/lib/mdmgw' }, { port: '9100', dataDir: 'here' });
    expect(c).toMatchObject({ port: 9100, host: '0.0.0.0', dataDir: '/srv/mdmgw/here' });
  });

  it('names every bad field in one error', () => {
    let err: unknown;
    try {
      load({ MDMGW_PORT: 'eighty', MDMGW_PUBLIC_URL: 'ftp://x', MDMGW_ADMIN_TOKEN: 'short', MDMGW_CHALLENGE_TTL_SECONDS: '5', MDMGW_DATABASE_URL: 'mysql://x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    for (const name of ['MDMGW_PORT', 'MDMGW_PUBLIC_URL', 'MDMGW_ADMIN_TOKEN', 'MDMGW_CHALLENGE_TTL_SECONDS', 'MDMGW_DATABASE_URL']) {
      expect(problems).toContain(name);
    }
  });

  it('wants TLS certificate and key together, and then defaults to an https public URL', () => {
    expect(() => load({}, { tlsCert: 'c.pem' })).toThrow(/--tls-cert and --tls-key/);
    expect(load({}, { tlsCert: 'c.pem', tlsKey: 'k.pem', port: '8443' }).publicUrl).toBe('https://127.0.0.1:8443');
    expect(load({ MDMGW_PUBLIC_URL: 'https://mdm.example.com/' }).publicUrl).toBe('https://mdm.example.com');
  });

  it('validates MDMGW_APNS_URL: an https origin, named in the error; unset leaves the adapter default', () => {
    expect(load().apnsUrl).toBeUndefined();
    expect(load({ MDMGW_APNS_URL: 'https://api.sandbox.push.apple.com/' }).apnsUrl).toBe('https://api.sandbox.push.apple.com');
    expect(load({ MDMGW_APNS_URL: 'https://127.0.0.1:8443' }).apnsUrl).toBe('https://127.0.0.1:8443');
    const bad: [string, RegExp][] = [
      ['api.push.apple.com', /MDMGW_APNS_URL: must be an absolute URL/],
      ['http://api.push.apple.com', /MDMGW_APNS_URL: must start with https:\/\//],
      ['https://api.push.apple.com/3/device', /MDMGW_APNS_URL: must be an origin/],
      ['https://user:pw@api.push.apple.com', /MDMGW_APNS_URL: must be an origin/],
      ['https://api.push.apple.com?x=1', /MDMGW_APNS_URL: must be an origin/],
    ];
    for (const [value, message] of bad) expect(() => load({ MDMGW_APNS_URL: value }), value).toThrow(message);
  });

  it('is read from the environment in one place: no module under src/ but the CLI reads process.env', () => {
    const root = path.resolve(__dirname, '../../src');
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && f !== 'cli.ts');
    const readers = files.filter((f) => /process\.env\b/.test(readFileSync(path.join(root, f), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')));
    expect(readers).toEqual([]);
  });
});
