import { SCEP_LIMITS } from '../../core/input-limits.js';

// The bounds asn1js enforces while it reads untrusted BER (pkiMessages, CSRs,
// Mdm-Signature): nesting depth and element count include the OCTET STRING
// and BIT STRING contents asn1js decodes as embedded ASN.1. Real SCEP
// messages stay under depth 12 and 400 elements; asn1js's own defaults
// (depth 100, 10,000 elements) would let a message cost 10 times as much.

export const BER_PARSE_LIMITS = {
  maxDepth: SCEP_LIMITS.maxBerDepth,
  maxNodes: SCEP_LIMITS.maxBerNodes,
  maxContentLength: SCEP_LIMITS.maxMessageBytes,
} as const;
