import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaImportError, certificatesInPem, checkCaChain } from '../../src/ca/ca-chain.js';
import { subordinateRequest } from '../../src/ca/ca-setup.js';
import { generateRsa } from '../../src/ca/key-files.js';
import { enterprisePki, type EnterprisePki } from '../helpers/enterprise-pki.js';
import { tempDir } from '../helpers/openssl.js';

// `mdmgw ca import`'s checks against certificates a real `openssl ca` issued
// for our request: each mistake an enterprise CA admin can make is refused
// with a reason that names it.

let dir: string;
let pki: EnterprisePki;
let pathLen0: EnterprisePki;
let key: KeyObject;
let csrFile: string;

const pemFile = async (file: string) => certificatesInPem(await readFile(file, 'utf8'), file);
const one = async (file: string) => (await pemFile(file))[0]!;

async function refusal(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
  } catch (e) {
    expect(e).toBeInstanceOf(CaImportError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
}

beforeAll(async () => {
  dir = await tempDir('mdmgw-ca-chain-');
  pki = await enterprisePki(path.join(dir, 'contoso'));
  pathLen0 = await enterprisePki(path.join(dir, 'strict'), { intermediateExtensions: 'v3_int_pathlen0' });
  key = await generateRsa(2048);
  csrFile = path.join(dir, 'ca.csr');
  await writeFile(csrFile, await subordinateRequest(key, 'CN=Contoso MDM Issuing CA, O=Contoso'));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('checkCaChain (ca import)', () => {
  it('accepts a subordinate CA certificate and orders the chain up to the root, whatever order the file has', async () => {
    const cert = await one(await pki.sign(csrFile));
    const [intermediate, root] = await pemFile(pki.chainFile);
    const chain = await checkCaChain(cert, key, [root!, intermediate!]);
    expect(chain.intermediates.map((c) => Buffer.from(c).toString('hex'))).toEqual([Buffer.from(intermediate!).toString('hex')]);
    expect(Buffer.from(chain.root).equals(Buffer.from(root!))).toBe(true);
    // Signed by the root itself: no intermediates.
    const direct = await checkCaChain(await one(await pki.sign(csrFile, { by: 'root' })), key, [root!]);
    expect(direct.intermediates).toEqual([]);
  });

  it('refuses a certificate for another key', async () => {
    const other = await generateRsa(2048);
    const otherCsr = path.join(dir, 'other.csr');
    await writeFile(otherCsr, await subordinateRequest(other, 'CN=Someone Else CA'));
    const cert = await one(await pki.sign(otherCsr));
    expect(await refusal(async () => checkCaChain(cert, key, await pemFile(pki.chainFile)))).toMatch(/does not match the CA key/);
  });

  it('refuses a certificate that is not a CA, or may not sign certificates or CRLs', async () => {
    const chain = await pemFile(pki.chainFile);
    expect(await refusal(async () => checkCaChain(await one(await pki.sign(csrFile, { extensions: 'v3_sub_not_ca' })), key, chain))).toMatch(/not a CA certificate \(basicConstraints CA:TRUE missing\)/);
    expect(await refusal(async () => checkCaChain(await one(await pki.sign(csrFile, { extensions: 'v3_sub_no_certsign' })), key, chain))).toMatch(/keyUsage lacks keyCertSign/);
    expect(await refusal(async () => checkCaChain(await one(await pki.sign(csrFile, { extensions: 'v3_sub_no_crlsign' })), key, chain))).toMatch(/keyUsage lacks cRLSign/);
  });

  it("refuses when the issuer's pathLenConstraint allows no CA below it", async () => {
    const cert = await one(await pathLen0.sign(csrFile));
    expect(await refusal(async () => checkCaChain(cert, key, await pemFile(pathLen0.chainFile)))).toMatch(/"CN=Contoso Issuing CA 1, O=Contoso" has pathLenConstraint 0/);
  });

  it('refuses an expired or not yet valid certificate', async () => {
    const chain = await pemFile(pki.chainFile);
    const expired = await one(await pki.sign(csrFile, { startdate: '20200101000000Z', enddate: '20210101000000Z' }));
    expect(await refusal(() => checkCaChain(expired, key, chain))).toMatch(/has expired \(notAfter 2021-01-01/);
    const future = await one(await pki.sign(csrFile, { startdate: '20980101000000Z', enddate: '20990101000000Z' }));
    expect(await refusal(() => checkCaChain(future, key, chain))).toMatch(/is not valid yet \(notBefore 2098-01-01/);
  });

  it('refuses a chain that does not reach a self-signed root, or whose signatures do not verify', async () => {
    const cert = await one(await pki.sign(csrFile));
    const [, root] = await pemFile(pki.chainFile);
    // The intermediate is missing.
    expect(await refusal(() => checkCaChain(cert, key, [root!]))).toMatch(/does not reach a self-signed root: no certificate in the chain file signed "CN=Contoso MDM Issuing CA, O=Contoso"/);
    // Another PKI's intermediate with the very same name: the name matches, the signature does not.
    const impostor = await enterprisePki(path.join(dir, 'impostor'));
    expect(await refusal(async () => checkCaChain(cert, key, await pemFile(impostor.chainFile)))).toMatch(/does not reach a self-signed root/);
    // The intermediate without its root.
    expect(await refusal(async () => checkCaChain(cert, key, [(await pemFile(pki.chainFile))[0]!]))).toMatch(/no certificate in the chain file signed "CN=Contoso Issuing CA 1, O=Contoso"/);
  }, 30_000);

  it('names a chain file block that is not a certificate', () => {
    expect(() => certificatesInPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', 'chain.pem')).toThrow(/chain.pem: certificate 1 is not a readable X.509 certificate/);
  });
});
