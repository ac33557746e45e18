// PKCS#11 key benchmarks (part of `npm run bench`, when SoftHSM is installed):
// signatures per second with the CA key (RSA-3072) and raw RSA decryptions
// with the RA key (RSA-2048) inside a throwaway SoftHSM token, next to the
// same operations on software keys (node:crypto). Signatures run on the
// token's session pool (SESSION_POOL_SIZE) with BENCH_CONCURRENCY callers.
// Options: BENCH_PKCS11_N (operations per case, default 300).
import { constants, createPublicKey, publicEncrypt, verify } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { generateRsa } from '../src/ca/key-files.js';
import { openToken, SESSION_POOL_SIZE } from '../src/ca/pkcs11/token.js';
import { generateTokenRsaKey, tokenKey } from '../src/ca/pkcs11/token-key.js';
import type { PrivateKeyOps } from '../src/x509/keys.js';
import { softwareKey } from '../src/x509/software-key.js';
import { createSoftHsmToken, softHsmMissing, SOFTHSM_MODULE } from '../test/helpers/softhsm.js';

const N = Number(process.env.BENCH_PKCS11_N ?? 300);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

async function signRate(key: PrivateKeyOps, concurrency: number): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < N) await key.sign(Buffer.from(`tbs ${next}`), 'sha256');
    }),
  );
  return Number((N / ((performance.now() - start) / 1000)).toFixed(1));
}

function decryptRate(key: PrivateKeyOps, spki: Uint8Array): number {
  const ct = publicEncrypt({ key: createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_PADDING }, Buffer.alloc(32, 7));
  const start = performance.now();
  for (let i = 0; i < N; i++) key.decryptRaw!(ct);
  return Number((N / ((performance.now() - start) / 1000)).toFixed(1));
}

export async function pkcs11Benchmark(): Promise<object> {
  const missing = softHsmMissing();
  if (missing) return { benchmark: 'PKCS#11 keys in SoftHSM', skipped: missing };
  const hsm = await createSoftHsmToken('bench');
  process.env.SOFTHSM2_CONF = hsm.conf;
  const token = await openToken({ module: SOFTHSM_MODULE, tokenLabel: 'bench', pin: hsm.pin });
  try {
    const ca = (await generateTokenRsaKey(token, 'bench-ca', 3072), await tokenKey(token, 'bench-ca'));
    const ra = (await generateTokenRsaKey(token, 'bench-ra', 2048, { decrypt: true }), await tokenKey(token, 'bench-ra'));
    // A signature that does not verify would make every number meaningless.
    const sig = await ca.sign(Buffer.from('check'), 'sha256');
    if (!verify('sha256', Buffer.from('check'), createPublicKey({ key: Buffer.from(ca.spki), format: 'der', type: 'spki' }), Buffer.from(sig))) throw new Error('token signature does not verify');
    const swCa = await generateRsa(3072);
    const swRa = await generateRsa(2048);
    const swRaSpki = new Uint8Array(createPublicKey(swRa).export({ type: 'spki', format: 'der' }));
    return {
      benchmark: 'PKCS#11 keys in SoftHSM vs software keys (operations per second)',
      operations: N,
      sessionPool: SESSION_POOL_SIZE,
      caSignRsa3072: { token1: await signRate(ca, 1), [`token${CONCURRENCY}`]: await signRate(ca, CONCURRENCY), software1: await signRate(softwareKey(swCa), 1), [`software${CONCURRENCY}`]: await signRate(softwareKey(swCa), CONCURRENCY) },
      raDecryptRawRsa2048: { token: decryptRate(ra, ra.spki), software: decryptRate(softwareKey(swRa), swRaSpki) },
    };
  } finally {
    token.close();
    await hsm.remove();
  }
}
