import type { ComponentHealth } from './health.js';
import type { IncomingMessage } from 'node:http';
import type { Request, RequestHandler, Router } from 'express';
import type { Logger } from '../log.js';
import type { Delivery } from './delivery.js';
import type { ConsumeFailure } from './enrollment-tokens.js';
import type { Refusal } from './reasons.js';
import type { CommandStatus, DeliveryState, Device, DeviceCommand, EnrollmentToken, IssuedCertificate, Platform, User } from './model.js';
import type { ReportedValues } from './reported-values.js';
import type { DevicePatch } from './storage/storage.js';
import type { PlanGenerations } from './storage/plan-generation-store.js';

// The adapter contract: the one door between a platform adapter and core.
// An adapter is handed a device's prepared deliveries (profile, resolved
// request, freshly minted challenge, chosen SCEP URL, trusted root) and turns
// each into its platform's payload; it mounts its own enrollment and check-in
// routes and reports back what the device did. Adapters import from core only
// through this file and the model types, never from each other.
// See docs/adapters.md.

/** A delivery that is ready to render (the ok branch of core/delivery.ts). */
export type ReadyDelivery = Extract<Delivery, { ok: true }>;

export type { DeliveryState, Refusal };

/** What a device said about one profile, recorded and shown in the admin API. */
export interface DeliveryReport {
  profileId: string;
  profileVersion: number;
  state: DeliveryState;
  /** SHA-1 thumbprint of the installed certificate (hex), when installed. */
  thumbprint?: string;
  /** The platform's own error code, when failed (e.g. Windows HRESULT, Apple ErrorChain code). */
  errorCode?: string;
  detail?: string;
}

export interface IdentityChallenge {
  challenge: string;
  scepUrl: string;
  /** RFC 4514-style subject the CSR must carry, e.g. `CN=<device id>,O=mdm-gateway device identity`. */
  subject: string;
  subjectRdns: { type: string; value: string }[];
  /** The RSA key size the identity policy requires: what the payload asks the device to generate. */
  keySize: number;
  expiresAt: Date;
}

/** Why redeemEnrollmentToken refused, beside the token's own verdict (ConsumeFailure). */
export type RedeemFailure =
  | { ok: false; reason: ConsumeFailure; token?: EnrollmentToken }
  /** The token names a device that was deleted since. */
  | { ok: false; reason: 'device-missing'; token: EnrollmentToken }
  /** The token names a device an administrator blocked: it may not enroll again until unblocked. */
  | { ok: false; reason: 'device-blocked'; token: EnrollmentToken; device: Device }
  /** The adapter's userMatches said the token's user is not the one enrolling (Windows compares the UPN). */
  | { ok: false; reason: 'user-mismatch'; token: EnrollmentToken; user: User | null };

/** The adapter's own pre-spend check refused (e.g. the CSR precheck); carries its refusal as it gave it. */
export interface RedeemCheckRefusal<R> {
  ok: false;
  reason: 'check';
  token: EnrollmentToken;
  refusal: R;
}

export interface RedeemOptions<R> {
  /** Platforms the token may be for, tried in order (default: the adapter's platforms). */
  platforms?: readonly Platform[];
  /**
   * When the token (or its device) names a user: whether that user is the one
   * enrolling. Not called for a token without a user.
   */
  userMatches?(user: User | null, token: EnrollmentToken): boolean | Promise<boolean>;
  /**
   * The adapter's last check before the token is spent (the CSR precheck, a
   * hardware binding). `device` is the token's device, if it names one.
   * Return `{ refuse }` to refuse with nothing spent or created, or
   * `{ device }` to enroll as another existing device (Windows re-enrollment).
   */
  check?(c: { token: EnrollmentToken; device: Device | null; userId: string | null }): Promise<{ refuse: R } | { device?: Device | null } | void>;
  /** What the device says about itself: recorded on the device found, or the one created. */
  reported?: ReportedValues;
}

export interface Redeemed {
  ok: true;
  /** The spent token. */
  token: EnrollmentToken;
  device: Device;
  /** Whether the device record was made by this enrollment. */
  created: boolean;
  /** The token's user, else its device's. */
  userId: string | null;
}

export interface IssuedIdentity {
  certificate: Uint8Array;
  serialNumber: string;
  thumbprint: string;
  transactionId: string;
}

/** Services core offers every adapter. State and settings are scoped to the adapter's name. */
export interface AdapterServices {
  log: Logger;
  /** The gateway's public base URL (MDMGW_PUBLIC_URL), for URLs in payloads. */
  publicUrl: string;
  /** The gateway's own SCEP URL. */
  scepUrl: string;
  /** Our root CA certificate (DER and PEM). */
  caCertificate: Uint8Array;
  /** During a CA rollover: every root still in use, the current one first (PEM bundle). */
  caCertificatePem: string;
  /**
   * The id (hex subject key identifier) of the CA that issues now. A
   * certificate whose IssuedCertificate.issuerId differs was signed by a
   * retired CA: re-issue it once the device holds the current root
   * (core/ca-rollover.ts).
   */
  currentCaId: string;
  /** Ids of the other CAs that issue now (profiles naming another CA, ca/registry.ts): their certificates are not a retired CA's. */
  activeCaIds?: ReadonlySet<string>;

  /** The gateway's clock (tests move it); an adapter's own `now` option overrides it for that adapter. */
  now(): Date;
  /**
   * Middleware: verifies the device identity certificate (TLS or trusted proxy
   * header); sets res.locals.device, else answers 401, 403 for a blocked
   * device or a device of a platform this adapter does not serve, 400 for
   * more than one proxy certificate header.
   */
  authenticateDevice: RequestHandler;
  /**
   * The device whose identity certificate this request presents (TLS client
   * certificate or the trusted proxy header), when one is presented and
   * verifies (ours, unexpired, unrevoked); null otherwise. Never answers the
   * request: for routes where the certificate is optional (Windows re-enrollment).
   */
  presentedDevice(req: Request | IncomingMessage): Promise<{ device: Device; thumbprint: string; planGenerations?: PlanGenerations } | null>;
  /**
   * Verifies a device identity certificate given directly (e.g. Apple's
   * Mdm-Signature header). `blocked`: it is a device's, but an administrator
   * blocked the device (answer 403).
   */
  verifyDeviceCertificate(der: Uint8Array): Promise<{ ok: true; device: Device; planGenerations?: PlanGenerations } | { ok: false; reason: string; blocked: boolean }>;

  /**
   * Enrollment-token redemption, in the one safe order: look at the token
   * (unknown, used, expired, platform), check the device it names exists and
   * is not blocked, the user hook, the adapter's `check`; only then spend it
   * (a concurrent request may win: its verdict is returned), and find or
   * create the device with the reported values. Any refusal leaves the token
   * unspent and no device made.
   */
  redeemEnrollmentToken<R = never>(token: string, o?: RedeemOptions<R>): Promise<Redeemed | RedeemFailure | RedeemCheckRefusal<R>>;
  /**
   * A one-time SCEP challenge for the device identity certificate. With
   * `renewalOf` (the serial of the device's current identity): the identity
   * issued with it is a renewal of that one (Apple's re-delivered identity),
   * so the current one stays accepted until the new one is used.
   */
  identityChallenge(device: Device, o?: { renewalOf?: string }): Promise<IdentityChallenge>;
  /**
   * What issueIdentityCertificate would decide from the CSR alone (parses,
   * signature, key policy), without issuing or recording anything: run it
   * before spending a token or making a device record. null: it would pass.
   */
  precheckIdentityCsr(csrDer: Uint8Array): Promise<Refusal | null>;
  /**
   * Issues the device identity certificate from a CSR the enrollment protocol
   * carried (MS-WSTEP). Every refusal (a CA failure is INTERNAL_ERROR) is
   * audited as `identity.refused` and returned, never thrown.
   */
  issueIdentityCertificate(device: Device, csrDer: Uint8Array): Promise<{ ok: true; identity: IssuedIdentity } | { ok: false; refusal: Refusal }>;
  /**
   * Renews the device identity `currentSerial` (the certificate the request
   * was authenticated with) from a new CSR: this device's, unrevoked,
   * unexpired, inside its renewal period (RENEWAL_NOT_DUE otherwise); the CSR
   * passes the IdentityReq row and has the subject of the CSR the current
   * identity came from. Audited and returned like issueIdentityCertificate.
   * The current identity is revoked (superseded) once the new one is used.
   */
  renewIdentityCertificate(device: Device, csrDer: Uint8Array, currentSerial: string): Promise<{ ok: true; identity: IssuedIdentity } | { ok: false; refusal: Refusal }>;

  /**
   * Device records. Name and serial number are the admin's: an adapter never
   * writes them. What the device says about itself goes to `reported`
   * (create's `reported`, or report), where a value that collides with another
   * device's is flagged and kept out of certificates (core/reported-values.ts).
   */
  devices: {
    get(id: string): Promise<Device | null>;
    /** A device an enrollment made: no admin name or serial. */
    create(d: { platform: Platform; userId: string | null; reported?: ReportedValues }): Promise<Device>;
    update(id: string, patch: Omit<DevicePatch, 'name' | 'serialNumber'>): Promise<Device | null>;
    /** Records what the device reported about itself (undefined fields are left as they were); returns the device as stored. */
    report(device: Device, values: ReportedValues): Promise<Device>;
  };
  users: { get(id: string): Promise<User | null> };
  /** Certificates this gateway issued (read-only), e.g. to time renewals from the real notAfter. */
  certificates: {
    byThumbprint(thumbprint: string): Promise<IssuedCertificate | null>;
    list(filter: { deviceId: string; profileId?: string }): Promise<IssuedCertificate[]>;
  };

  /**
   * Resolves the device's assigned profiles and mints one challenge per
   * deliverable profile; `only` limits it to some profiles (e.g. the one
   * command about to be sent). Unassigned ids are simply absent from the answer.
   */
  deliveriesFor(device: Device, only?: { profileIds: readonly string[] }): Promise<Delivery[]>;
  /**
   * The device's plan generations (core/plan-generation.ts): change after
   * every write that may change this device's deliveries. Read them before the
   * inputs of an answer kept in a CheckinCache (core/checkin-cache.ts), and key
   * the answer by them. `read`: the generations this request's identity check
   * returned (presentedDevice, verifyDeviceCertificate), so no read of their own.
   */
  planGeneration(deviceId: string, read?: PlanGenerations): Promise<string>;
  /**
   * Records a per-profile result; the admin API shows the latest per device
   * and profile. `removed` also confirms a pending removal: the certificates
   * of a profile that no longer reaches the device are revoked now.
   */
  report(device: Device, report: DeliveryReport): Promise<void>;
  /** report() for several of one device, their statuses and audit records written in one transaction (issue 13). */
  reportAll(device: Device, reports: readonly DeliveryReport[]): Promise<void>;
  /**
   * reportAll() with the adapter's state for the device written in the same
   * transaction, compare-and-set on `expectedVersion` (state.putIfVersion):
   * false, and nothing written, when another writer got there first (issue 13).
   */
  reportAllWithState(device: Device, reports: readonly DeliveryReport[], state: Record<string, unknown>, expectedVersion: number): Promise<boolean>;
  /**
   * The device left management (Apple CheckOut, the Windows unenroll alert,
   * the Android agent's unenroll call): every certificate issued for it is
   * revoked (cessationOfOperation) and audited as `device.unenrolled`.
   * Returns the serials revoked. The device record stays; it may enroll again.
   */
  unenrolled(device: Device, detail: string): Promise<string[]>;

  /** The device command queue (one in flight per channel). */
  commands: {
    enqueue(c: Pick<DeviceCommand, 'deviceId' | 'channel' | 'kind' | 'payload' | 'profileId' | 'profileVersion'>): Promise<DeviceCommand>;
    next(deviceId: string, channel: string, skip?: string[]): Promise<DeviceCommand | null>;
    update(id: string, deviceId: string, status: CommandStatus, result: Record<string, unknown> | null): Promise<DeviceCommand | null>;
    list(deviceId: string, status?: CommandStatus): Promise<DeviceCommand[]>;
    /** The command next() would take, without taking it: one read, no write, no transaction (a kept Idle asks only this). */
    peek(deviceId: string, channel: string, skip?: string[]): Promise<DeviceCommand | null>;
    /**
     * What one exchange with the device writes (the answer to a command, the
     * next command marked sent, cancellations and follow-ups, the adapter's
     * state, delivery reports and audit records) in one transaction, all or
     * nothing (issue 13). The reports then have their consequences, as
     * reportAll's. false: the command to send was no longer in the status
     * peek() read (taken or answered meanwhile), and nothing was written.
     */
    exchange(device: Device, x: CommandExchangeWrites): Promise<boolean>;
  };
  /**
   * Runs `fn` as the only writer of this device's state and command queue, in
   * every gateway instance on the database (core/device-lock.ts). Take it at
   * request entry points; not re-entrant.
   */
  deviceLock<T>(deviceId: string, fn: () => Promise<T>): Promise<T>;
  /**
   * deviceLock's in-process layer alone, without the shared lease: for a
   * handler whose only shared write is its state, written compare-and-set with
   * state.putIfVersion (core/device-lock.ts versionedStateWriter).
   */
  localDeviceLock<T>(deviceId: string, fn: () => Promise<T>): Promise<T>;
  /** Per-device protocol state (push tokens, DevInfo, agent facts) for this adapter. */
  state: {
    get(deviceId: string): Promise<Record<string, unknown> | null>;
    put(deviceId: string, state: Record<string, unknown>): Promise<void>;
    /** The state with its version (0 and null when there is none). */
    getVersioned(deviceId: string): Promise<{ state: Record<string, unknown> | null; version: number }>;
    /** Writes only if the version is still `expectedVersion`; false when another writer came first. */
    putIfVersion(deviceId: string, state: Record<string, unknown>, expectedVersion: number): Promise<boolean>;
  };
  /**
   * Gateway-wide settings for this adapter. Keys starting with `secret.` are
   * refused (the promise rejects): that namespace is the secrets', below.
   */
  settings: {
    get(key: string): Promise<string | null>;
    put(key: string, value: string): Promise<void>;
  };
  /**
   * Gateway-wide secrets for this adapter (e.g. the APNs push key): stored
   * sealed with AES-256-GCM under DATA/secrets.key, so the database alone does
   * not reveal them.
   */
  secrets: {
    get(key: string): Promise<string | null>;
    put(key: string, value: string): Promise<void>;
    /** Seals a value the adapter keeps elsewhere (e.g. a live challenge in its per-device state), under the same key. */
    seal(value: string): string;
    /** Opens a sealed value; null when it does not open (not sealed, or sealed under another key). */
    open(sealed: string): string | null;
  };
  /**
   * CMS SignedData (DER) with the content attached, signed by the gateway's
   * profile-signing certificate (issued by our CA; chain included). For signed
   * configuration profiles.
   */
  signAttached(content: Uint8Array): Promise<Uint8Array>;
  /**
   * Verifies a base64 CMS SignedData with the content detached over `content`
   * (one signer, its certificate included; signed attributes optional). Only
   * proves the signer's key signed it: whether the signer is one of our
   * devices is verifyDeviceCertificate's question. `label` names the
   * signature in the reasons (e.g. `Mdm-Signature`). Never throws.
   */
  verifyDetachedSignature(base64: string, content: Uint8Array, label?: string): { ok: true; signerCertificate: Uint8Array } | { ok: false; reason: string };
  /**
   * Opens a CMS SignedData with its content attached (one signer, its
   * certificate included, signed attributes as SCEP requires them) and
   * verifies the signature: the content and the signer's certificate, or why
   * not. Only proves the key of that certificate signed it (Windows' WSTEP
   * renewal PKCS#7); whose certificate it is, is the caller's question. Never throws.
   */
  openSignedContent(der: Uint8Array): { ok: true; content: Uint8Array; signerCertificate: Uint8Array } | { ok: false; reason: string };
  /** An audit event, actor `device:<id>` or `adapter:<name>`. */
  audit(type: string, details: Record<string, unknown>, opts?: { deviceId?: string; transactionId?: string; reasonCode?: string }): Promise<void>;
}

/** What a fast check-in answers: written to the socket as it is (one write). */
export interface FastReply {
  status: number;
  headers: Record<string, string>;
  body?: string;
  /** Counted in mdmgw_checkins_total ('ok'), as the route's authenticateDevice counts a request it authenticated. */
  checkIn?: boolean;
}

/** A check-in recognised in front of Express (PlatformAdapter.fastCheckins). */
export interface FastCheckin {
  method: 'GET' | 'PUT' | 'POST';
  /** The exact path; also the route label of mdmgw_http_requests_total, as the Express route's. */
  path: string;
  /** The body limit of the Express route: a larger declared body is left to it (413). */
  maxBodyBytes: number;
  /**
   * The answer when the request is one this path answers (authenticated,
   * well-formed, a cache hit), else null: the Express route answers it
   * instead. `body` is the request body as read (empty for a GET).
   */
  answer(req: IncomingMessage, body: Buffer): Promise<FastReply | null>;
  /** Optional: whether to read this request at all (from its head); one it does not take goes to Express unread. */
  takes?(req: IncomingMessage): boolean;
  /**
   * The route reads its body as UTF-8 text (express.text): a request handed on
   * gets req.body as that string, byte-order mark dropped as raw-body drops it.
   * Use with `takes` admitting only UTF-8 bodies.
   */
  textBody?: boolean;
}

/**
 * Thrown by a FastCheckin's answer once it may have written (the Windows
 * OMA-DM message: its state compare-and-set): the request is not handed to
 * the route (which would apply the message a second time) but answered as the
 * gateway's error handler answers the cause (503 + Retry-After for a busy
 * device or an unavailable database, else 500).
 */
export class FastCheckinFailed extends Error {
  constructor(readonly reason: unknown) {
    super('the fast check-in failed after it began writing');
  }
}

export interface PlatformAdapter<Payload = unknown> {
  /** Folder name; state and settings are kept under it. */
  readonly name: string;
  /**
   * What confirms a retiring device's removals (core/retirement.ts):
   * `removals` (default) when its delivery reports show no profile left;
   * `unenrollment` when only its unenrolled() call does (Apple: the removal of
   * the MDM enrollment profile comes after the profiles').
   */
  readonly retirementConfirmedBy?: 'removals' | 'unenrollment';
  /** Device platforms this adapter serves (enrollment tokens for these platforms name its enrollment URL). */
  readonly platforms: readonly Platform[];
  /** Pure: one ready delivery to this platform's payload. Golden files test this. */
  render(device: Device, delivery: ReadyDelivery): Payload;
  /** What the admin hands the user with a new enrollment token (a URL, or for Windows the discovery URL). */
  enrollmentUrl(token: string, publicUrl: string): string;
  /** Device-facing routes (enrollment, check-in), mounted at the gateway root. */
  routes(services: AdapterServices): Router;
  /** Optional admin routes, mounted under /api/v1 behind the admin token. */
  adminRoutes?(services: AdapterServices): Router;
  /**
   * Optional: check-ins answered in front of Express (issue 13; http/fast-checkins.ts),
   * built with the same services as `routes` and sharing their answer caches.
   * Each answers only what it recognises as a kept answer and returns null for
   * anything else, which the route in `routes` then answers unchanged.
   */
  fastCheckins?(services: AdapterServices): FastCheckin[];
  /**
   * Optional: called after an admin change has committed that may change which
   * profiles these devices get (an assignment, a group membership, a profile
   * version, a device's primary user). Only devices of this adapter's
   * platforms are passed. Best effort: errors are logged, never returned to
   * the admin. Apple uses it to queue commands and push; polling platforms
   * need not implement it.
   */
  onDevicesChanged?(devices: Device[], services: AdapterServices): Promise<void>;
  /**
   * Optional: the adapter's own parts for GET /api/v1/health (e.g. Apple's APNs
   * push certificate: topic, days to expiry). Called with the services the
   * routes were mounted with; should be cheap (no device traffic). A rejection
   * is shown as an error component named after the adapter.
   */
  health?(services: AdapterServices): Promise<ComponentHealth[]>;
}

/** AdapterServices.commands.exchange: the writes of one exchange (storage's CommandExchange, in the adapter's terms). */
export interface CommandExchangeWrites {
  answer?: { id: string; status: CommandStatus; result: Record<string, unknown> | null };
  cancel?: readonly { id: string; result: Record<string, unknown> | null }[];
  /** `id`: named by the adapter (core/command-id.ts uuidv7) when it records it before the write, else made by storage. */
  enqueue?: readonly (Pick<DeviceCommand, 'deviceId' | 'channel' | 'kind' | 'payload' | 'profileId' | 'profileVersion'> & { id?: string })[];
  send?: { id: string; status: CommandStatus };
  /** The adapter's state of the device (state.put). */
  state?: Record<string, unknown>;
  reports?: readonly DeliveryReport[];
  /** Audit records, by the device. */
  audit?: readonly { type: string; details: Record<string, unknown> }[];
}
