import 'reflect-metadata';
import { X509Certificate, createHash, randomBytes, randomUUID } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { build, parse } from 'plist';
import { getCaCerts, scepEnroll, type DeviceKey, type SimSan } from './scep-client.js';

// Plays an Apple device against the gateway over real HTTP: installs the
// enrollment profile (verifying its CMS signature and signer chain), enrolls
// its identity certificate over SCEP from the profile's SCEP payload, signs
// every check-in and connect body with that identity (Mdm-Signature, detached
// CMS), and executes InstallProfile (verify, parse, real key generation and
// SCEP enrollment with the payload's URL, challenge, subject, SANs and key
// usage), RemoveProfile, ProfileList and CertificateList.

type Dict = Record<string, any>;

const OID_NAMES: Record<string, string> = {
  '1.2.840.113549.1.9.1': 'E',
  '2.5.4.5': 'SERIALNUMBER',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/** Apple's nested Subject array to the "CN=x, O=y" string the SCEP client takes. */
export function subjectString(subject: string[][][]): string {
  return subject.map((rdn) => rdn.map(([t, v]) => `${OID_NAMES[t!] ?? t}=${v!.replace(/([,+=\\"<>;])/g, '\\$1')}`).join('+')).join(', ');
}

function sansOf(dict: Dict | undefined): SimSan[] {
  if (!dict) return [];
  const map: Record<string, SimSan['type']> = { rfc822Name: 'email', dNSName: 'dns', uniformResourceIdentifier: 'uri', ntPrincipalName: 'upn' };
  return Object.entries(dict).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((value: string) => ({ type: map[k]!, value })));
}

function keyUsageFlags(bits: number | undefined): x509.KeyUsageFlags | undefined {
  if (!bits) return undefined;
  return (bits & 1 ? x509.KeyUsageFlags.digitalSignature : 0) | (bits & 4 ? x509.KeyUsageFlags.keyEncipherment : 0);
}

/** Verifies an attached CMS SignedData and that its signer chains to `root`; returns the content. */
export async function openSignedProfile(der: Uint8Array, rootPem: string | null): Promise<{ content: Uint8Array; signer: X509Certificate }> {
  const ci = new pkijs.ContentInfo({ schema: asn1js.fromBER(der).result });
  const sd = new pkijs.SignedData({ schema: ci.content });
  const content = new Uint8Array(sd.encapContentInfo.eContent!.getValue());
  const ok = await sd.verify({ signer: 0, checkChain: false, data: content.buffer as ArrayBuffer });
  if (!ok) throw new Error('profile signature does not verify');
  const certs = (sd.certificates ?? []).filter((c): c is pkijs.Certificate => c instanceof pkijs.Certificate).map((c) => new X509Certificate(Buffer.from(c.toSchema().toBER())));
  const sid = sd.signerInfos[0]!.sid as pkijs.IssuerAndSerialNumber;
  const serial = Buffer.from(sid.serialNumber.valueBlock.valueHexView).toString('hex').replace(/^0+/, '').toUpperCase();
  const signer = certs.find((c) => c.serialNumber.replace(/^0+/, '').toUpperCase() === serial);
  if (!signer) throw new Error('no signer certificate in the profile');
  if (rootPem) {
    const root = new X509Certificate(rootPem);
    if (!signer.checkIssued(root) || !signer.verify(root.publicKey)) throw new Error('profile signer is not issued by the trusted root');
  }
  return { content, signer };
}

export interface InstalledProfile {
  identifier: string;
  uuid: string;
  profile: Dict;
  certificate?: Uint8Array;
}

export interface SimBehaviour {
  /** Answer NotNow to the first InstallProfile. */
  notNowOnce?: boolean;
  /** Answer Error with this ErrorChain to InstallProfile instead of installing. */
  failInstallWith?: Dict[];
  /** The re-delivered enrollment profile (identity renewal): enroll the new identity but fail to install the profile (Error; keep the old identity). */
  failIdentityInstall?: boolean;
}

export class AppleDeviceSim {
  readonly udid = randomUUID().toUpperCase();
  readonly serial = `SIM${randomBytes(4).toString('hex').toUpperCase()}`;
  /** The DeviceName Authenticate reports (iOS): unique per simulator, as real device names mostly are; a test may claim another's. */
  deviceName = `Sim iPhone ${this.serial.slice(3)}`;
  readonly token = randomBytes(32);
  readonly pushMagic = randomUUID().toUpperCase();
  identity?: { certificate: Uint8Array; key: DeviceKey };
  enrollment?: { mdm: Dict; scep: Dict; rootPem: string; signer: X509Certificate; profileIdentifier: string };
  /** Identities this device held before a renewal replaced them (oldest first). */
  previousIdentities: { certificate: Uint8Array; key: DeviceKey }[] = [];
  installed = new Map<string, InstalledProfile>();
  log: { request: string; response: string }[] = [];
  behaviour: SimBehaviour = {};
  private notNowDone = false;
  /** Set when the server removed the MDM enrollment profile: the device is unmanaged and sends CheckOut (CheckOutWhenRemoved). */
  mdmRemoved = false;
  /** The HTTP status the gateway answered that CheckOut with. */
  checkOutStatus: number | null = null;
  /** Trusted roots (SHA-1 hex -> certificate): the enrollment profile's, then every com.apple.security.root payload installed. */
  readonly trustedRoots = new Map<string, X509Certificate>();
  /** What happened, in order: `root:<sha1>` when a root is newly trusted, `cert:<issuing root sha1 | untrusted>` when a profile's certificate is enrolled. */
  readonly events: string[] = [];

  constructor(
    readonly baseUrl: string,
    readonly platform: 'ios' | 'macos' = 'ios',
  ) {}

  /** GET the enrollment profile, verify it, enroll the identity certificate over SCEP. */
  async enroll(enrollmentUrl: string): Promise<void> {
    const res = await fetch(enrollmentUrl);
    if (res.status !== 200) throw new Error(`enroll: HTTP ${res.status} ${await res.text()}`);
    if (res.headers.get('content-type') !== 'application/x-apple-aspen-config') throw new Error(`enroll: content-type ${res.headers.get('content-type')}`);
    const der = new Uint8Array(await res.arrayBuffer());
    const { content, signer } = await openSignedProfile(der, null);
    const profile = parse(Buffer.from(content).toString('utf8')) as Dict;
    const byType = (t: string) => (profile.PayloadContent as Dict[]).find((p) => p.PayloadType === t)!;
    const root = byType('com.apple.security.root');
    const rootPem = new X509Certificate(Buffer.from(root.PayloadContent)).toString();
    // The device trusts the root from the profile; the signer must chain to it to show "Verified".
    if (!signer.checkIssued(new X509Certificate(rootPem))) throw new Error('enrollment profile signer does not chain to its root payload');
    const scep = byType('com.apple.security.scep');
    const mdm = byType('com.apple.mdm');
    if (mdm.IdentityCertificateUUID !== scep.PayloadUUID) throw new Error('IdentityCertificateUUID does not name the SCEP payload');
    const cert = await this.scep(scep.PayloadContent);
    this.identity = cert;
    this.enrollment = { mdm, scep, rootPem, signer, profileIdentifier: profile.PayloadIdentifier };
    for (const p of (profile.PayloadContent as Dict[]).filter((x) => x.PayloadType === 'com.apple.security.root')) this.trust(p.PayloadContent);
  }

  /**
   * InstallProfile of the enrollment profile itself (same PayloadIdentifier):
   * an update of the MDM payload, which must keep Topic and ServerURL; its
   * SCEP payload is the new identity, which then signs every message.
   */
  private async replaceEnrollment(profile: Dict): Promise<Dict> {
    const byType = (t: string) => (profile.PayloadContent as Dict[]).find((p) => p.PayloadType === t);
    const mdm = byType('com.apple.mdm');
    const scep = byType('com.apple.security.scep');
    const refuse = (why: string) => ({ Status: 'Error', ErrorChain: [{ ErrorCode: 4001, ErrorDomain: 'MCMDMErrorDomain', LocalizedDescription: why, USEnglishDescription: why }] });
    if (!mdm || !scep || mdm.IdentityCertificateUUID !== scep.PayloadUUID) return refuse('the MDM payload does not name its SCEP identity');
    if (mdm.Topic !== this.enrollment!.mdm.Topic || mdm.ServerURL !== this.enrollment!.mdm.ServerURL) return refuse('an MDM payload update may not change Topic or ServerURL');
    let identity: { certificate: Uint8Array; key: DeviceKey };
    try {
      identity = await this.scep(scep.PayloadContent);
    } catch (e) {
      return refuse((e as Error).message);
    }
    if (this.behaviour.failIdentityInstall) return refuse('the profile could not be installed');
    this.previousIdentities.push(this.identity!);
    this.identity = identity;
    this.enrollment = { ...this.enrollment!, mdm, scep };
    this.installed.set(profile.PayloadIdentifier, { identifier: profile.PayloadIdentifier, uuid: profile.PayloadUUID, profile, certificate: identity.certificate });
    return { Status: 'Acknowledged' };
  }

  private trust(der: Uint8Array): void {
    const root = new X509Certificate(Buffer.from(der));
    const sha1 = root.fingerprint.replace(/:/g, '');
    if (this.trustedRoots.has(sha1)) return;
    this.trustedRoots.set(sha1, root);
    this.events.push(`root:${sha1}`);
  }

  /** SHA-1 of the trusted root that signed `certificate`, if any. */
  trustedIssuerOf(certificate: Uint8Array): string | null {
    const cert = new X509Certificate(certificate);
    for (const [sha1, root] of this.trustedRoots) if (cert.checkIssued(root) && cert.verify(root.publicKey)) return sha1;
    return null;
  }

  private async scep(p: Dict): Promise<{ certificate: Uint8Array; key: DeviceKey }> {
    if (p.CAFingerprint) {
      // Any certificate of the chain (a subordinate CA's GetCACert ends at the root the fingerprint names).
      const { all } = await getCaCerts(p.URL);
      if (!all.some((c) => createHash('sha1').update(c).digest().equals(Buffer.from(p.CAFingerprint!)))) throw new Error('CAFingerprint does not match the CA from GetCACert');
    }
    const r = await scepEnroll({
      scepUrl: p.URL,
      challenge: p.Challenge,
      subject: subjectString(p.Subject),
      sans: sansOf(p.SubjectAltName),
      keyAlgorithm: 'RSA',
      keySize: p.Keysize,
      ...(keyUsageFlags(p['Key Usage']) !== undefined && { keyUsage: keyUsageFlags(p['Key Usage'])! }),
    });
    if (r.status !== 'SUCCESS' || !r.certificate) throw Object.assign(new Error(`SCEP ${r.status} ${r.failInfo ?? ''} ${r.failInfoText ?? ''}`), { scep: r });
    return { certificate: r.certificate, key: r.key };
  }

  /** Detached CMS over the body, signed with the identity key (what Mdm-Signature carries). */
  async sign(body: Uint8Array, as = this.identity): Promise<string> {
    if (!as) throw new Error('no identity');
    const cert = pkijs.Certificate.fromBER(as.certificate);
    const digest = createHash('sha256').update(body).digest();
    const signerInfo = new pkijs.SignerInfo({
      version: 1,
      sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
      signedAttrs: new pkijs.SignedAndUnsignedAttributes({
        type: 0,
        attributes: [
          new pkijs.Attribute({ type: '1.2.840.113549.1.9.3', values: [new asn1js.ObjectIdentifier({ value: '1.2.840.113549.1.7.1' })] }),
          new pkijs.Attribute({ type: '1.2.840.113549.1.9.5', values: [new asn1js.UTCTime({ valueDate: new Date() })] }),
          new pkijs.Attribute({ type: '1.2.840.113549.1.9.4', values: [new asn1js.OctetString({ valueHex: digest })] }),
        ],
      }),
    });
    const sd = new pkijs.SignedData({
      version: 1,
      encapContentInfo: new pkijs.EncapsulatedContentInfo({ eContentType: '1.2.840.113549.1.7.1' }),
      signerInfos: [signerInfo],
      certificates: [cert],
    });
    await sd.sign(as.key.keys.privateKey as unknown as Parameters<pkijs.SignedData["sign"]>[0], 0, 'SHA-256', body);
    const ci = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) });
    return Buffer.from(ci.toSchema().toBER()).toString('base64');
  }

  async put(url: string, msg: Dict, opts: { sign?: boolean; tamper?: boolean; contentType?: string } = {}): Promise<Response> {
    const body = new Uint8Array(Buffer.from(build(msg), 'utf8'));
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/x-apple-aspen-mdm-checkin' };
    if (opts.sign !== false) headers['Mdm-Signature'] = await this.sign(body);
    const sent = opts.tamper ? new Uint8Array(Buffer.from(build({ ...msg, UDID: 'TAMPERED' }), 'utf8')) : body;
    return fetch(url, { method: 'PUT', headers, body: sent });
  }

  checkin(msg: Dict, opts?: Parameters<AppleDeviceSim['put']>[2]): Promise<Response> {
    return this.put(this.enrollment!.mdm.CheckInURL, { Topic: this.enrollment!.mdm.Topic, UDID: this.udid, ...msg }, opts);
  }

  authenticateMessage(): Dict {
    const base: Dict = { MessageType: 'Authenticate', Topic: this.enrollment!.mdm.Topic, UDID: this.udid, SerialNumber: this.serial, OSVersion: this.platform === 'ios' ? '18.1' : '15.1', BuildVersion: '22B83' };
    return this.platform === 'ios' ? { ...base, DeviceName: this.deviceName, Model: 'iPhone16,1', ModelName: 'iPhone', ProductName: 'iPhone16,1' } : { ...base, Model: 'Mac15,3', ProductName: 'Mac15,3' };
  }

  tokenUpdateMessage(userId?: string): Dict {
    const m: Dict = { MessageType: 'TokenUpdate', Topic: this.enrollment!.mdm.Topic, UDID: this.udid, Token: this.token, PushMagic: this.pushMagic, NotOnConsole: false, UnlockToken: randomBytes(16) };
    if (userId) Object.assign(m, { UserID: userId, UserShortName: 'lin', UserLongName: 'Lin Chen', Token: createHash('sha256').update(this.token).update(userId).digest() });
    return m;
  }

  authenticate() {
    return this.checkin(this.authenticateMessage());
  }
  tokenUpdate(userId?: string) {
    return this.checkin(this.tokenUpdateMessage(userId));
  }
  checkout() {
    return this.checkin({ MessageType: 'CheckOut' });
  }

  /** One connect round trip: the command the server answers with, or null for an empty body. */
  async connect(msg: Dict, userId?: string): Promise<Dict | null> {
    const res = await this.put(this.enrollment!.mdm.ServerURL, { UDID: this.udid, ...(userId && { UserID: userId }), ...msg });
    if (res.status !== 200) throw new Error(`connect: HTTP ${res.status} ${await res.text()}`);
    const text = await res.text();
    return text ? (parse(text) as Dict) : null;
  }

  /** Idle, then execute commands until the server has nothing more. Returns the commands seen. */
  async drain(userId?: string): Promise<Dict[]> {
    const seen: Dict[] = [];
    let cmd = await this.connect({ Status: 'Idle' }, userId);
    while (cmd) {
      seen.push(cmd);
      const answer = await this.execute(cmd);
      cmd = await this.connect({ CommandUUID: cmd.CommandUUID, ...answer }, userId);
    }
    if (this.mdmRemoved && this.checkOutStatus === null) this.checkOutStatus = (await this.checkout()).status;
    return seen;
  }

  async execute(cmd: Dict): Promise<Dict> {
    const c = cmd.Command as Dict;
    switch (c.RequestType) {
      case 'InstallProfile': {
        if (this.behaviour.notNowOnce && !this.notNowDone) {
          this.notNowDone = true;
          return { Status: 'NotNow' };
        }
        if (this.behaviour.failInstallWith) return { Status: 'Error', ErrorChain: this.behaviour.failInstallWith };
        // The signature must verify; a signer that chains to no trusted root only makes the profile "Not Verified" (MDM installs it anyway).
        const { content } = await openSignedProfile(c.Payload, null);
        const profile = parse(Buffer.from(content).toString('utf8')) as Dict;
        if (profile.PayloadIdentifier === this.enrollment!.profileIdentifier) return this.replaceEnrollment(profile);
        let certificate: Uint8Array | undefined;
        // Certificate payloads first (as iOS installs them), then the SCEP payloads.
        for (const p of profile.PayloadContent as Dict[]) if (p.PayloadType === 'com.apple.security.root') this.trust(p.PayloadContent);
        for (const p of profile.PayloadContent as Dict[]) {
          if (p.PayloadType !== 'com.apple.security.scep') continue;
          try {
            certificate = (await this.scep(p.PayloadContent)).certificate;
          } catch (e) {
            return { Status: 'Error', ErrorChain: [{ ErrorCode: 22013, ErrorDomain: 'MCSCEPErrorDomain', LocalizedDescription: (e as Error).message, USEnglishDescription: (e as Error).message }] };
          }
          this.events.push(`cert:${this.trustedIssuerOf(certificate) ?? 'untrusted'}`);
        }
        this.installed.set(profile.PayloadIdentifier, { identifier: profile.PayloadIdentifier, uuid: profile.PayloadUUID, profile, ...(certificate && { certificate }) });
        return { Status: 'Acknowledged' };
      }
      case 'RemoveProfile':
        if (c.Identifier === this.enrollment!.profileIdentifier) {
          // Removing the MDM profile removes every managed profile with it.
          this.installed.clear();
          this.mdmRemoved = true;
          return { Status: 'Acknowledged' };
        }
        if (!this.installed.delete(c.Identifier)) return { Status: 'Error', ErrorChain: [{ ErrorCode: 1000, ErrorDomain: 'MCProfileErrorDomain', USEnglishDescription: 'profile not found' }] };
        return { Status: 'Acknowledged' };
      case 'ProfileList':
        return { Status: 'Acknowledged', ProfileList: [...this.installed.values()].map((p) => ({ PayloadIdentifier: p.identifier, PayloadUUID: p.uuid, PayloadVersion: 1, IsManaged: true })) };
      case 'CertificateList': {
        const certs = [this.identity!.certificate, ...[...this.installed.values()].flatMap((p) => (p.certificate ? [p.certificate] : []))];
        return { Status: 'Acknowledged', CertificateList: certs.map((d) => ({ CommonName: new X509Certificate(d).subject.split('\n').find((l) => l.startsWith('CN='))?.slice(3) ?? '', Data: d, IsIdentity: true })) };
      }
      default:
        return { Status: 'CommandFormatError' };
    }
  }
}


