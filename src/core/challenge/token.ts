import { createHash, randomFillSync, sign, verify, type KeyObject } from 'node:crypto';
import type { ResolvedRequest, Target } from '../model.js';
import { requestSha256 } from '../profile/resolve.js';

// The SCEP challengePassword the gateway hands a device: a compact, signed,
// self-describing token. The CRP learns from it, without a database lookup,
// which profile version and target it was minted for and what the resolved
// request looked like; the database only remembers which ids were spent.
//
// Binary layout (155 bytes, big-endian integers):
//
//   offset  size  field
//        0     1  version            = 1
//        1     1  kind               0 = profile, 1 = identity
//        2    16  challenge id       random
//       18    16  profile id         UUID bytes; zeros for identity
//       34     4  profile version    uint32; 0 for identity
//       38     1  target kind        0 = device, 1 = user
//       39    16  device id          UUID bytes; zeros when the target has no device
//       55    16  user id            UUID bytes; zeros for a device target
//       71    16  request digest     first 16 bytes of SHA-256(canonical JSON of the ResolvedRequest)
//       87     4  expiry             uint32 unix seconds
//       91    64  Ed25519 signature  over bytes 0..90, by the challenge-signing key (not the CA key)
//
// Encoded as standard base64 (A-Z a-z 0-9 + / =), 208 characters: under the
// 255-character PKCS#9 challengePassword bound, and no base64url, because
// Windows refuses `_` and friends with 0x2ab0003. Only canonical encodings
// are accepted, so every token has exactly one spelling.

export const CHALLENGE_VERSION = 1;
const SIGNED_LENGTH = 91;
const SIGNATURE_LENGTH = 64;
export const CHALLENGE_BYTES = SIGNED_LENGTH + SIGNATURE_LENGTH;

export type ChallengeKind = 'profile' | 'identity';

export interface ChallengeClaims {
  version: number;
  kind: ChallengeKind;
  /** 32 lower-case hex characters; what storage records as spent. */
  id: string;
  profileId: string | null;
  profileVersion: number | null;
  target: Target;
  /** base64 of the 16-byte request digest, as requestDigest() gives it. */
  requestDigest: string;
  expiresAt: Date;
}

export interface MintedChallenge {
  token: string;
  id: string;
  expiresAt: Date;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ZERO_UUID = Buffer.alloc(16);

/** Writes a UUID's 16 bytes at `offset` (zeros for null); refuses anything else. */
function writeUuid(out: Buffer, offset: number, id: string | null, what: string): void {
  if (id === null) {
    out.fill(0, offset, offset + 16);
    return;
  }
  if (!UUID_RE.test(id)) throw new Error(`challenge: ${what} is not a UUID`);
  out.write(id.replace(/-/g, ''), offset, 16, 'hex');
}

function uuidString(b: Buffer): string | null {
  if (b.equals(ZERO_UUID)) return null;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// Keys already checked to be Ed25519 private keys: the check reads the
// KeyObject's type through native getters at every mint otherwise.
const checkedKeys = new WeakSet<KeyObject>();

function checkKey(key: KeyObject): void {
  if (checkedKeys.has(key)) return;
  if (key.asymmetricKeyType !== 'ed25519' || key.type !== 'private') throw new Error('challenge: the signing key must be an Ed25519 private key');
  checkedKeys.add(key);
}

// Challenge ids are drawn from a pool filled 256 ids at a time: one
// randomFillSync per 256 mints instead of one randomBytes per mint. The ids
// are public (they are in the token); the pool only saves the calls.
const ID_POOL = Buffer.alloc(16 * 256);
let idPoolAt = ID_POOL.length;

function copyRandomId(out: Buffer, offset: number): void {
  if (idPoolAt === ID_POOL.length) {
    randomFillSync(ID_POOL);
    idPoolAt = 0;
  }
  ID_POOL.copy(out, offset, idPoolAt, idPoolAt + 16);
  // Each id is handed out once: wipe it from the pool.
  ID_POOL.fill(0, idPoolAt, idPoolAt + 16);
  idPoolAt += 16;
}

/**
 * `requestSha256`: requestSha256(resolved) when the caller already has it
 * (core/delivery.ts computes it once per delivery and reuses it); computed
 * here otherwise. Its first 16 bytes are the token's request digest.
 */
export function mintChallenge(
  key: KeyObject,
  args: { kind: ChallengeKind; resolved: ResolvedRequest; ttlSeconds: number; now?: Date; requestSha256?: Uint8Array },
): MintedChallenge {
  const { kind, resolved, ttlSeconds } = args;
  checkKey(key);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) throw new Error('challenge: ttlSeconds must be a positive integer');
  if ((kind === 'identity') !== (resolved.profileId === null)) {
    throw new Error('challenge: identity challenges have no profile; profile challenges need one');
  }
  const nowSeconds = Math.floor((args.now ?? new Date()).getTime() / 1000);
  const expiry = nowSeconds + ttlSeconds;
  if (expiry > 0xffffffff) throw new Error('challenge: expiry does not fit in uint32');
  const digest = args.requestSha256 ?? requestSha256(resolved);
  if (digest.length !== 32) throw new Error('challenge: requestSha256 must be 32 bytes');

  // The whole token in one buffer: the signed part, then the signature copied in after it.
  const token = Buffer.alloc(CHALLENGE_BYTES);
  const t = resolved.target;
  token[0] = CHALLENGE_VERSION;
  token[1] = kind === 'profile' ? 0 : 1;
  copyRandomId(token, 2);
  writeUuid(token, 18, resolved.profileId, 'profileId');
  token.writeUInt32BE(resolved.profileVersion ?? 0, 34);
  token[38] = t.kind === 'device' ? 0 : 1;
  writeUuid(token, 39, t.deviceId, 'deviceId');
  writeUuid(token, 55, t.kind === 'user' ? t.userId : null, 'userId');
  token.set(digest.subarray(0, 16), 71);
  token.writeUInt32BE(expiry, 87);
  token.set(sign(null, token.subarray(0, SIGNED_LENGTH), key), SIGNED_LENGTH);
  return {
    token: token.toString('base64'),
    id: token.toString('hex', 2, 18),
    expiresAt: new Date(expiry * 1000),
  };
}

/** A structurally valid token whose signature has not been checked yet. */
export interface DecodedChallenge {
  /** Untrusted until verifyDecodedChallenge says otherwise. */
  claims: ChallengeClaims;
  signed: Buffer;
  signature: Buffer;
}

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Structure only: alphabet, canonical base64, length, version, field values. */
export function decodeChallenge(token: string): { ok: true; decoded: DecodedChallenge } | { ok: false; code: 'CHALLENGE_MALFORMED' } {
  const malformed = { ok: false, code: 'CHALLENGE_MALFORMED' } as const;
  if (token.length > 255 || token.length % 4 !== 0 || !B64_RE.test(token)) return malformed;
  const bytes = Buffer.from(token, 'base64');
  if (bytes.length !== CHALLENGE_BYTES || bytes.toString('base64') !== token) return malformed;
  if (bytes.readUInt8(0) !== CHALLENGE_VERSION) return malformed;

  const kindByte = bytes.readUInt8(1);
  const targetByte = bytes.readUInt8(38);
  if (kindByte > 1 || targetByte > 1) return malformed;
  const kind: ChallengeKind = kindByte === 0 ? 'profile' : 'identity';
  const profileId = uuidString(bytes.subarray(18, 34));
  const profileVersion = bytes.readUInt32BE(34);
  const deviceId = uuidString(bytes.subarray(39, 55));
  const userId = uuidString(bytes.subarray(55, 71));

  let target: Target;
  if (targetByte === 0) {
    if (deviceId === null || userId !== null) return malformed;
    target = { kind: 'device', deviceId };
  } else {
    if (userId === null) return malformed;
    target = { kind: 'user', userId, deviceId };
  }
  if (kind === 'profile' && (profileId === null || profileVersion === 0)) return malformed;
  if (kind === 'identity' && (profileId !== null || profileVersion !== 0 || target.kind !== 'device')) return malformed;

  return {
    ok: true,
    decoded: {
      claims: {
        version: CHALLENGE_VERSION,
        kind,
        id: bytes.subarray(2, 18).toString('hex'),
        profileId,
        profileVersion: kind === 'profile' ? profileVersion : null,
        target,
        requestDigest: bytes.subarray(71, 87).toString('base64'),
        expiresAt: new Date(bytes.readUInt32BE(87) * 1000),
      },
      signed: bytes.subarray(0, SIGNED_LENGTH),
      signature: bytes.subarray(SIGNED_LENGTH),
    },
  };
}

export function verifyDecodedChallenge(publicKey: KeyObject, d: DecodedChallenge): boolean {
  try {
    return verify(null, d.signed, publicKey, d.signature);
  } catch {
    return false; // e.g. a key of the wrong type
  }
}

/** Structure, then signature. Expiry is deliberately not checked here (its own reason code). */
export function verifyChallenge(
  publicKey: KeyObject,
  token: string,
): { ok: true; claims: ChallengeClaims } | { ok: false; code: 'CHALLENGE_MALFORMED' | 'CHALLENGE_BAD_SIGNATURE' } {
  const d = decodeChallenge(token);
  if (!d.ok) return d;
  if (!verifyDecodedChallenge(publicKey, d.decoded)) return { ok: false, code: 'CHALLENGE_BAD_SIGNATURE' };
  return { ok: true, claims: d.decoded.claims };
}

/** A short, non-reversible id for logs: `chf:` + 12 hex of SHA-256(token). Never log the token. */
export function challengeFingerprint(token: string): string {
  return `chf:${createHash('sha256').update(token, 'utf8').digest('hex').slice(0, 12)}`;
}
