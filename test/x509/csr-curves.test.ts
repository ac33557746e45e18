import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCsr } from '../../src/x509/csr-parser.js';

// Key strength is judged for NIST curves only: a 256-bit curve that is not
// P-256 must not pass as P-256.
function csrFor(curve: string): Uint8Array {
  const dir = mkdtempSync(path.join(tmpdir(), 'curve-'));
  const der = path.join(dir, 'req.der');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', `ec_paramgen_curve:${curve}`, '-nodes', '-keyout', path.join(dir, 'k.pem'), '-subj', '/CN=x', '-outform', 'DER', '-out', der], { stdio: 'ignore' });
  return new Uint8Array(readFileSync(der));
}

describe('EC curves in CSRs', () => {
  it('reports NIST curves by size and others as 0 bits', async () => {
    expect((await parseCsr(csrFor('prime256v1'))).publicKey).toMatchObject({ algorithm: 'EC', bits: 256 });
    expect((await parseCsr(csrFor('secp384r1'))).publicKey).toMatchObject({ algorithm: 'EC', bits: 384 });
    expect((await parseCsr(csrFor('secp256k1'))).publicKey).toMatchObject({ algorithm: 'EC', bits: 0 });
    expect((await parseCsr(csrFor('brainpoolP256r1'))).publicKey).toMatchObject({ algorithm: 'EC', bits: 0 });
  });
});
