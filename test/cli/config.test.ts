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
});
