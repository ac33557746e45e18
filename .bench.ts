import { CertificateAuthority } from './src/scep/ca/authority.js';
import { loadOrCreateCaMaterial } from './src/scep/ca/key-files.js';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
const d = mkdtempSync('/tmp/bench-');
const m = await loadOrCreateCaMaterial(d, {});
const ca = new CertificateAuthority(m.root);
const spki = new Uint8Array(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'der' }));
const spec = { subject: [{ type: 'CN', value: 'laptop-1' }, { type: 'OU', value: 'MDM' }, { type: 'O', value: 'Contoso' }], subjectAlternativeNames: [{ type: 'upn' as const, value: 'u@contoso.com' }, { type: 'dns' as const, value: 'laptop-1.contoso.com' }], extendedKeyUsages: ['1.3.6.1.5.5.7.3.2'], keyUsage: ['digitalSignature' as const, 'keyEncipherment' as const], validityDays: 365, hashAlgorithm: 'SHA-256' as const, spki };
for (let i = 0; i < 50; i++) await ca.issue(spec);
const res: number[] = [];
for (let r = 0; r < 10; r++) { const t = performance.now(); for (let i = 0; i < 100; i++) await ca.issue(spec); res.push((performance.now() - t) / 100); }
const tbs = new Uint8Array(1100); const s: number[] = [];
for (let r = 0; r < 10; r++) { const t = performance.now(); for (let i = 0; i < 100; i++) await m.root.key.sign(tbs, 'sha256'); s.push((performance.now() - t) / 100); }
res.sort((a, b) => a - b); s.sort((a, b) => a - b);
console.log('issue ms/cert min/median', res[0]!.toFixed(3), res[5]!.toFixed(3), ' bare sign min/median', s[0]!.toFixed(3), s[5]!.toFixed(3));
rmSync(d, { recursive: true });
