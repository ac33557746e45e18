import { readdir, rm } from 'node:fs/promises';
import { PassThrough } from 'node:stream';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { runCaInit } from '../../src/ca/pkcs11/init-command.js';
import { tempDir } from '../helpers/openssl.js';

// `mdmgw ca init` without a token (the PKCS#11 path runs against SoftHSM in
// test/interop/hsm-scepclient.test.ts): what it writes, what it refuses.

let work: string;
beforeAll(async () => {
  work = await tempDir('mdmgw-ca-init-');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function caInit(dataDir: string, env: Record<string, string>, flags: { pkcs11?: boolean } = {}) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (d) => (stdout += d));
  err.on('data', (d) => (stderr += d));
  const config = loadConfig({ flags: { dataDir }, env, cwd: work });
  const code = await runCaInit(config, flags, out, err);
  return { code, stdout, stderr };
}

describe('mdmgw ca init', () => {
  it('without --pkcs11 creates the CA and RA as key files, then refuses to run again on that directory', async () => {
    const dir = path.join(work, 'files');
    const first = await caInit(dir, {});
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/created the CA and the SCEP RA in .* \(key files ca.key, ra.key\)\nCA certificate SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect((await readdir(dir)).sort()).toEqual(['ca.key', 'ca.pem', 'ra.key', 'ra.pem']);
    const again = await caInit(dir, {});
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already has a CA \(ca.key\): `ca init` needs a new data directory/);
  });

  it('--pkcs11 with a module that is not there: exit 1 naming MDMGW_PKCS11_MODULE, nothing written', async () => {
    const dir = path.join(work, 'token');
    const r = await caInit(dir, { MDMGW_PKCS11_MODULE: '/nonexistent/libpkcs11.so', MDMGW_PKCS11_TOKEN_LABEL: 'x', MDMGW_PKCS11_PIN: '1234' }, { pkcs11: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('mdmgw: PKCS#11 module /nonexistent/libpkcs11.so not found or not readable (MDMGW_PKCS11_MODULE)\n');
    await expect(readdir(dir)).rejects.toThrow(/ENOENT/);
  });

  it('--pkcs11 without any MDMGW_PKCS11_* says what to set', async () => {
    const r = await caInit(path.join(work, 'unset'), {}, { pkcs11: true });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no PKCS#11 module configured: set MDMGW_PKCS11_MODULE, MDMGW_PKCS11_TOKEN_LABEL and MDMGW_PKCS11_PIN_FILE/);
  });
});
