// Which of our CAs a CertID names (RFC 6960 4.1.1): issuerNameHash is the
// hash of the CA's subject Name DER, issuerKeyHash the hash of its
// subjectPublicKey bits, with the hash algorithm the CertID gives. Every CA in
// `authorities.all` is matched (a retired CA keeps answering for what it
// issued), for SHA-1 and SHA-2 CertIDs.

import { createHash } from 'node:crypto';
import type { Authorities } from '../authorities.js';
import type { CertificateAuthority } from '../authority.js';
import { publicKeyBits } from '../certificate-builder.js';
import { readCertificate } from '../../x509/cert-raw.js';
import { toHex } from '../../x509/asn1/bytes.js';
import { CERT_ID_HASHES, type CertId } from './request-parser.js';

export interface IssuerMatcher {
  /** The CA the CertID names, or null when it names none of ours (or uses a hash we do not know). */
  match(certId: CertId): CertificateAuthority | null;
}

export function issuerMatcher(authorities: Authorities): IssuerMatcher {
  // Rebuilt when the list of CAs changes (a rollover adds one while running).
  let indexed = '';
  let index = new Map<string, CertificateAuthority>();
  return {
    match: (c) => {
      const ids = authorities.all.map((ca) => ca.id).join(',');
      if (ids !== indexed) {
        index = indexOf(authorities.all);
        indexed = ids;
      }
      return index.get(`${c.hashOid}:${toHex(c.issuerNameHash)}:${toHex(c.issuerKeyHash)}`) ?? null;
    },
  };
}

/** "<hash oid>:<name hash>:<key hash>" -> CA, for every CA and every CertID hash we know. */
function indexOf(cas: readonly CertificateAuthority[]): Map<string, CertificateAuthority> {
  const index = new Map<string, CertificateAuthority>();
  for (const ca of cas) {
    const cert = readCertificate(ca.certificate);
    const keyBits = publicKeyBits(cert.spki);
    for (const [oid, hash] of Object.entries(CERT_ID_HASHES)) {
      const nameHash = createHash(hash).update(cert.subjectName).digest('hex');
      const keyHash = createHash(hash).update(keyBits).digest('hex');
      index.set(`${oid}:${nameHash}:${keyHash}`, ca);
    }
  }
  return index;
}
