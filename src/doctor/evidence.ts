// What the doctor gathered before judging anything: the CA and RA certificates
// (from the data directory, or from GetCACert of a running gateway), the answers
// of the SCEP endpoint, and the APNs push certificate. The checks are pure
// functions of this, so each one is tested without a network.

export type DoctorMode = 'config' | 'url';

export interface HttpAnswer {
  status: number;
  contentType: string;
  body: Uint8Array;
}

export interface Certificates {
  /** Where they came from, for messages ("/data/ca.pem", "GetCACert of https://..."). */
  origin: string;
  ca: Uint8Array | null;
  ra: Uint8Array | null;
  /**
   * The certificates above a CA that is not self-signed (a subordinate CA):
   * ca-chain.pem of the data directory, or the other CA certificates of
   * GetCACert; null when there is none (no ca-chain.pem).
   */
  chain?: Uint8Array[] | null;
  /** Why a certificate is missing or unreadable (each line a problem). */
  errors: { message: string; fix: string }[];
}

/** The SCEP endpoint of the public URL (config mode) or of --url. */
export interface ScepProbe {
  /** e.g. https://mdm.example.com/certsrv/mscep/mscep.dll */
  scepUrl: string;
  /** Set when the endpoint did not answer at all (refused, timeout, TLS). */
  unreachable?: string;
  caps?: HttpAnswer;
  caCert?: HttpAnswer;
  /** PKIOperation by GET without a message: a gateway that takes GET answers 400 naming the missing message. */
  pkiGet?: HttpAnswer;
  healthz?: HttpAnswer;
  /** The server's Date header and the local clock half-way through the request. */
  clock?: { server: Date; local: Date };
}

export type ApnsEvidence =
  | { state: 'present'; topic: string; notAfter: Date }
  | { state: 'absent' }
  | { state: 'not-checked'; why: string; fix: string };

export interface Evidence {
  /** config: certificates from the data directory (compared with what the public URL serves); url: from GetCACert. */
  mode: DoctorMode;
  now: Date;
  certificates: Certificates;
  probe: ScepProbe;
  apns: ApnsEvidence;
  /** config mode: MDMGW_CA_KEY, when set (it applies to new CAs; the check says when the CA differs). */
  requestedCaKey?: 'rsa3072' | 'rsa2048' | 'p256';
}
