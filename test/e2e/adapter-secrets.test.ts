import { Router } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdapterServices, PlatformAdapter } from '../../src/core/adapter.js';
import { loadOrCreateSecretBox } from '../../src/core/secret-box.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// An adapter's secrets (sealed, e.g. the APNs push key) and its settings
// (plain) share the settings table; settings must not reach a secret
// (architecture issue #8, item 7): not read its ciphertext, not overwrite it.

// A minimal adapter that keeps the services the real gateway built for it.
let services: AdapterServices;
const probe: PlatformAdapter = {
  name: 'probe',
  platforms: [],
  render: () => null,
  enrollmentUrl: (_t, publicUrl) => publicUrl,
  routes: (s) => {
    services = s;
    return Router();
  },
};

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({ adapters: [probe] });
});
afterAll(async () => {
  await t.stop();
});

describe('adapter secrets are a namespace of their own', () => {
  it('settings can neither read a secret nor overwrite it; the secret stays sealed and readable', async () => {
    await services.secrets.put('push-key', 'PRIVATE KEY MATERIAL');
    await expect(services.settings.get('secret.push-key')).rejects.toThrow(/namespace belongs to secrets/);
    await expect(services.settings.put('secret.push-key', 'attacker value')).rejects.toThrow(/namespace belongs to secrets/);
    expect(await services.secrets.get('push-key')).toBe('PRIVATE KEY MATERIAL');
    // Stored sealed, never as plain text.
    const stored = await t.gw.storage.getSetting('probe.secret.push-key');
    expect(stored).not.toBeNull();
    expect(stored).not.toContain('PRIVATE KEY MATERIAL');
  });

  it('ordinary settings still work, apart from secrets of the same name', async () => {
    await services.settings.put('push-key', 'plain');
    await services.secrets.put('push-key', 'sealed value');
    expect(await services.settings.get('push-key')).toBe('plain');
    expect(await services.secrets.get('push-key')).toBe('sealed value');
  });

  it('reads a secret sealed where existing databases keep them (<adapter>.secret.<key>, e.g. the Apple push certificate)', async () => {
    const box = await loadOrCreateSecretBox(t.dataDir);
    await t.gw.storage.putSetting('probe.secret.stored-before', box.seal('from an older gateway'));
    expect(await services.secrets.get('stored-before')).toBe('from an older gateway');
  });
});
