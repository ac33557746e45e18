// Bounds on everything a device (or anyone who can reach a device route)
// sends us, in one place so docs/security.md can list them. Every parser of
// device input checks its bound BEFORE the data is materialised: a document
// that would expand past a limit is refused from a cheap scan of its bytes,
// never discovered by building it (issue #15, S1: a 239-byte binary plist whose
// shared references doubled at every level took the process down). BER is
// the one exception: asn1js counts while it reads and stops at the bound.
//
// The values leave generous room over what real clients send (the largest
// messages seen are Apple CertificateList answers and Windows SyncML results
// of a few hundred elements) while keeping the worst accepted input to about
// a tenth of a second of parsing and a few megabytes.

/** Property lists from Apple devices (PUT /mdm/checkin, PUT /mdm/connect). */
export const PLIST_LIMITS = {
  /** express.raw limit on the Apple device routes. */
  maxBodyBytes: 1024 * 1024,
  /** Nesting of arrays/dictionaries (binary) or elements (XML). */
  maxDepth: 64,
  /** Binary: values reached when the object graph is walked as a tree, a shared reference counted each time it is reached. */
  maxExpandedNodes: 100_000,
  /** Binary: string and data bytes reached in that walk, a shared object counted each time it is reached. */
  maxExpandedBytes: 4 * 1024 * 1024,
  /**
   * Binary: string characters reached in that walk. plist's parseBinary builds
   * strings one character at a time (about 0.4 µs each here): 8 MiB of shared
   * string references took 3.5 s, so strings get a budget of their own.
   */
  maxExpandedStringChars: 256 * 1024,
  /** Binary: entries in one array or dictionary. */
  maxContainerEntries: 50_000,
  /** XML: elements in the document (xmldom and plist spend about 12 µs on each: 100,000 took 1.2 s). */
  maxXmlElements: 10_000,
} as const;

/** SOAP (MS-MDE2 enrollment) and SyncML (OMA-DM) messages from Windows devices. */
export const WINDOWS_XML_LIMITS = {
  /** express.text limit on the Windows routes, and the parser's own bound. */
  maxBodyBytes: 512 * 1024,
  maxDepth: 32,
  /** fast-xml-parser (with its validator) spends about 16 µs on each element: 20,000 took 325-535 ms. */
  maxElements: 5_000,
} as const;

/** JSON bodies of the device routes (Android agent). */
export const DEVICE_JSON_LIMITS = {
  /** POST /android/v1/enroll */
  enrollBodyBytes: 64 * 1024,
  /** POST /android/v1/status */
  statusBodyBytes: 256 * 1024,
  maxDepth: 16,
  /** Values (objects, arrays, strings, numbers, literals) in one body. */
  maxValues: 20_000,
} as const;

/** SCEP pkiMessages (RFC 8894) and the PKCS#10 requests they and other protocols carry. */
export const SCEP_LIMITS = {
  /** POST body of PKIOperation (GET messages are bounded by the HTTP header limit). */
  maxMessageBytes: 256 * 1024,
  /** A PKCS#10 request on its own (also a Windows BinarySecurityToken). */
  maxCsrBytes: 64 * 1024,
  /** BER nesting, counting OCTET/BIT STRING contents asn1js decodes as embedded ASN.1. */
  maxBerDepth: 32,
  /** BER elements in one parse, embedded ones included (asn1js spends about 10-25 µs on each). */
  maxBerNodes: 4_000,
} as const;

/** OCSP requests (RFC 6960) from relying parties: RADIUS and VPN servers, browsers, openssl. */
export const OCSP_LIMITS = {
  /** POST body; a GET request's DER after base64 decoding. A real request (one CertID, a nonce, no signature) is under 200 bytes. */
  maxRequestBytes: 8 * 1024,
  /** CertIDs in one request: each costs a database read, and all must name the same CA (one responder signs). */
  maxCertIds: 16,
  /** RFC 8954: a nonce is 1..32 octets; a longer one is refused as malformedRequest. */
  maxNonceBytes: 32,
} as const;
