import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderWindows, type Form } from '../../../src/adapters/windows/render.js';
import { buildMessage } from '../../../src/adapters/windows/syncml-build.js';
import { CASES, CHALLENGE, GOLDEN_DIR, device } from './fixtures.js';

// Golden files: the exact SyncML message the gateway sends to install each
// representative profile, compared byte for byte after normalising the
// challenge and the ids (profile UUIDs, device id). Regenerate with
// UPDATE_GOLDEN=1 and review the diff against the reference notes.

export function goldenMessage(form: Form, d: (typeof CASES)[keyof typeof CASES]['d'], mode: 'add' | 'replace' = 'add'): string {
  const payload = renderWindows(device, d, { form, mode });
  const { xml } = buildMessage({
    sessionId: '1',
    msgId: 1,
    target: 'DEVICE-ID',
    source: 'https://mdm.contoso.com/ManagementServer/MDM.svc',
    statuses: [{ msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', code: 212 }],
    commands: payload.commands,
  });
  return normalise(xml);
}

export function normalise(xml: string): string {
  // The fixture root is fixed, so its thumbprint and DER stay as they are.
  const ids = new Map<string, string>();
  return xml
    .replaceAll(CHALLENGE, '{{CHALLENGE}}')
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => {
      if (!ids.has(id)) ids.set(id, `{{ID-${ids.size + 1}}}`);
      return ids.get(id)!;
    });
}

describe('golden SyncML for representative profiles', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(name, () => {
      const actual = goldenMessage(c.form, c.d);
      const file = path.join(GOLDEN_DIR, `${name}.xml`);
      if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
      expect(actual).toBe(readFileSync(file, 'utf8'));
    });
  }
  it('re-issue on an existing node (Replace, no node Add)', () => {
    const actual = goldenMessage('modern', CASES['device-scope'].d, 'replace');
    const file = path.join(GOLDEN_DIR, 'device-scope-reissue.xml');
    if (process.env.UPDATE_GOLDEN) writeFileSync(file, actual);
    expect(actual).toBe(readFileSync(file, 'utf8'));
  });
});
