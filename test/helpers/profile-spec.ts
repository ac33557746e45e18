import type { ProfileSpec } from '../../src/core/model.js';
import { parseProfileSpec } from '../../src/core/profile/profile-schema.js';

/**
 * A valid ProfileSpec with every default filled by the real schema, so test
 * fixtures state only what they care about (and cannot drift from the defaults).
 */
export function profileSpec(input: Record<string, unknown> = {}): ProfileSpec {
  const r = parseProfileSpec({ name: 'Test profile', scope: 'device', subjectName: 'CN={{DeviceName}}', ...input });
  if (!r.ok) throw new Error(`bad test spec: ${JSON.stringify(r.issues)}`);
  return r.spec;
}
