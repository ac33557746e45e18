import { chmod, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { createPublicKey, verify, X509Certificate } from 'node:crypto';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openToken, TokenError, type Pkcs11Token } from '../../src/ca/pkcs11/token.js';
import { destroyTokenKey, generateTokenRsaKey, tokenKey, tokenKeyInfo } from '../../src/ca/pkcs11/token-key.js';
import { initCaInToken, loadTokenCa, TokenRaKeeper } from '../../src/ca/pkcs11/token-ca.js';
import { readKeyRecord } from '../../src/ca/pkcs11/key-record.js';
import { openCaKeys } from '../../src/ca/pkcs11/ca-keys.js';
import { tokenOptionsFrom } from '../../src/ca/pkcs11/token-config.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { openEnvelope, readEnvelope, sealEnvelope } from '../../src/scep/codec/enveloped-data.js';
import { verifyIssuedBy } from '../../src/x509/certificate-info.js';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { toPem } from '../../src/pem.js';
import { parseTime, readCertificate } from '../../src/x509/cert-raw.js';
import { createSoftHsmToken, softHsmMissing, SOFTHSM_MODULE, type SoftHsmToken } from '../helpers/softhsm.js';
import { tempDir } from '../helpers/openssl.js';

// The PKCS#11 keys against a real SoftHSM token made for this file: signing
// and RSA decryption happen in the token, the private key is not extractable,
// and every way the token can refuse becomes a specific TokenError.

const missing = softHsmMissing();
if (missing) console.log(missing);

let hsm: SoftHsmToken;
let token: Pkcs11Token;
let work: string;
const DAY = 86_400_000;

const spkiKey = (spki: Uint8Array) => createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });

describe.skipIf(missing !== null)('PKCS#11 keys in SoftHSM', () => {
  beforeAll(async () => {
    hsm = await createSoftHsmToken('unit');
    // SoftHSM sees only the tokens there are when it is initialised.
    await hsm.addToken('pin-test');
    // The SoftHSM library reads its configuration from the environment when it is initialised.
    process.env.SOFTHSM2_CONF = hsm.conf;
    token = await openToken({ module: SOFTHSM_MODULE, tokenLabel: 'unit', pin: hsm.pin });
    work = await tempDir('mdmgw-pkcs11-');
  });

  afterAll(async () => {
    token?.close();
    await hsm?.remove();
  });

  it('generates an RSA key in the token that is sensitive and not extractable, and signs with it (sha1/256/384/512)', async () => {
    const info = await generateTokenRsaKey(token, 'sign-test', 2048);
    expect(info).toMatchObject({ algorithm: 'RSA', extractable: false, sensitive: true });
    // The private exponent cannot be read out.
    await token.withSession('read', (s) => {
      const h = token.findObject(s, pkcs11js.CKO_PRIVATE_KEY, 'sign-test')!;
      expect(() => token.api.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_PRIVATE_EXPONENT }])).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    });
    const key = await tokenKey(token, 'sign-test');
    const data = Buffer.from('to be signed');
    for (const hash of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      const sig = await key.sign(data, hash);
      expect(verify(hash, data, spkiKey(key.spki), Buffer.from(sig)), hash).toBe(true);
      expect(verify(hash, Buffer.from('other'), spkiKey(key.spki), Buffer.from(sig))).toBe(false);
    }
  });

  it('signs concurrently beyond the session pool size without mixing up operations', async () => {
    const key = await tokenKey(token, 'sign-test');
    // Many at once on libuv's threads: the module must have been initialised with CKF_OS_LOCKING_OK (without it SoftHSM's heap broke: free(): invalid pointer).
    const inputs = Array.from({ length: 100 }, (_, i) => Buffer.from(`message ${i}`));
    const sigs = await Promise.all(inputs.map((d) => key.sign(d, 'sha256')));
    sigs.forEach((sig, i) => expect(verify('sha256', inputs[i]!, spkiKey(key.spki), Buffer.from(sig))).toBe(true));
  });

  it('signs ECDSA in the token and returns DER (r, s), which node verifies', async () => {
    await token.withSession('generate EC', (s) => {
      const common = [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_LABEL, value: 'ec-test' }];
      token.api.C_GenerateKeyPair(
        s,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [...common, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: pkcs11js.CKA_VERIFY, value: true }],
        [...common, { type: pkcs11js.CKA_SIGN, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_EXTRACTABLE, value: false }, { type: pkcs11js.CKA_PRIVATE, value: true }],
      );
    });
    const key = await tokenKey(token, 'ec-test');
    expect(key.algorithm).toBe('EC');
    expect(key.decryptRaw).toBeUndefined();
    expect(spkiKey(key.spki).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const data = Buffer.from('ec data');
    for (let i = 0; i < 8; i++) {
      const sig = Buffer.from(await key.sign(data, 'sha256'));
      expect(sig[0]).toBe(0x30);
      expect(verify('sha256', data, { key: spkiKey(key.spki), dsaEncoding: 'der' }, sig)).toBe(true);
    }
  });

  describe('a CA and RA made by initCaInToken', () => {
    let dir: string;
    beforeAll(async () => {
      dir = path.join(work, 'ca');
      await initCaInToken(dir, token, { organization: 'HSM Test', caKeyBits: 2048 });
    });

    it('writes certificates and keys.json, and no private key file', async () => {
      expect((await readdir(dir)).sort()).toEqual(['ca.pem', 'keys.json', 'ra.pem']);
      expect(await readKeyRecord(dir)).toEqual({ ca: { pkcs11: { label: 'mdmgw-ca' } }, ra: { pkcs11: { label: 'mdmgw-ra' } } });
      for (const label of ['mdmgw-ca', 'mdmgw-ra']) expect(await tokenKeyInfo(token, label)).toMatchObject({ extractable: false, sensitive: true });
      // Least privilege: the CA key only signs; the RA key also decrypts (SCEP envelopes); neither unwraps keys.
      const usage = (label: string) =>
        token.withSession('read', (s) => {
          const h = token.findObject(s, pkcs11js.CKO_PRIVATE_KEY, label)!;
          return token.api.C_GetAttributeValue(s, h, [{ type: pkcs11js.CKA_SIGN }, { type: pkcs11js.CKA_DECRYPT }, { type: pkcs11js.CKA_UNWRAP }]).map((a) => (a.value as Buffer)[0] === 1);
        });
      expect(await usage('mdmgw-ca')).toEqual([true, false, false]);
      expect(await usage('mdmgw-ra')).toEqual([true, true, false]);
      const ca = new X509Certificate(await readFile(path.join(dir, 'ca.pem')));
      const ra = new X509Certificate(await readFile(path.join(dir, 'ra.pem')));
      expect(ca.checkIssued(ca) && ca.verify(ca.publicKey)).toBe(true);
      expect(ra.verify(ca.publicKey)).toBe(true);
      expect(ca.subject).toContain('O=HSM Test');
    });

    it('decrypts SCEP envelopes with the token RA key: raw RSA (CKM_RSA_X_509) and the CKM_RSA_PKCS fallback', async () => {
      const { ra } = await loadTokenCa(dir, token, (await readKeyRecord(dir))!, { organization: 'HSM Test' });
      const content = Buffer.from('a PKCS#10 request, say');
      for (const rawDecrypt of [true, false]) {
        const key = await tokenKey(token, 'mdmgw-ra', { rawDecrypt });
        for (const cipher of ['aes-128-cbc', 'des-ede3-cbc', 'des-cbc'] as const) {
          const opened = openEnvelope(readEnvelope(sealEnvelope(content, ra.certificate, cipher)), { certificate: ra.certificate, key });
          expect(Buffer.from(opened.content).toString(), `${cipher} raw=${rawDecrypt}`).toBe(content.toString());
        }
      }
    });

    it('an envelope whose wrapped key was tampered with is DECRYPTION_FAILED (both decrypt paths), never a crash', async () => {
      const { ra } = await loadTokenCa(dir, token, (await readKeyRecord(dir))!, { organization: 'HSM Test' });
      for (const rawDecrypt of [true, false]) {
        const key = await tokenKey(token, 'mdmgw-ra', { rawDecrypt });
        const env = readEnvelope(sealEnvelope(Buffer.from('x'.repeat(64)), ra.certificate, 'aes-128-cbc'));
        const ek = Buffer.from(env.recipients[0]!.encryptedKey);
        ek[5] = ek[5]! ^ 0x40;
        env.recipients[0]!.encryptedKey = ek;
        expect(() => openEnvelope(env, { certificate: ra.certificate, key }), `raw=${rawDecrypt}`).toThrow(expect.objectContaining({ code: 'DECRYPTION_FAILED' }));
      }
    });

    it('refuses a second init on the same token (the labels exist) and leaves the existing keys alone', async () => {
      const before = await tokenKeyInfo(token, 'mdmgw-ca');
      await expect(initCaInToken(path.join(work, 'second'), token, { organization: 'x', caKeyBits: 2048 })).rejects.toThrow(/already holds a key labelled "mdmgw-ca"/);
      expect(Buffer.from((await tokenKeyInfo(token, 'mdmgw-ca')).spki)).toEqual(Buffer.from(before.spki));
      expect(await readdir(path.join(work, 'second'))).toEqual([]);
    });

    it('refuses a data directory that already has a CA', async () => {
      await expect(initCaInToken(dir, token, { organization: 'x' })).rejects.toThrow(/already has a CA \(keys.json\)/);
    });

    it('re-certifies the RA key (same key, new certificate) when it is due: at load and while running', async () => {
      const record = (await readKeyRecord(dir))!;
      const first = await loadTokenCa(dir, token, record, { organization: 'HSM Test' });
      expect(first.raReissued).toBe(false);
      // An RA certificate with 20 days left (same key): what a gateway running for ~2 years holds.
      const writeShortRa = async () => {
        const short = await new CertificateAuthority(first.root).issue({
          subject: [{ type: 'CN', value: 'mdm-gateway SCEP RA' }],
          subjectAlternativeNames: [],
          extendedKeyUsages: [],
          keyUsage: ['digitalSignature', 'keyEncipherment'],
          validityDays: 20,
          hashAlgorithm: 'SHA-256',
          spki: readCertificate(first.ra.certificate).spki,
        });
        await writeFile(path.join(dir, 'ra.pem'), toPem(short.der));
        return { certificate: short.der, key: first.ra.key };
      };
      const endOf = (c: Uint8Array) => parseTime(readCertificate(c).notAfter).getTime();

      // At load.
      await writeShortRa();
      const loaded = await loadTokenCa(dir, token, record, { organization: 'HSM Test' });
      expect(loaded.raReissued).toBe(true);
      expect(endOf(loaded.ra.certificate)).toBeGreaterThan(Date.now() + 700 * DAY);

      // While running: the keeper holds the short certificate, the clock reaches its window.
      const short = await writeShortRa();
      const events: string[] = [];
      const keeper = new TokenRaKeeper({ dataDir: dir, root: first.root, organization: 'HSM Test', onEvent: (e) => events.push(e) }, short);
      const other = new TokenRaKeeper({ dataDir: dir, root: first.root, organization: 'HSM Test' }, short);
      const all = await Promise.all(Array.from({ length: 4 }, () => keeper.keys()));
      const renewed = all[0]!.ra;
      expect(events).toEqual(['ra-recertified']); // once for concurrent requests
      for (const k of all) expect(k.ra.certificate).toBe(renewed.certificate);
      expect(endOf(renewed.certificate)).toBeGreaterThan(Date.now() + 700 * DAY);
      expect(readCertificate(renewed.certificate).spki).toEqual(readCertificate(first.ra.certificate).spki);
      expect(await verifyIssuedBy(renewed.certificate, first.root.certificate)).toBe(true);
      expect(new X509Certificate(await readFile(path.join(dir, 'ra.pem'))).raw).toEqual(Buffer.from(renewed.certificate));
      // Not again on the next request: the new certificate is not due.
      await keeper.keys();
      expect(events).toEqual(['ra-recertified']);
      // A second instance on the same directory adopts the new certificate rather than issuing another.
      expect(Buffer.from((await other.keys()).ra.certificate)).toEqual(Buffer.from(renewed.certificate));
      // The token key decrypts what is encrypted to the new certificate.
      const opened = openEnvelope(readEnvelope(sealEnvelope(Buffer.from('after renewal'), renewed.certificate, 'aes-256-cbc')), renewed);
      expect(Buffer.from(opened.content).toString()).toBe('after renewal');
    });
  });

  describe('errors the operator can act on', () => {
    it('a wrong PIN: CKR_PIN_INCORRECT, named', async () => {
      const e = await openToken({ module: SOFTHSM_MODULE, tokenLabel: 'pin-test', pin: '0000' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(TokenError);
      expect((e as TokenError).ckr).toBe('CKR_PIN_INCORRECT');
      expect((e as Error).message).toMatch(/refused the PIN \(CKR_PIN_INCORRECT\)/);
      expect((e as Error).message).not.toContain('0000');
      // The failed open released only its own share of the module: the open token still signs.
      const key = await tokenKey(token, 'sign-test');
      expect(verify('sha256', Buffer.from('still'), spkiKey(key.spki), Buffer.from(await key.sign(Buffer.from('still'), 'sha256')))).toBe(true);
    });

    it('a second open of the open token with another PIN is refused (the process is logged in already)', async () => {
      await expect(openToken({ module: SOFTHSM_MODULE, tokenLabel: 'unit', pin: '4321' })).rejects.toThrow(/already open in this process with another PIN/);
      const again = await openToken({ module: SOFTHSM_MODULE, tokenLabel: 'unit', pin: hsm.pin });
      expect(again).toBe(token);
      again.close(); // one share released; `token` stays open
      expect((await tokenKeyInfo(token, 'sign-test')).algorithm).toBe('RSA');
    });

    it('an unknown token label lists the labels there are; a missing module is named', async () => {
      await expect(openToken({ module: SOFTHSM_MODULE, tokenLabel: 'nope', pin: '1234' })).rejects.toThrow(/no PKCS#11 token labelled "nope".*"unit"/);
      await expect(openToken({ module: '/nonexistent/libpkcs11.so', tokenLabel: 'unit', pin: '1234' })).rejects.toThrow('PKCS#11 module /nonexistent/libpkcs11.so not found or not readable (MDMGW_PKCS11_MODULE)');
    });

    it('a missing key label says to run ca init', async () => {
      await expect(tokenKey(token, 'no-such-key')).rejects.toThrow(/has no private key labelled "no-such-key": run `mdmgw ca init --pkcs11`/);
    });

    it('a key destroyed under a running gateway fails its signature with a TokenError, not a crash', async () => {
      await generateTokenRsaKey(token, 'doomed', 2048, { decrypt: true });
      const key = await tokenKey(token, 'doomed');
      await destroyTokenKey(token, 'doomed');
      await expect(key.sign(Buffer.from('x'), 'sha256')).rejects.toThrow(TokenError);
      expect(() => key.decryptRaw!(new Uint8Array(256))).toThrow(TokenError);
    });

    it('sessions closed by the token or a logout: the next operation opens a session and logs in again', async () => {
      const key = await tokenKey(token, 'sign-test');
      const slot = await token.withSession('slot', (s) => token.api.C_GetSessionInfo(s).slotID);
      token.api.C_CloseAllSessions(slot); // what an HSM restart or a network drop does to our handles
      const sig = await key.sign(Buffer.from('after'), 'sha256');
      expect(verify('sha256', Buffer.from('after'), spkiKey(key.spki), Buffer.from(sig))).toBe(true);
      await token.withSession('logout', (s) => token.api.C_Logout(s));
      const sig2 = await key.sign(Buffer.from('again'), 'sha256');
      expect(verify('sha256', Buffer.from('again'), spkiKey(key.spki), Buffer.from(sig2))).toBe(true);
    });

    it('a PIN file readable by others is refused; a private one is read (trailing newline dropped)', async () => {
      const file = path.join(work, 'pin');
      await writeFile(file, '1234\n');
      await chmod(file, 0o644);
      const settings = { pkcs11Module: SOFTHSM_MODULE, pkcs11TokenLabel: 'unit', pkcs11Slot: undefined, pkcs11Pin: undefined, pkcs11PinFile: file };
      await expect(tokenOptionsFrom(settings)).rejects.toThrow(/readable by other users \(mode 644\): chmod 600/);
      await chmod(file, 0o600);
      expect((await tokenOptionsFrom(settings)).pin).toBe('1234');
    });

    it('serve refuses to guess: keys.json without MDMGW_PKCS11_*, a token configured over key files or over no CA', async () => {
      const none = { pkcs11Module: undefined, pkcs11TokenLabel: undefined, pkcs11Slot: undefined, pkcs11Pin: undefined, pkcs11PinFile: undefined };
      const configured = { ...none, pkcs11Module: SOFTHSM_MODULE, pkcs11TokenLabel: 'unit', pkcs11Pin: '1234' };
      const opts = { organization: 'x' };
      await expect(openCaKeys(path.join(work, 'ca'), none, opts)).rejects.toThrow(/are in a PKCS#11 token \(keys.json\): set MDMGW_PKCS11_MODULE/);
      const files = path.join(work, 'files');
      await loadOrCreateCaMaterial(files);
      await expect(openCaKeys(files, configured, opts)).rejects.toThrow(/is a file \(ca.key\): keys do not move into a token/);
      const empty = path.join(work, 'empty');
      await mkdir(empty);
      await expect(openCaKeys(empty, configured, opts)).rejects.toThrow(/no CA in .*mdmgw ca init --pkcs11/);
      expect(await readdir(empty)).toEqual([]);
      const ok = await openCaKeys(path.join(work, 'ca'), configured, opts);
      expect(ok.token).not.toBeNull();
      ok.close();
    });
  });
});
