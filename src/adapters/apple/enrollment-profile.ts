import type { Platform, RdnAttribute } from '../../core/model.js';
import type { PlistDict } from './plist-codec.js';
import { caFingerprint, keyUsageBits, pemToDer, subjectArray } from './scep-payload.js';
import { rootPayloads, SCEP_CA_NAME } from './render.js';
import { uuidV5 } from './uuid.js';

// The enrollment profile (.mobileconfig) a user installs to put a device under
// management: our root, a SCEP payload for the device identity certificate,
// and the com.apple.mdm payload that names that SCEP payload as the identity
// the device signs its check-ins with. Pure; the route signs it.

export const ENROLLMENT_IDENTIFIER = 'com.mdm-gateway.enrollment';

/**
 * AccessRights: 1 inspect profiles + 2 install/remove profiles. That is all a
 * certificate gateway needs (InstallProfile, RemoveProfile, ProfileList,
 * CertificateList); least privilege, and rights cannot be added later without
 * re-enrolling, so widen deliberately.
 */
export const ACCESS_RIGHTS = 1 | 2;

export interface EnrollmentProfileInput {
  publicUrl: string;
  platform: Platform;
  deviceId: string;
  /** The push certificate's topic (com.apple.mgmt.External.<uuid>). */
  topic: string;
  identity: { challenge: string; scepUrl: string; subjectRdns: RdnAttribute[]; keySize: number };
  rootPem: string;
  /**
   * A re-delivery replacing the installed profile (identity renewal: the serial
   * renewed): new PayloadUUIDs, same PayloadIdentifiers, Topic and ServerURL.
   */
  generation?: string;
}

export const mdmUrls = (publicUrl: string) => ({ serverUrl: `${publicUrl}/mdm/connect`, checkInUrl: `${publicUrl}/mdm/checkin` });

export function enrollmentProfile(i: EnrollmentProfileInput): PlistDict {
  const uuid = (part: string) => uuidV5(i.generation ? `enrollment:${i.deviceId}:${i.generation}:${part}` : `enrollment:${i.deviceId}:${part}`);
  const { serverUrl, checkInUrl } = mdmUrls(i.publicUrl);
  const scepUuid = uuid('scep');
  const top: PlistDict = {
    PayloadType: 'Configuration',
    PayloadVersion: 1,
    PayloadIdentifier: ENROLLMENT_IDENTIFIER,
    PayloadUUID: uuid('profile'),
    PayloadDisplayName: 'Device management (mdm-gateway)',
    PayloadDescription: 'Enrolls this device so the organization can install certificates on it.',
    PayloadOrganization: 'mdm-gateway',
    PayloadContent: [
      ...rootPayloads(i.rootPem, `${ENROLLMENT_IDENTIFIER}.root`, (n) => (n === 0 ? uuid('root') : uuid(`root:${n}`)), 'Gateway root'),
      {
        PayloadType: 'com.apple.security.scep',
        PayloadVersion: 1,
        PayloadIdentifier: `${ENROLLMENT_IDENTIFIER}.identity`,
        PayloadUUID: scepUuid,
        PayloadDisplayName: 'Device identity',
        PayloadContent: {
          URL: i.identity.scepUrl,
          Name: SCEP_CA_NAME,
          Subject: subjectArray(i.identity.subjectRdns),
          Challenge: i.identity.challenge,
          Keysize: i.identity.keySize,
          'Key Type': 'RSA',
          'Key Usage': keyUsageBits(['digitalSignature', 'keyEncipherment']),
          Retries: 3,
          RetryDelay: 10,
          CAFingerprint: caFingerprint(i.rootPem),
          KeyIsExtractable: false,
          AllowAllAppsAccess: false,
        },
      },
      {
        PayloadType: 'com.apple.mdm',
        PayloadVersion: 1,
        PayloadIdentifier: `${ENROLLMENT_IDENTIFIER}.mdm`,
        PayloadUUID: uuid('mdm'),
        PayloadDisplayName: 'Device management',
        IdentityCertificateUUID: scepUuid,
        Topic: i.topic,
        ServerURL: serverUrl,
        CheckInURL: checkInUrl,
        SignMessage: true,
        CheckOutWhenRemoved: true,
        AccessRights: ACCESS_RIGHTS,
        ServerCapabilities: ['com.apple.mdm.per-user-connections'],
      },
    ],
  };
  if (i.platform === 'macos') top.PayloadScope = 'System';
  return top;
}
