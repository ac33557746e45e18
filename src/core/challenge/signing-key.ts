import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

// The challenge-signing key: Ed25519, separate from the CA key so that a
// leaked challenge key lets an attacker mint challenges (which still pass
// every CRP check against the directory) but never sign certificates, and so
// it can be rotated without re-issuing anything. Rotating = deleting the file:
// outstanding challenges then fail CHALLENGE_BAD_SIGNATURE and devices get
// fresh ones at their next check-in.

export const CHALLENGE_KEY_FILE = 'challenge-signing.key';

export interface ChallengeKeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

function fromPem(pem: string, file: string): ChallengeKeyPair {
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new Error(`${file}: not a PEM private key`);
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${file}: the challenge-signing key must be Ed25519, found ${privateKey.asymmetricKeyType ?? 'unknown'}`);
  }
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Reads `<dataDir>/challenge-signing.key` (PKCS#8 PEM), creating it (mode 0600) when absent. */
export async function loadOrCreateChallengeKey(dataDir: string): Promise<ChallengeKeyPair> {
  const file = path.join(dataDir, CHALLENGE_KEY_FILE);
  try {
    const pem = await readFile(file, 'utf8');
    // Tighten a key file someone copied in with looser permissions.
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
    return fromPem(pem, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // Written to a private temporary file, then hard-linked into place: link()
  // fails if the key exists, so two instances starting at the same moment
  // both end up with the first key, and nobody reads a half-written file.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, pem, { mode: 0o600, flag: 'wx' });
  try {
    await chmod(tmp, 0o600);
    await link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return fromPem(await readFile(file, 'utf8'), file);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return fromPem(pem, file);
}
