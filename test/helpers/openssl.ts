import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function tempDir(prefix = 'mdmgw-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** `openssl cms -verify` of a CertRep against our CA, WITHOUT -purpose any: the RA must be fit for the job. */
/** Runs `fn` with a fresh temporary directory and removes it afterwards. */
async function inTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function opensslCmsVerify(certRep: Uint8Array, caPemFile: string): Promise<{ ok: boolean; stderr: string }> {
  return inTempDir('cmsverify-', async (dir) => {
    const f = path.join(dir, 'certrep.der');
    await writeFile(f, certRep);
    try {
      const r = await run('openssl', ['cms', '-verify', '-inform', 'DER', '-in', f, '-CAfile', caPemFile, '-out', path.join(dir, 'content.der')]);
      return { ok: true, stderr: r.stderr };
    } catch (e) {
      return { ok: false, stderr: String((e as { stderr?: string }).stderr ?? e) };
    }
  });
}

/** `openssl verify` of a leaf certificate against our CA. */
export async function opensslVerify(certDer: Uint8Array, caPemFile: string): Promise<string> {
  return inTempDir('verify-', async (dir) => {
    const f = path.join(dir, 'leaf.der');
    await writeFile(f, certDer);
    await run('openssl', ['x509', '-inform', 'DER', '-in', f, '-out', `${f}.pem`]);
    const r = await run('openssl', ['verify', '-CAfile', caPemFile, `${f}.pem`]);
    return r.stdout.trim();
  });
}

export async function opensslText(certDer: Uint8Array): Promise<string> {
  return inTempDir('x509-', async (dir) => {
    const f = path.join(dir, 'c.der');
    await writeFile(f, certDer);
    return (await run('openssl', ['x509', '-inform', 'DER', '-in', f, '-noout', '-text'])).stdout;
  });
}
