import { z } from 'zod';
import { fieldIssues, type FieldIssue } from '../../core/field-issues.js';

// POST /android/v1/enroll: what the agent sends. Device facts use the names
// of the Android APIs they come from (android.os.Build, KeyInfo,
// PackageManager.FEATURE_STRONGBOX_KEYSTORE).

function isCalendarDate(s: string): boolean {
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
}

export const deviceFactsSchema = z.strictObject({
  /** A display name for a new device record; default: "<manufacturer> <model>". */
  name: z.string({ message: 'must be a string' }).trim().min(1, 'must not be empty').max(256, 'at most 256 characters').optional(),
  /** Build.MANUFACTURER */
  manufacturer: z.string({ message: 'must be a string' }).trim().min(1, 'must not be empty').max(128, 'at most 128 characters').optional(),
  /** Build.MODEL */
  model: z.string({ message: 'is required (Build.MODEL)' }).trim().min(1, 'must not be empty').max(128, 'at most 128 characters'),
  /** Build.SERIAL / getSerial(), when the agent may read it (device owner). */
  serialNumber: z.string({ message: 'must be a string' }).trim().min(1, 'must not be empty').max(128, 'at most 128 characters').optional(),
  /** Build.VERSION.RELEASE, e.g. "14" or "8.1.0" */
  osVersion: z
    .string({ message: 'is required (Build.VERSION.RELEASE)' })
    .regex(/^[0-9]{1,2}(\.[0-9]{1,3}){0,2}$/, 'must look like Build.VERSION.RELEASE, e.g. "14" or "8.1.0"'),
  /** Build.VERSION.SDK_INT */
  sdkInt: z
    .number({ message: 'is required (Build.VERSION.SDK_INT, a number)' })
    .int('must be a whole number')
    .min(23, 'must be at least 23 (Android 6.0, the first with KeyGenParameterSpec)')
    .max(99, 'must be at most 99'),
  /** Build.VERSION.SECURITY_PATCH, YYYY-MM-DD */
  securityPatchLevel: z
    .string({ message: 'is required (Build.VERSION.SECURITY_PATCH)' })
    .refine(isCalendarDate, 'must be a date YYYY-MM-DD (Build.VERSION.SECURITY_PATCH)'),
  /** Keys generated in the Android Keystore land in a TEE (KeyInfo.getSecurityLevel() != SOFTWARE). */
  hardwareBackedKeystore: z.boolean({ message: 'is required (true or false)' }),
  /** PackageManager.hasSystemFeature(FEATURE_STRONGBOX_KEYSTORE) */
  strongBox: z.boolean({ message: 'is required (true or false)' }),
}, { error: (iss) => (iss.code === 'invalid_type' ? 'is required: the device facts, an object' : undefined) });

export type DeviceFacts = z.output<typeof deviceFactsSchema>;

export const enrollRequestSchema = z.strictObject({
  /** The one-time enrollment token (also accepted as ?token= from the enrollment URL). */
  token: z.string({ message: 'must be a string' }).min(1, 'must not be empty').max(128, 'at most 128 characters').optional(),
  /** Policy schema versions the agent understands; the gateway serves the highest both know. */
  supportedSchemaVersions: z
    .array(z.number().int('must be whole numbers').min(1, 'must be positive'), { message: 'must be an array of numbers' })
    .min(1, 'must name at least one version')
    .max(16, 'at most 16 versions')
    .optional(),
  device: deviceFactsSchema,
});

export type { FieldIssue };

export type ParsedEnrollRequest = { ok: true; token: string; facts: DeviceFacts; supportedSchemaVersions: number[] | null } | { ok: false; issues: FieldIssue[] };

/** Validates the body; the token comes from the body or the enrollment URL's query, not from both with different values. */
export function parseEnrollRequest(body: unknown, queryToken: unknown): ParsedEnrollRequest {
  const r = enrollRequestSchema.safeParse(body ?? {});
  if (!r.success) {
    return {
      ok: false,
      issues: fieldIssues(r.error),
    };
  }
  const q = typeof queryToken === 'string' && queryToken !== '' ? queryToken : undefined;
  const b = r.data.token;
  if (b !== undefined && q !== undefined && b.trim().toUpperCase() !== q.trim().toUpperCase()) {
    return { ok: false, issues: [{ path: 'token', message: 'differs from the token in the URL' }] };
  }
  const token = b ?? q;
  if (token === undefined) return { ok: false, issues: [{ path: 'token', message: 'is required (in the body or as ?token=)' }] };
  return { ok: true, token, facts: r.data.device, supportedSchemaVersions: r.data.supportedSchemaVersions ?? null };
}

export function defaultDeviceName(f: DeviceFacts): string {
  return f.name ?? [f.manufacturer, f.model].filter(Boolean).join(' ');
}
