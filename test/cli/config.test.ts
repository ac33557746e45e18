import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkKeyStore, ConfigError, loadConfig } from '../../src/config.js';

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

  it('bounds SCEP enrollments in flight (32) and failures per source (20, 0 = off) unless told otherwise', () => {
    expect(load({}).maxEnrollmentsInFlight).toBe(32);
    expect(load({}).scepFailureBudget).toBe(20);
    expect(load({ MDMGW_MAX_ENROLLMENTS_IN_FLIGHT: '4', MDMGW_SCEP_FAILURE_BUDGET: '0' })).toMatchObject({ maxEnrollmentsInFlight: 4, scepFailureBudget: 0 });
    expect(() => load({ MDMGW_MAX_ENROLLMENTS_IN_FLIGHT: '0' })).toThrow(/MDMGW_MAX_ENROLLMENTS_IN_FLIGHT: must be at least 1/);
    expect(() => load({ MDMGW_SCEP_FAILURE_BUDGET: '-1' })).toThrow(/MDMGW_SCEP_FAILURE_BUDGET: must be at least 0/);
  });

  it('revokes removed profiles after 24 hours unless MDMGW_REMOVAL_GRACE_HOURS says otherwise (0..8760)', () => {
    expect(load().removalGraceHours).toBe(24);
    expect(load({ MDMGW_REMOVAL_GRACE_HOURS: '0' }).removalGraceHours).toBe(0);
    expect(load({ MDMGW_REMOVAL_GRACE_HOURS: '0.5' }).removalGraceHours).toBe(0.5);
    for (const bad of ['-1', 'a day', '8761']) {
      expect(() => load({ MDMGW_REMOVAL_GRACE_HOURS: bad }), bad).toThrow(/MDMGW_REMOVAL_GRACE_HOURS: must/);
    }
  });

  it('keeps keys in files with SQLite and in the database with PostgreSQL, which then needs MDMGW_CA_PASSPHRASE to serve', () => {
    const keys = (env: Record<string, string>) => checkKeyStore(load(env), env);
    expect(load().keyStore).toBe('files');
    expect(load({ MDMGW_DATABASE_URL: 'sqlite:///srv/db/mdmgw.sqlite' }).keyStore).toBe('files');
    const pg = 'postgres://mdmgw:secret@db.example/mdmgw';
    expect(load({ MDMGW_DATABASE_URL: pg }).keyStore).toBe('database'); // `mdmgw db` needs no passphrase
    expect(() => keys({ MDMGW_DATABASE_URL: pg })).toThrow(/MDMGW_CA_PASSPHRASE: required when the keys are kept in the database \(a PostgreSQL MDMGW_DATABASE_URL\)/);
    expect(() => keys({ MDMGW_DATABASE_URL: pg })).not.toThrow(/secret/); // the URL's password is not repeated
    expect(() => keys({ MDMGW_DATABASE_URL: pg, MDMGW_CA_PASSPHRASE: 'long enough passphrase' })).not.toThrow();
    expect(() => keys({ MDMGW_KEY_STORE: 'database' })).toThrow(/MDMGW_CA_PASSPHRASE: required .*MDMGW_KEY_STORE=database/);
    expect(load({ MDMGW_KEY_STORE: 'database', MDMGW_CA_PASSPHRASE: 'long enough passphrase' }).keyStore).toBe('database');
    expect(load({ MDMGW_DATABASE_URL: pg, MDMGW_KEY_STORE: 'files' }).keyStore).toBe('files'); // keys by path, e.g. a shared volume
    expect(() => keys({ MDMGW_DATABASE_URL: pg, MDMGW_KEY_STORE: 'files' })).not.toThrow();
    expect(() => load({ MDMGW_KEY_STORE: 'vault' })).toThrow(/MDMGW_KEY_STORE: must be files or database/);
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

  it('validates MDMGW_CRL_URL, MDMGW_OCSP_URL (http/https, no query, credentials or fragment) and MDMGW_CRL_VALIDITY_HOURS (1..720, default 24)', () => {
    const c = load();
    expect(c.crlUrl).toBeUndefined();
    expect(c.ocspUrl).toBeUndefined();
    expect(c.crlValidityHours).toBe(24);
    const set = load({ MDMGW_CRL_URL: 'http://pki.corp.example/crl/', MDMGW_OCSP_URL: 'http://ocsp.corp.example/', MDMGW_CRL_VALIDITY_HOURS: '6' });
    expect(set).toMatchObject({ crlUrl: 'http://pki.corp.example/crl', ocspUrl: 'http://ocsp.corp.example', crlValidityHours: 6 });
    const bad: Array<[Record<string, string>, RegExp]> = [
      [{ MDMGW_CRL_URL: 'pki.corp.example' }, /MDMGW_CRL_URL: must be an absolute URL/],
      [{ MDMGW_CRL_URL: 'ldap://pki.corp.example/crl' }, /MDMGW_CRL_URL: must start with http/],
      [{ MDMGW_CRL_URL: 'http://pki.corp.example/crl?x=1' }, /MDMGW_CRL_URL: must not carry credentials, a query or a fragment/],
      [{ MDMGW_OCSP_URL: 'http://user:pw@ocsp.corp.example' }, /MDMGW_OCSP_URL: must not carry credentials/],
      [{ MDMGW_OCSP_URL: 'ftp://ocsp.corp.example' }, /MDMGW_OCSP_URL: must start with http/],
      [{ MDMGW_CRL_VALIDITY_HOURS: '0' }, /MDMGW_CRL_VALIDITY_HOURS: must be at least 1/],
      [{ MDMGW_CRL_VALIDITY_HOURS: '721' }, /MDMGW_CRL_VALIDITY_HOURS: must be at most 720/],
      [{ MDMGW_CRL_VALIDITY_HOURS: '1.5' }, /MDMGW_CRL_VALIDITY_HOURS: must be a whole number/],
      [{ MDMGW_CRL_VALIDITY_HOURS: 'a day' }, /MDMGW_CRL_VALIDITY_HOURS: must be a number/],
    ];
    for (const [env, message] of bad) expect(() => load(env), JSON.stringify(env)).toThrow(message);
  });

  it('makes OCSP responses valid 60 minutes unless MDMGW_OCSP_VALIDITY_MINUTES says otherwise (5..10080 whole minutes)', () => {
    expect(load().ocspValidityMinutes).toBe(60);
    expect(load({ MDMGW_OCSP_VALIDITY_MINUTES: '15' }).ocspValidityMinutes).toBe(15);
    for (const bad of ['0', '4', '10081', '1.5', 'hour']) {
      expect(() => load({ MDMGW_OCSP_VALIDITY_MINUTES: bad }), bad).toThrow(/MDMGW_OCSP_VALIDITY_MINUTES: must/);
    }
  });

  it('reads the admin listener from --admin-listen or MDMGW_ADMIN_LISTEN as HOST:PORT, apart from the device listener', () => {
    expect(load().adminListen).toBeUndefined();
    expect(load({ MDMGW_ADMIN_LISTEN: '127.0.0.1:8081' }).adminListen).toEqual({ host: '127.0.0.1', port: 8081 });
    expect(load({ MDMGW_ADMIN_LISTEN: '[::1]:9000' }).adminListen).toEqual({ host: '::1', port: 9000 });
    expect(load({ MDMGW_ADMIN_LISTEN: '10.0.0.5:1' }, { adminListen: 'localhost:8090' }).adminListen).toEqual({ host: 'localhost', port: 8090 });
    for (const bad of ['8081', '127.0.0.1', '127.0.0.1:', '127.0.0.1:99999', 'host:80:80', '::1:8081', 'a b:80', '127.0.0.1:-1']) {
      expect(() => load({ MDMGW_ADMIN_LISTEN: bad }), bad).toThrow(/MDMGW_ADMIN_LISTEN \/ --admin-listen: must be HOST:PORT/);
    }
    // The same address as the device listener (or a wildcard on its port) would put the admin API back on it.
    expect(() => load({ MDMGW_ADMIN_LISTEN: '127.0.0.1:8080' })).toThrow(/overlaps the device listener/);
    expect(() => load({ MDMGW_ADMIN_LISTEN: '0.0.0.0:8080' })).toThrow(/overlaps the device listener/);
    expect(load({ MDMGW_ADMIN_LISTEN: '127.0.0.2:8080' }).adminListen).toEqual({ host: '127.0.0.2', port: 8080 });
  });

  it('is read from the environment in one place: no module under src/ but the CLI reads process.env', () => {
    const root = path.resolve(__dirname, '../../src');
    const files = (readdirSync(root, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && f !== 'cli.ts');
    const readers = files.filter((f) => /process\.env\b/.test(readFileSync(path.join(root, f), 'utf8').replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, '')));
    expect(readers).toEqual([]);
  });
});

describe('PKCS#11 configuration (docs/hsm.md)', () => {
  const module = { MDMGW_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so' };
  it('is off unless MDMGW_PKCS11_MODULE is set; then takes a token label or slot and one PIN source', () => {
    expect(load().pkcs11Module).toBeUndefined();
    const c = load({ ...module, MDMGW_PKCS11_TOKEN_LABEL: 'mdmgw', MDMGW_PKCS11_PIN_FILE: 'secrets/pin' });
    expect(c).toMatchObject({ pkcs11Module: '/usr/lib/softhsm/libsofthsm2.so', pkcs11TokenLabel: 'mdmgw', pkcs11PinFile: '/srv/mdmgw/secrets/pin' });
    expect(load({ ...module, MDMGW_PKCS11_SLOT: '1', MDMGW_PKCS11_PIN: '1234' })).toMatchObject({ pkcs11Slot: 1, pkcs11Pin: '1234' });
  });

  it('refuses incomplete or contradictory settings, naming them', () => {
    expect(() => load({ MDMGW_PKCS11_TOKEN_LABEL: 'mdmgw' })).toThrow(/MDMGW_PKCS11_MODULE: required with the other MDMGW_PKCS11_\* settings/);
    expect(() => load({ ...module, MDMGW_PKCS11_PIN: '1234' })).toThrow(/MDMGW_PKCS11_TOKEN_LABEL \/ MDMGW_PKCS11_SLOT: give exactly one/);
    expect(() => load({ ...module, MDMGW_PKCS11_TOKEN_LABEL: 'a', MDMGW_PKCS11_SLOT: '0', MDMGW_PKCS11_PIN: '1' })).toThrow(/give exactly one/);
    expect(() => load({ ...module, MDMGW_PKCS11_TOKEN_LABEL: 'a' })).toThrow(/MDMGW_PKCS11_PIN \/ MDMGW_PKCS11_PIN_FILE: give exactly one/);
    expect(() => load({ ...module, MDMGW_PKCS11_TOKEN_LABEL: 'a', MDMGW_PKCS11_PIN: '1', MDMGW_PKCS11_PIN_FILE: '/p' })).toThrow(/give exactly one/);
    expect(() => load({ ...module, MDMGW_PKCS11_SLOT: '-1', MDMGW_PKCS11_PIN: '1' })).toThrow(/MDMGW_PKCS11_SLOT: must be at least 0/);
    expect(() => load({ ...module, MDMGW_PKCS11_TOKEN_LABEL: 'x'.repeat(33), MDMGW_PKCS11_PIN: '1' })).toThrow(/MDMGW_PKCS11_TOKEN_LABEL: must be at most 32/);
  });

  it('never puts the PIN into an error message', () => {
    let message = '';
    try {
      load({ ...module, MDMGW_PKCS11_PIN: 'sekrit-pin-42' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/MDMGW_PKCS11_TOKEN_LABEL/);
    expect(message).not.toContain('sekrit-pin-42');
  });

  it('MDMGW_CA_KEY: unset (the CA keeps or gets rsa3072), rsa3072, rsa2048 or p256 (any case); anything else is one line naming the allowed values', () => {
    expect(load().caKey).toBeUndefined();
    expect(load({ MDMGW_CA_KEY: 'p256' }).caKey).toBe('p256');
    expect(load({ MDMGW_CA_KEY: ' P256 ' }).caKey).toBe('p256');
    expect(load({ MDMGW_CA_KEY: 'rsa3072' }).caKey).toBe('rsa3072');
    expect(load({ MDMGW_CA_KEY: 'RSA2048' }).caKey).toBe('rsa2048');
    for (const bad of ['p384', 'rsa4096', 'rsa1024', 'ecdsa', 'ed25519']) {
      let problems: string[] = [];
      try {
        load({ MDMGW_CA_KEY: bad });
      } catch (e) {
        problems = (e as ConfigError).problems;
      }
      expect(problems, bad).toEqual([`MDMGW_CA_KEY: "${bad}" is not offered: must be rsa3072 (the default), rsa2048 or p256`]);
    }
  });

  it('MDMGW_SQLITE_CACHE_MIB: 64 unless set; a whole number of MiB from 2 to 4096, else one line naming it', () => {
    expect(load().sqliteCacheMiB).toBe(16);
    expect(load({ MDMGW_SQLITE_CACHE_MIB: '256' }).sqliteCacheMiB).toBe(256);
    expect(load({ MDMGW_SQLITE_CACHE_MIB: ' ' }).sqliteCacheMiB).toBe(16);
    for (const [bad, why] of [['1', 'must be at least 2'], ['8192', 'must be at most 4096'], ['1.5', 'must be a whole number'], ['lots', 'must be a number']]) {
      let problems: string[] = [];
      try {
        load({ MDMGW_SQLITE_CACHE_MIB: bad! });
      } catch (e) {
        problems = (e as ConfigError).problems;
      }
      expect(problems, bad).toEqual([`MDMGW_SQLITE_CACHE_MIB: ${why}`]);
    }
  });
});
