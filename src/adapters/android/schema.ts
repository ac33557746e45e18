import { KEY_SIZES, KEY_USAGES, SAN_TYPES, HASH_ALGORITHMS } from '../../core/model.js';

// The policy document's public contract, as JSON Schema (draft 2020-12).
// Served at GET /android/v1/schema.json?schemaVersion=N and kept in
// docs/android-policy.schema.json (a test checks the two are the same). A
// published version is never edited in a breaking way: a breaking change is a
// new schemaVersion with its own schema here, and the old one stays served.

const uuid = { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' } as const;
const base64 = { type: 'string', pattern: '^[A-Za-z0-9+/]+={0,2}$' } as const;

export const POLICY_SCHEMA_V1 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'urn:mdm-gateway:android:policy:1',
  title: 'mdm-gateway Android agent policy, schema version 1',
  description:
    'What GET /android/v1/policy returns to the Android agent app. Within one schema version the gateway only ever adds optional members (and this schema with them), so agents must ignore members they do not know; removing, renaming or retyping a member, or changing what it means, is a new schemaVersion, and the old one stays served.',
  type: 'object',
  required: ['schemaVersion', 'deviceId', 'generatedAt', 'policies'],
  additionalProperties: false,
  properties: {
    schemaVersion: { const: 1 },
    deviceId: { ...uuid, description: 'The gateway device id (the CN of the device identity certificate).' },
    generatedAt: { type: 'string', format: 'date-time', description: 'When the content last changed.' },
    policies: { type: 'array', items: { $ref: '#/$defs/certificatePolicy' } },
    identityRenewal: { $ref: '#/$defs/identityRenewal' },
  },
  $defs: {
    identityRenewal: {
      type: 'object',
      description:
        'Present while the device identity certificate the agent authenticated with is inside its renewal period: generate a new key and POST a PKCS#10 for it to url, authenticated with the current identity; use the certificate it answers from then on (the old one stops working once the new one has been used).',
      additionalProperties: false,
      required: ['url', 'subject', 'keyAlgorithm', 'keySize', 'notAfter'],
      properties: {
        url: { type: 'string', minLength: 1, description: 'POST {"csr": base64 PKCS#10} here with the current identity; 201 {"certificate": base64 DER}.' },
        subject: { type: 'string', minLength: 1, description: 'The subject the CSR must carry: the current identity certificate\'s.' },
        keyAlgorithm: { const: 'RSA' },
        keySize: { type: 'integer', minimum: 2048 },
        notAfter: { type: 'string', format: 'date-time', description: 'When the current identity certificate expires.' },
      },
    },
    certificatePolicy: {
      type: 'object',
      required: ['id', 'version', 'type', 'name', 'action', 'scep', 'keyStore', 'trustedRoots'],
      additionalProperties: false,
      properties: {
        id: { ...uuid, description: 'The certificate profile id; report results under it.' },
        version: { type: 'integer', minimum: 1, description: 'The profile version; report results under it.' },
        type: { const: 'scepCertificate' },
        name: { type: 'string', minLength: 1 },
        action: { enum: ['enroll', 'renew', 'keep'] },
        scep: { $ref: '#/$defs/scep' },
        keyStore: { $ref: '#/$defs/keyStore' },
        trustedRoots: { type: 'array', minItems: 1, items: { ...base64, description: 'A CA certificate, DER, base64.' } },
      },
      if: { type: 'object', properties: { action: { const: 'keep' } } },
      then: { type: 'object', properties: { scep: { type: 'object', properties: { challenge: { type: 'null' }, challengeExpiresAt: { type: 'null' } } } } },
      else: { type: 'object', properties: { scep: { type: 'object', properties: { challenge: { type: 'string' }, challengeExpiresAt: { type: 'string' } } } } },
    },
    scep: {
      type: 'object',
      additionalProperties: false,
      required: [
        'url',
        'challenge',
        'challengeExpiresAt',
        'subject',
        'subjectAltNames',
        'keyAlgorithm',
        'keySize',
        'keyUsage',
        'extendedKeyUsages',
        'hashAlgorithm',
        'caFingerprint',
        'retries',
        'retryDelaySeconds',
        'renewalThresholdPercent',
      ],
      properties: {
        url: { type: 'string', pattern: '^https?://', description: 'The SCEP server URL. Agents refuse http:// outside lab builds.' },
        challenge: { type: ['string', 'null'], minLength: 1, maxLength: 255, description: 'One-time challengePassword; null when action is keep.' },
        challengeExpiresAt: { type: ['string', 'null'], format: 'date-time' },
        subject: { type: 'string', minLength: 1, description: 'RFC 4514 subject that javax.security.auth.x500.X500Principal parses.' },
        subjectAltNames: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['type', 'value'],
            properties: { type: { enum: [...SAN_TYPES] }, value: { type: 'string', minLength: 1 } },
          },
        },
        keyAlgorithm: { const: 'RSA', description: 'KeyProperties.KEY_ALGORITHM_RSA.' },
        keySize: { enum: [...KEY_SIZES] },
        keyUsage: { type: 'array', uniqueItems: true, items: { enum: [...KEY_USAGES] } },
        extendedKeyUsages: { type: 'array', uniqueItems: true, items: { type: 'string', pattern: '^[0-2](\\.[0-9]+)+$' } },
        hashAlgorithm: { enum: [...HASH_ALGORITHMS], description: 'KeyProperties.DIGEST_* value for the CSR signature.' },
        caFingerprint: { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the CA certificate DER, hex.' },
        retries: { type: 'integer', minimum: 0 },
        retryDelaySeconds: { type: 'integer', minimum: 1 },
        renewalThresholdPercent: { type: 'integer', minimum: 1, maximum: 99 },
      },
    },
    keyStore: {
      type: 'object',
      additionalProperties: false,
      required: ['alias', 'requireHardwareBacked', 'requireStrongBox', 'exportable', 'purposes', 'digests', 'signaturePaddings', 'encryptionPaddings'],
      properties: {
        alias: { type: 'string', minLength: 1, maxLength: 128, description: 'KeyChain alias.' },
        requireHardwareBacked: { type: 'boolean' },
        requireStrongBox: { type: 'boolean' },
        exportable: { type: 'boolean' },
        purposes: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          items: { enum: ['PURPOSE_SIGN', 'PURPOSE_DECRYPT', 'PURPOSE_AGREE_KEY'] },
        },
        digests: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: [...HASH_ALGORITHMS] } },
        signaturePaddings: { type: 'array', uniqueItems: true, items: { enum: ['PKCS1', 'PSS'] } },
        encryptionPaddings: { type: 'array', uniqueItems: true, items: { enum: ['PKCS1Padding', 'OAEPPadding'] } },
      },
      if: { type: 'object', properties: { requireHardwareBacked: { const: true } } },
      then: { type: 'object', properties: { exportable: { const: false } } },
    },
  },
} as const;
