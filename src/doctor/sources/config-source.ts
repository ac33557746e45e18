import { X509Certificate } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../../config.js';
import { CA_CERT_FILE, RA_CERT_FILE } from '../../ca/key-files.js';
import { CA_CHAIN_FILE } from '../../ca/ca-setup.js';
import { SECRET_KEY_PREFIX } from '../../core/adapter-secrets.js';
import { secretBox, SECRETS_KEY_FILE } from '../../core/secret-box.js';
import { openStorage, resolveDatabaseUrl } from '../../core/storage/index.js';
import { PUSH_CERTIFICATE_SETTING } from '../../adapters/apple/push-certificate.js';
import { SCEP_PATHS } from '../../http/scep-routes.js';
import type { ApnsEvidence, Certificates, Evidence } from '../evidence.js';
import { probeScep } from '../http-probe.js';

// Config mode: the gateway as configured on this machine (flags, environment,
// its data directory), whether it runs or not. Read-only: nothing is created,
// unlike `mdmgw serve` (a missing CA is reported, not generated). The public
// URL is asked as a device would ask it.

const FIRST_START = 'start the gateway once (mdmgw serve) to create it, or restore the data directory from backup';

async function readCertificateFile(dir: string, file: string, errors: Certificates['errors']): Promise<Uint8Array | null> {
  const path = join(dir, file);
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    errors.push({ message: code === 'ENOENT' ? `${path} is missing` : `${path} is unreadable (${code})`, fix: code === 'ENOENT' ? FIRST_START : `run the doctor as the gateway's user (${path} is private to it)` });
    return null;
  }
  try {
    return new Uint8Array(new X509Certificate(pem).raw);
  } catch (e) {
    errors.push({ message: `${path} is not a PEM certificate: ${(e as Error).message}`, fix: 'restore it from backup' });
    return null;
  }
}

/** ca-chain.pem (`mdmgw ca import`): the certificates above a subordinate CA; null when absent or unreadable (the check says so). */
async function readChainFile(dir: string): Promise<Uint8Array[] | null> {
  let pem: string;
  try {
    pem = await readFile(join(dir, CA_CHAIN_FILE), 'utf8');
  } catch {
    return null;
  }
  const certs: Uint8Array[] = [];
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
    try {
      certs.push(new Uint8Array(new X509Certificate(block).raw));
    } catch {
      // an unreadable block cannot be part of the path; the check reports the path as broken
    }
  }
  return certs;
}

/** The APNs push certificate from the database: sealed JSON under apple.secret.push-certificate (adapter-secrets.ts). */
async function apnsFromDatabase(config: Config): Promise<ApnsEvidence> {
  const target = resolveDatabaseUrl(config.databaseUrl, config.dataDir);
  const file = target.kind === 'sqlite' ? target.file : null;
  if (target.kind === 'postgres') return { state: 'not-checked', why: 'the database is PostgreSQL', fix: 'run the doctor with --url against the running gateway and --admin-token' };
  if (file === null || file === ':memory:') return { state: 'not-checked', why: 'the database is in memory', fix: 'run the doctor with --url against the running gateway and --admin-token' };
  try {
    await access(file);
  } catch {
    return { state: 'not-checked', why: `no database at ${file} yet`, fix: FIRST_START };
  }
  let key: Buffer;
  try {
    key = Buffer.from((await readFile(join(config.dataDir, SECRETS_KEY_FILE), 'utf8')).trim(), 'base64');
  } catch (e) {
    return { state: 'not-checked', why: `${SECRETS_KEY_FILE} is unreadable (${(e as NodeJS.ErrnoException).code})`, fix: "run the doctor as the gateway's user" };
  }
  const storage = await openStorage(config.databaseUrl, config.dataDir);
  try {
    const sealed = await storage.getSetting(`apple.${SECRET_KEY_PREFIX}${PUSH_CERTIFICATE_SETTING}`);
    if (sealed === null) return { state: 'absent' };
    // Only the topic and the expiry are kept: the key in it is never looked at again.
    const stored = JSON.parse(secretBox(key).open(sealed)) as { topic: string; notAfter: string };
    return { state: 'present', topic: stored.topic, notAfter: new Date(stored.notAfter) };
  } catch {
    return { state: 'not-checked', why: `the stored push certificate cannot be opened with ${SECRETS_KEY_FILE}`, fix: `restore ${SECRETS_KEY_FILE} from the backup the database came from, or upload the push certificate again` };
  } finally {
    await storage.close();
  }
}

export async function configEvidence(config: Config, now: Date, timeoutMs?: number): Promise<Evidence> {
  const errors: Certificates['errors'] = [];
  const ca = await readCertificateFile(config.dataDir, CA_CERT_FILE, errors);
  const ra = await readCertificateFile(config.dataDir, RA_CERT_FILE, errors);
  const chain = await readChainFile(config.dataDir);
  const [apns, probe] = await Promise.all([apnsFromDatabase(config), probeScep(config.publicUrl, SCEP_PATHS[0]!, timeoutMs)]);
  return { mode: 'config', now, certificates: { origin: config.dataDir, ca, ra, chain, errors }, probe, apns, ...(config.caKey && { requestedCaKey: config.caKey }) };
}
