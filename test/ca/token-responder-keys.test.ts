import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { RESPONDER_VALIDITY_DAYS, ResponderCertificates, ROTATION_RETRY_MS } from '../../src/ca/ocsp/responder-certificate.js';
import { readKeyRecord } from '../../src/ca/pkcs11/key-record.js';
import { initCaInToken, loadTokenCa } from '../../src/ca/pkcs11/token-ca.js';
import { tokenKeyInfo } from '../../src/ca/pkcs11/token-key.js';
import { tokenResponderKeys } from '../../src/ca/pkcs11/token-responder-keys.js';
import { openToken, TokenError, type Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { createLogger } from '../../src/log.js';
import { verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { tempDir } from '../helpers/openssl.js';
import { createSoftHsmToken, softHsmMissing, SOFTHSM_MODULE, type SoftHsmToken } from '../helpers/softhsm.js';

// Rotation of a token CA's OCSP responder key: a new key in the token once a
// third of RESPONDER_VALIDITY_DAYS is left; the old one stays (retired in
// keys.json) until its certificate has expired, then it is destroyed.

const DAY = 86_400_000;
const log = createLogger('silent');
const missing = softHsmMissing();
if (missing) console.log(missing);

let hsm: SoftHsmToken;
let token: Pkcs11Token;
let dir: string;
let ca: CertificateAuthority;

const present = (label: string) => tokenKeyInfo(token, label).then(
  () => true,
  (e: unknown) => (e instanceof TokenError && /has no private key labelled/.test(e.message) ? false : Promise.reject(e)),
);

describe.skipIf(missing !== null)('token OCSP responder keys (SoftHSM)', () => {
  beforeAll(async () => {
    hsm = await createSoftHsmToken('rotate');
    process.env.SOFTHSM2_CONF = hsm.conf;
    token = await openToken({ module: SOFTHSM_MODULE, tokenLabel: 'rotate', pin: hsm.pin });
    dir = path.join(await tempDir('mdmgw-token-ocsp-'), 'data');
    await initCaInToken(dir, token, { organization: 'Rotate', caKeyBits: 2048 });
    ca = new CertificateAuthority((await loadTokenCa(dir, token, (await readKeyRecord(dir))!, { organization: 'Rotate' })).root);
  });
  afterAll(async () => {
    token?.close();
    await hsm?.remove();
    if (dir) await rm(path.dirname(dir), { recursive: true, force: true });
  });

  it('rotates to a new token key when a third of the validity is left, destroys the old one only after its certificate expired', async () => {
    const clock = { now: new Date() };
    const now = () => clock.now;
    const responders = () => new ResponderCertificates({ dataDir: dir, log, now, keyStoreFor: () => tokenResponderKeys({ dataDir: dir, token, log, now }) });
    const running = responders();
    const first = await running.get(ca);
    const label1 = (await readKeyRecord(dir))!.ocsp![ca.id]!.pkcs11.label;
    expect(await present(label1)).toBe(true);

    // Day 21: due; a new key under a new label, the old one retired until its certificate's end.
    clock.now = new Date(first.notBefore.getTime() + (RESPONDER_VALIDITY_DAYS - 9) * DAY);
    const second = await running.get(ca);
    expect(second.certificate).not.toEqual(first.certificate);
    expect(await verifyIssuedBy(second.certificate, ca.certificate)).toBe(true);
    const entry = (await readKeyRecord(dir))!.ocsp![ca.id]!;
    const label2 = entry.pkcs11.label;
    expect(label2).not.toBe(label1);
    expect(entry.retired).toEqual([{ label: label1, until: first.notAfter.toISOString() }]);
    // Still there: an answer being signed with it, or another instance that has not noticed yet, may use it.
    expect(await present(label1)).toBe(true);
    const sig = await first.key.sign(Buffer.from('late'), 'sha256');
    expect(sig.length).toBe(256);

    // A start before the old certificate's end keeps it; the first start after it destroys it.
    clock.now = new Date(first.notAfter.getTime() - DAY);
    expect((await responders().get(ca)).certificate).toEqual(second.certificate);
    expect(await present(label1)).toBe(true);
    clock.now = new Date(first.notAfter.getTime() + 1000);
    expect((await responders().get(ca)).certificate).toEqual(second.certificate);
    expect(await present(label1)).toBe(false);
    expect(await present(label2)).toBe(true);
    expect((await readKeyRecord(dir))!.ocsp![ca.id]).toEqual({ pkcs11: { label: label2 } });
    expect((await readdir(dir)).filter((f) => f.endsWith('.key'))).toEqual([]);
  }, 60_000);

  it('a rotation the token refuses (HSM unreachable): the still-valid responder keeps answering, retried after ROTATION_RETRY_MS, and an expired one is an error', async () => {
    const clock = { now: new Date() };
    const now = () => clock.now;
    const real = tokenResponderKeys({ dataDir: dir, token, log, now });
    let refusals = 0;
    // The token's real store, except that generating a key fails as a removed token does.
    const failing = {
      load: real.load,
      create: async () => {
        refusals++;
        throw new TokenError('the PKCS#11 token "rotate" is not available (CKR_DEVICE_REMOVED) while trying to generate the key', 'CKR_DEVICE_REMOVED');
      },
    };
    const responders = new ResponderCertificates({ dataDir: dir, log, now, keyStoreFor: () => failing });
    const current = await responders.get(ca);
    clock.now = new Date(current.notBefore.getTime() + (RESPONDER_VALIDITY_DAYS - 9) * DAY);
    expect(await responders.get(ca)).toBe(current);
    expect(refusals).toBe(1);
    // Not on every request: only once ROTATION_RETRY_MS has passed.
    expect(await responders.get(ca)).toBe(current);
    expect(refusals).toBe(1);
    clock.now = new Date(clock.now.getTime() + ROTATION_RETRY_MS + 1000);
    expect(await responders.get(ca)).toBe(current);
    expect(refusals).toBe(2);
    // Past its end there is nothing valid to answer with: the error goes to the responder (tryLater).
    clock.now = new Date(current.notAfter.getTime() + 1000);
    await expect(responders.get(ca)).rejects.toThrow(/CKR_DEVICE_REMOVED/);
  }, 60_000);
});
