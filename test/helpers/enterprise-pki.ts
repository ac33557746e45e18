import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

// An "enterprise PKI" made the way an admin makes one with plain OpenSSL: a
// root by `openssl req -x509`, an intermediate signed by `openssl ca`, and
// `openssl ca` signing our subordinate CA's request with the extensions a
// test asks for (good ones, or the mistakes `mdmgw ca import` must refuse).

const run = promisify(execFile);

export const EXTENSIONS = `
[v3_root]
basicConstraints=critical,CA:true
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[v3_int]
basicConstraints=critical,CA:true,pathlen:1
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[v3_int_pathlen0]
basicConstraints=critical,CA:true,pathlen:0
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[v3_sub]
basicConstraints=critical,CA:true,pathlen:0
keyUsage=critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[v3_sub_not_ca]
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature,keyEncipherment
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[v3_sub_no_certsign]
basicConstraints=critical,CA:true
keyUsage=critical,cRLSign,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[v3_sub_no_crlsign]
basicConstraints=critical,CA:true
keyUsage=critical,keyCertSign,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`;

function caSection(name: string, dir: string): string {
  return `
[${name}]
dir = ${dir}
database = ${dir}/${name}.index
new_certs_dir = ${dir}/newcerts
serial = ${dir}/${name}.serial
default_md = sha256
policy = policy_any
copy_extensions = none
unique_subject = no
email_in_dn = no
`;
}

export type SubExtensions = 'v3_sub' | 'v3_sub_not_ca' | 'v3_sub_no_certsign' | 'v3_sub_no_crlsign' | 'v3_int' | 'v3_int_pathlen0';

export interface EnterprisePki {
  dir: string;
  rootFile: string;
  intermediateFile: string;
  /** The intermediate, then the root (what `ca import --chain` takes). */
  chainFile: string;
  /** Signs `csrFile` with the intermediate (or the root) by `openssl ca`; returns the PEM file written. */
  sign(csrFile: string, opts?: { extensions?: SubExtensions; by?: 'intermediate' | 'root'; days?: number; startdate?: string; enddate?: string; out?: string }): Promise<string>;
}

async function openssl(args: string[], cwd: string): Promise<string> {
  return (await run('openssl', args, { cwd })).stdout;
}

/** Root "CN=Contoso Root CA" and intermediate "CN=Contoso Issuing CA 1" (pathlen as `intermediateExtensions` says) in `dir`. */
export async function enterprisePki(dir: string, opts: { intermediateExtensions?: 'v3_int' | 'v3_int_pathlen0' } = {}): Promise<EnterprisePki> {
  await mkdir(path.join(dir, 'newcerts'), { recursive: true });
  const cnf = path.join(dir, 'openssl.cnf');
  await writeFile(
    cnf,
    `[req]\ndistinguished_name=dn\n[dn]\n[policy_any]\ncommonName=supplied\norganizationName=optional\norganizationalUnitName=optional\ncountryName=optional\n` +
      caSection('root_ca', dir) +
      caSection('int_ca', dir) +
      EXTENSIONS,
  );
  for (const name of ['root_ca', 'int_ca']) {
    await writeFile(path.join(dir, `${name}.index`), '');
    await writeFile(path.join(dir, `${name}.serial`), `${name === 'root_ca' ? '10' : '20'}01\n`);
  }
  const rootFile = path.join(dir, 'root.pem');
  await openssl(['req', '-x509', '-config', cnf, '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root.key', '-out', rootFile, '-days', '3650', '-subj', '/CN=Contoso Root CA/O=Contoso', '-extensions', 'v3_root'], dir);
  await openssl(['req', '-new', '-config', cnf, '-newkey', 'rsa:2048', '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=Contoso Issuing CA 1/O=Contoso'], dir);
  const intermediateFile = path.join(dir, 'int.pem');
  const caArgs = (name: string, cert: string, key: string) => ['ca', '-config', cnf, '-name', name, '-cert', cert, '-keyfile', key, '-batch', '-notext', '-extfile', cnf];
  await openssl([...caArgs('root_ca', rootFile, 'root.key'), '-extensions', opts.intermediateExtensions ?? 'v3_int', '-days', '1825', '-in', 'int.csr', '-out', intermediateFile], dir);
  const chainFile = path.join(dir, 'chain.pem');
  await run('sh', ['-c', `cat ${intermediateFile} ${rootFile} > ${chainFile}`]);
  let n = 0;
  return {
    dir,
    rootFile,
    intermediateFile,
    chainFile,
    async sign(csrFile, o = {}) {
      const out = o.out ?? path.join(dir, `issued-${++n}.pem`);
      const by = o.by === 'root' ? caArgs('root_ca', rootFile, 'root.key') : caArgs('int_ca', intermediateFile, 'int.key');
      const validity = o.startdate || o.enddate ? ['-startdate', o.startdate ?? '20200101000000Z', '-enddate', o.enddate ?? '20991231000000Z'] : ['-days', String(o.days ?? 730)];
      await openssl([...by, '-extensions', o.extensions ?? 'v3_sub', ...validity, '-in', csrFile, '-out', out], dir);
      return out;
    },
  };
}
