import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../src/free-port.js';

// A throwaway OpenLDAP server (Debian's slapd) for the directory sync tests:
// a slapd.conf and an mdb database in a temp dir, loaded with slapadd, bound
// to 127.0.0.1 on a free port, killed by stop(). Like Active Directory, it
// answers at most SIZE_LIMIT entries per search unless the client pages
// (RFC 2696), so a sync that does not page sees a truncated directory.

const run = promisify(execFile);

export const SLAPD = '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';
export const LDAPMODIFY = '/usr/bin/ldapmodify';
export const SUFFIX = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${SUFFIX}`;
export const ROOT_PASSWORD = 'root-secret';
/** The sync's service account: an ordinary entry, so the size limit applies to it (slapd exempts the rootdn). */
export const SERVICE_DN = `cn=mdmgw,${SUFFIX}`;
export const SERVICE_PASSWORD = 'service-secret';
export const SIZE_LIMIT = 1000;

/** Why the LDAP tests cannot run here, or null when slapd and the ldap-utils are installed. */
export function slapdMissing(): string | null {
  for (const [file, pkg] of [
    [SLAPD, 'slapd'],
    [SLAPADD, 'slapd'],
    [LDAPMODIFY, 'ldap-utils'],
  ] as const) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      return `${file} is missing (apt-get install ${pkg}; CI does this in .ci/run)`;
    }
  }
  return null;
}

export interface SlapdTls {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface Slapd {
  url: string;
  /** ldaps:// URL when started with tls, else null. */
  ldapsUrl: string | null;
  dir: string;
  /** Applies an LDIF change record (changetype: modify/add/delete) as the rootdn. */
  modify(ldif: string): Promise<void>;
  stop(): Promise<void>;
}

function config(dir: string, tls: boolean): string {
  return [
    ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include /etc/ldap/schema/${s}.schema`),
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    `pidfile ${dir}/slapd.pid`,
    // AD's MaxPageSize: 1000 entries per answer; paged searches may return more in total.
    `sizelimit size.soft=${SIZE_LIMIT} size.hard=${SIZE_LIMIT} size.prtotal=unlimited`,
    ...(tls ? [`TLSCACertificateFile ${dir}/ca.pem`, `TLSCertificateFile ${dir}/server.pem`, `TLSCertificateKeyFile ${dir}/server.key`] : []),
    'database mdb',
    `suffix "${SUFFIX}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${ROOT_PASSWORD}`,
    `directory ${dir}/db`,
    'maxsize 268435456',
    'index objectClass eq',
    'index entryUUID eq',
    'access to attrs=userPassword by self read by anonymous auth by * none',
    'access to * by users read by * none',
    '',
  ].join('\n');
}

/** The base entries every test directory has: the suffix, ou=people, ou=groups and the service account. */
export function baseLdif(): string {
  return [
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example`,
    `dn: ou=people,${SUFFIX}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ou=groups,${SUFFIX}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: ${SERVICE_DN}\nobjectClass: person\ncn: mdmgw\nsn: service\nuserPassword: ${SERVICE_PASSWORD}`,
  ].join('\n\n');
}

async function waitForPort(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`slapd exited with ${child.exitCode}: ${stderr()}`);
    try {
      await run('/usr/bin/ldapsearch', ['-x', '-H', url, '-b', '', '-s', 'base', '-LLL', 'objectClass'], { timeout: 2000 });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`slapd did not answer at ${url}: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Starts slapd with `ldif` (after baseLdif()) loaded; `tls` adds an ldaps:// listener and StartTLS. */
export async function startSlapd(ldif: string, opts: { tls?: SlapdTls } = {}): Promise<Slapd> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-slapd-'));
  try {
    await mkdir(path.join(dir, 'db'));
    if (opts.tls) {
      await writeFile(path.join(dir, 'ca.pem'), opts.tls.caPem);
      await writeFile(path.join(dir, 'server.pem'), opts.tls.certPem);
      await writeFile(path.join(dir, 'server.key'), opts.tls.keyPem, { mode: 0o600 });
    }
    const conf = path.join(dir, 'slapd.conf');
    await writeFile(conf, config(dir, opts.tls !== undefined));
    const data = path.join(dir, 'data.ldif');
    await writeFile(data, `${baseLdif()}\n\n${ldif}\n`);
    // -q: quick mode, no consistency checks (2,500 users load in about a second).
    await run(SLAPADD, ['-q', '-f', conf, '-l', data], { maxBuffer: 16 << 20 });
    const port = await freePort();
    const url = `ldap://127.0.0.1:${port}`;
    const ldapsPort = opts.tls ? await freePort() : null;
    const ldapsUrl = ldapsPort ? `ldaps://127.0.0.1:${ldapsPort}` : null;
    const listen = [`${url}/`, ...(ldapsUrl ? [`${ldapsUrl}/`] : [])].join(' ');
    // -d 0: stay in the foreground (so the child is slapd itself and stop() can kill it).
    const child = spawn(SLAPD, ['-d', '0', '-f', conf, '-h', listen], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const stop = async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      await rm(dir, { recursive: true, force: true });
    };
    try {
      await waitForPort(url, child, () => stderr);
    } catch (e) {
      await stop();
      throw e;
    }
    return {
      url,
      ldapsUrl,
      dir,
      modify: async (change) => {
        const file = path.join(dir, `change-${Date.now()}-${Math.random().toString(36).slice(2)}.ldif`);
        await writeFile(file, `${change.trim()}\n`);
        await run(LDAPMODIFY, ['-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PASSWORD, '-f', file], { timeout: 10_000 });
      },
      stop,
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
