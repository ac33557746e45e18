import { execFile } from 'node:child_process';
import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { loadOrCreateProfileSigner, PROFILE_SIGNING_KEY_FILE } from '../../src/ca/profile-signer.js';
import { writeSignedData } from '../../src/scep/codec/signed-data.js';

const run = promisify(execFile);

describe('profile-signing certificate', () => {
  it('is issued by our CA once, reloaded after, and signs CMS that OpenSSL verifies', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'signer-'));
    const ca = await loadOrCreateCaMaterial(dir, { passphrase: 'correct horse' });
    const authority = new CertificateAuthority(ca.root);
    const first = await loadOrCreateProfileSigner(dir, authority, { passphrase: 'correct horse' });
    const again = await loadOrCreateProfileSigner(dir, authority, { passphrase: 'correct horse' });
    expect(Buffer.from(again.certificate).equals(Buffer.from(first.certificate))).toBe(true);
    expect((await stat(path.join(dir, PROFILE_SIGNING_KEY_FILE))).mode & 0o777).toBe(0o600);
    await expect(loadOrCreateProfileSigner(dir, authority, { passphrase: 'wrong passphrase' })).rejects.toThrow(/MDMGW_CA_PASSPHRASE/);

    const content = Buffer.from('<?xml version="1.0"?><plist version="1.0"><dict/></plist>');
    const signed = await writeSignedData({ eContent: content, certificates: [first.certificate, ca.root.certificate], signer: first, digest: 'sha256', attributes: [] });
    const f = path.join(dir, 'signed.der');
    await writeFile(f, signed);
    const { stdout } = await run('openssl', ['cms', '-verify', '-inform', 'DER', '-in', f, '-CAfile', path.join(dir, 'ca.pem')]);
    expect(stdout).toBe(content.toString());
  });
});
