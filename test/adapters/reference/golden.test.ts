import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { referenceAdapter } from '../../../src/adapters/reference/index.js';
import { device, deviceVpn, userWifi } from '../android/fixtures.js';

// Golden files for the skeleton's render (test/golden/reference/*.json), as
// every adapter has: a copy of the folder copies this test too.
// UPDATE_GOLDEN=1 rewrites them; review the diff before keeping it.

const goldenDir = path.resolve(import.meta.dirname, '../../golden/reference');

function golden(name: string, value: unknown) {
  const file = path.join(goldenDir, name);
  const text = `${JSON.stringify(value, null, 2)}\n`;
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.UPDATE_GOLDEN !== '1') throw new Error(`golden file ${name} is missing; run with UPDATE_GOLDEN=1 and review it`);
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

describe('reference payload (golden)', () => {
  it('renders a user-scope Wi-Fi delivery', () => {
    const p = referenceAdapter.render(device, userWifi);
    expect(p.challenge).toBe(userWifi.challenge);
    golden('user-wifi.json', p);
  });
  it('renders a device-scope VPN delivery with its own SCEP URL and root', () => {
    const p = referenceAdapter.render(device, deviceVpn);
    expect(p.scepUrl).toBe(deviceVpn.scepUrl);
    golden('device-vpn.json', p);
  });
});
