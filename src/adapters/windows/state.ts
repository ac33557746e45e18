import type { AdapterServices } from '../../core/adapter.js';
import type { Form } from './render.js';

// The adapter's per-device state (AdapterServices.state, scoped to 'windows'):
// what enrollment learned, what DevInfo/DevDetail said, the OMA-DM session in
// progress, and per profile what was sent and what the device last said.

/** What a server command we sent was for, keyed `${serverMsgId}:${cmdId}` in the session. */
export type SentTag =
  | { kind: 'install'; profileId: string }
  | { kind: 'install-item'; profileId: string; cmd: string; target: string }
  | { kind: 'root'; profileId: string }
  /** The current root's Add after a CA rollover (core/ca-rollover.ts): its Status confirms the device holds it. */
  | { kind: 'trust'; caId: string }
  | { kind: 'query'; profileId: string; node: QueryNode }
  | { kind: 'delete'; profileId: string | null; target: string }
  | { kind: 'devdetail'; target: string };

export type QueryNode = 'Status' | 'ErrorCode' | 'CertThumbprint';

export interface QueryAnswer {
  /** The device's Status code for our Get when it was not 200 (e.g. 404). */
  status?: number;
  data?: string;
}

export interface SessionState {
  id: string;
  clientMsgId: number;
  serverMsgId: number;
  startedAt: string;
  sent: Record<string, SentTag>;
  /** Profiles installed / queried / deleted in this session (each at most once per session). */
  installed: string[];
  queried: string[];
  deleted: string[];
  answers: Record<string, Partial<Record<QueryNode, QueryAnswer>>>;
  itemStatuses: Record<string, { cmd: string; target: string; code: number }[]>;
  /** From the 1224 com.microsoft/MDM/LoginStatus alert: user, others, none. */
  loginStatus?: string;
  askedSwV?: boolean;
  /** The roots were sent in this session after a CA rollover (session.ts sendRootsAfterRollover). */
  rootsSent?: boolean;
  /** planKey() after this session's last full plan: a later message with the same key does not plan again (session.ts). */
  plannedKey?: string;
}

/** The installed certificate's validity, for renewal timing (renewal.ts). */
export interface CertificateValidity {
  notBefore: string;
  notAfter: string;
  /** issued: from the certificate we issued with the reported thumbprint; estimate: reported installed + validityDays. */
  source: 'issued' | 'estimate';
  /** The CA that signed it (source issued): a retired CA's certificate is re-issued after a CA rollover. */
  issuerId?: string | null;
}

export type Phase = 'sent' | 'enrolling' | 'installed' | 'failed' | 'retry' | 'removing';

export interface TrackedProfile {
  uniqueId: string;
  version: number;
  scope: 'user' | 'device';
  form: Form;
  scepNode: string;
  phase: Phase;
  /** Whether the SCEP node exists on the device (then a re-issue Replaces instead of Adds). */
  nodeExists: boolean;
  sentSession: string;
  sentAt: string;
  validityDays: number;
  renewalThresholdPercent: number;
  thumbprint?: string;
  installedAt?: string;
  /** Of the certificate with `thumbprint`; absent in state written before it was recorded (looked up then). */
  validity?: CertificateValidity;
  errorCode?: string;
}

export interface WindowsState {
  enrollment?: {
    upn: string;
    hardwareId: string | null;
    osVersion: string | null;
    osEdition: string | null;
    deviceType: string | null;
    enrollmentType: string | null;
    identityThumbprint: string;
    at: string;
    /**
     * A WSTEP renewal issued but not yet seen in use (renew.ts): the device may
     * authenticate with it or with identityThumbprint until it does; the first
     * OMA-DM session with it makes it identityThumbprint.
     */
    renewal?: { thumbprint: string; of: string; at: string };
  };
  /** Best known OS version: DevDetail/SwV, else the enrollment's OSVersion. */
  osVersion?: string | null;
  /** ./DevInfo/* and ./DevDetail/* values the device reported (Replace or Results). */
  nodes?: Record<string, string>;
  session?: SessionState;
  profiles?: Record<string, TrackedProfile>;
  /** Profiles reported as undeliverable: profileId -> `${version}:${code}`, so each is reported once. */
  undeliverable?: Record<string, string>;
  /** The CA (id) whose root the device confirmed installing after a CA rollover (Add answered 200 or 418). */
  rootsHeld?: string;
}

/**
 * Whether a presented identity (its SHA-1 thumbprint) is the device's Windows
 * identity: `current` (its last enrollment's, or a confirmed renewal),
 * `renewed` (a renewal not yet used), else null (superseded by a later enrollment).
 */
export function identityStanding(state: WindowsState, thumbprint: string | undefined): 'current' | 'renewed' | null {
  const e = state.enrollment;
  if (!e || !thumbprint) return null;
  if (thumbprint === e.identityThumbprint) return 'current';
  return thumbprint === e.renewal?.thumbprint ? 'renewed' : null;
}

export async function readWindowsState(s: AdapterServices, deviceId: string): Promise<WindowsState> {
  return ((await s.state.get(deviceId)) ?? {}) as WindowsState;
}

export async function writeWindowsState(s: AdapterServices, deviceId: string, state: WindowsState): Promise<void> {
  await s.state.put(deviceId, state as Record<string, unknown>);
}
