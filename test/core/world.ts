import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mintChallenge } from '../../src/core/challenge/token.js';
import { CertificateRegistrationPoint } from '../../src/core/crp/index.js';
import type { Device, Group, Profile, ResolvedRequest, Target, User } from '../../src/core/model.js';
import { resolveRequest } from '../../src/core/profile/resolve.js';
import type { Storage } from '../../src/core/storage/storage.js';
import { createProfile, newStorage } from './helpers.js';

// A small directory for CRP and delivery tests, on the real SQLite storage:
//   alice (primary user of LAPTOP-1, in group Staff), bob
//   LAPTOP-1 (windows, serial SN-1, in group Laptops), KIOSK (no user, no serial)
//   devProfile  device scope, assigned to group Laptops
//   userProfile user scope, assigned to alice directly

export interface World {
  storage: Storage;
  keys: { privateKey: KeyObject; publicKey: KeyObject };
  now: Date;
  crp: CertificateRegistrationPoint;
  alice: User;
  bob: User;
  laptop: Device;
  kiosk: Device;
  laptops: Group;
  staff: Group;
  devProfile: Profile;
  userProfile: Profile;
}

export async function makeWorld(): Promise<World> {
  const storage = await newStorage();
  const keys = generateKeyPairSync('ed25519');
  const now = new Date('2030-06-01T12:00:00Z');
  const alice = await storage.createUser({
    userPrincipalName: 'alice@contoso.com',
    email: 'Alice.Smith@contoso.com',
    displayName: 'Smith, Alice',
    attributes: { employeeId: 'E-1' },
  });
  const bob = await storage.createUser({ userPrincipalName: 'bob@contoso.com', email: 'bob@contoso.com', displayName: 'Bob' });
  const laptop = await storage.createDevice({ name: 'LAPTOP-1', platform: 'windows', serialNumber: 'SN-1', userId: alice.id });
  const kiosk = await storage.createDevice({ name: 'KIOSK', platform: 'android' });
  const laptops = await storage.createGroup('Laptops');
  const staff = await storage.createGroup('Staff');
  await storage.addGroupMember(laptops.id, { deviceId: laptop.id });
  await storage.addGroupMember(staff.id, { userId: alice.id });
  const devProfile = await createProfile(storage, {
    name: 'Device Wi-Fi',
    scope: 'device',
    subjectName: 'CN={{DeviceName}},OU={{SerialNumber}},O=Contoso',
    subjectAlternativeNames: [{ type: 'dns', value: '{{DeviceName}}.corp.contoso.com' }],
  });
  const userProfile = await createProfile(storage, {
    name: 'User VPN',
    scope: 'user',
    subjectName: 'CN={{DisplayName}},E={{EmailAddress}}',
    subjectAlternativeNames: [
      { type: 'upn', value: '{{UserPrincipalName}}' },
      { type: 'email', value: '{{EmailAddress}}' },
    ],
    extendedKeyUsages: ['1.3.6.1.5.5.7.3.2', '1.3.6.1.4.1.311.20.2.2'],
  });
  await storage.createAssignment(devProfile.id, { groupId: laptops.id });
  await storage.createAssignment(userProfile.id, { userId: alice.id });
  const crp = new CertificateRegistrationPoint({ storage, challengePublicKey: keys.publicKey, clock: () => now });
  return { storage, keys, now, crp, alice, bob, laptop, kiosk, laptops, staff, devProfile, userProfile };
}

export function resolved(w: World, profile: Profile, target: Target): ResolvedRequest {
  const device = target.deviceId === null ? null : target.deviceId === w.laptop.id ? w.laptop : w.kiosk;
  const userId = target.kind === 'user' ? target.userId : (device?.userId ?? null);
  const user = userId === w.alice.id ? w.alice : userId === w.bob.id ? w.bob : null;
  const r = resolveRequest(profile, target, { user, device });
  if (!r.ok) throw new Error(`test world: ${JSON.stringify(r.error)}`);
  return r.resolved;
}

export function mint(w: World, r: ResolvedRequest, opts: { kind?: 'profile' | 'identity'; ttlSeconds?: number; now?: Date } = {}) {
  return mintChallenge(w.keys.privateKey, {
    kind: opts.kind ?? 'profile',
    resolved: r,
    ttlSeconds: opts.ttlSeconds ?? 3600,
    now: opts.now ?? w.now,
  });
}

/** Spends a challenge the way the enrollment service does. */
export async function spend(w: World, challenge: { id: string; expiresAt: Date }, r: ResolvedRequest) {
  return w.storage.recordEnrollment(
    { id: challenge.id, expiresAt: challenge.expiresAt.toISOString() },
    {
      transactionId: randomBytes(8).toString('hex'),
      status: 'pending',
      kind: r.profileId ? 'profile' : 'identity',
      challengeId: challenge.id,
      profileId: r.profileId,
      profileVersion: r.profileVersion,
      deviceId: r.target.deviceId,
      userId: r.target.kind === 'user' ? r.target.userId : null,
      csrSha256: 'x',
      csrDer: new Uint8Array([1]),
      resolved: r,
    },
    null,
  );
}
