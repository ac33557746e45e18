// Built-in CA issuance cost: one certificate on the RSA-3072 root, and the
// same with a signer that returns at once (the builder alone), so a change
// that makes the builder expensive shows up next to the signature it sits by.
import { mkdtemp, rm } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CertificateAuthority, type IssueSpec } from '../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../src/ca/key-files.js';

export async function issuanceBenchmark(rounds = 5, perRound = 100) {
  const dir = await mkdtemp(path.join(tmpdir(), 'bench-ca-'));
  try {
    const material = await loadOrCreateCaMaterial(dir);
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spec: IssueSpec = {
      subject: [{ type: 'CN', value: 'bench' }, { type: 'O', value: 'Bench' }],
      subjectAlternativeNames: [{ type: 'dns', value: 'bench.example.com' }, { type: 'upn', value: 'bench@example.com' }],
      extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'],
      keyUsage: ['digitalSignature', 'keyEncipherment'],
      validityDays: 365,
      hashAlgorithm: 'SHA-256',
      spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })),
    };
    const best = async (ca: CertificateAuthority) => {
      for (let i = 0; i < perRound; i++) await ca.issue(spec); // warm-up
      let min = Infinity;
      for (let r = 0; r < rounds; r++) {
        const t = performance.now();
        for (let i = 0; i < perRound; i++) await ca.issue(spec);
        min = Math.min(min, (performance.now() - t) / perRound);
      }
      return Number(min.toFixed(3));
    };
    const real = await best(new CertificateAuthority(material.root));
    const builderOnly = await best(new CertificateAuthority({ certificate: material.root.certificate, key: { algorithm: 'RSA', sign: async () => new Uint8Array(384) } }));
    return { benchmark: 'CA issuance, RSA-3072 root, best of rounds', msPerCertificate: real, msWithoutSignature: builderOnly };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
