import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import { targetOf, UsageError } from '../../src/doctor/command.js';

// How the doctor's options become a target (the process-level exit codes are in test/cli/doctor.test.ts).

describe('doctor options', () => {
  const env = {};
  it('--url: a running gateway; the admin token from the flag or MDMGW_ADMIN_TOKEN', () => {
    expect(targetOf({ url: 'https://mdm.example.com' }, { MDMGW_ADMIN_TOKEN: 'from-the-environment-123' }, '/')).toEqual({
      mode: 'url',
      url: new URL('https://mdm.example.com'),
      adminToken: 'from-the-environment-123',
    });
    expect(targetOf({ url: 'https://mdm.example.com', adminToken: 'flag-token-0123456789' }, { MDMGW_ADMIN_TOKEN: 'env' }, '/')).toMatchObject({ adminToken: 'flag-token-0123456789' });
  });

  it('refuses what is not an http(s) URL, credentials in it, and --url with local configuration flags', () => {
    expect(() => targetOf({ url: 'mdm.example.com' }, env, '/')).toThrow(new UsageError('--url: "mdm.example.com" is not a URL; give the gateway\'s base URL, e.g. https://mdm.example.com'));
    expect(() => targetOf({ url: 'https://admin:pw@mdm.example.com' }, env, '/')).toThrow(/must not carry credentials/);
    expect(() => targetOf({ url: 'https://mdm.example.com', dataDir: '/var/lib/mdmgw' }, env, '/')).toThrow(/give one or the other/);
  });

  it('config mode: the configuration serve would use (a bad value is a ConfigError, exit 2)', () => {
    const t = targetOf({ dataDir: 'state' }, { MDMGW_PUBLIC_URL: 'https://mdm.example.com/' }, '/srv');
    expect(t).toMatchObject({ mode: 'config', config: { dataDir: '/srv/state', publicUrl: 'https://mdm.example.com' } });
    expect(() => targetOf({}, { MDMGW_PUBLIC_URL: 'mdm.example.com' }, '/')).toThrow(ConfigError);
  });
});
