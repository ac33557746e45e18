import type { AdapterServices } from './adapter.js';
import type { SecretBox } from './secret-box.js';
import type { PlatformStateStore } from './storage/storage.js';

// An adapter's secrets and plain settings, both in the settings table under the
// adapter's name. A secret is stored sealed (AES-256-GCM, DATA/secrets.key) as
// `<adapter>.secret.<key>` (where existing databases have them, e.g. the Apple
// push certificate's key). A settings key may not start with the secret prefix,
// so settings can neither read a secret's ciphertext nor overwrite a sealed one.

export const SECRET_KEY_PREFIX = 'secret.';

export function adapterSecrets(storage: PlatformStateStore, box: SecretBox, adapterName: string): AdapterServices['secrets'] {
  const key = (k: string) => `${adapterName}.${SECRET_KEY_PREFIX}${k}`;
  return {
    get: async (k) => {
      const sealed = await storage.getSetting(key(k));
      return sealed === null ? null : box.open(sealed);
    },
    put: (k, value) => storage.putSetting(key(k), box.seal(value)),
    seal: (value) => box.seal(value),
    open: (sealed) => {
      try {
        return box.open(sealed);
      } catch {
        return null; // tampered or sealed under another key: the caller mints a new one
      }
    },
  };
}

export function adapterSettings(storage: PlatformStateStore, adapterName: string): AdapterServices['settings'] {
  const key = (k: string) => {
    // A programming error, never a device's doing: no settings key is taken from a request as it is.
    if (k.startsWith(SECRET_KEY_PREFIX)) throw new Error(`settings key "${k}": the "${SECRET_KEY_PREFIX}" namespace belongs to secrets`);
    return `${adapterName}.${k}`;
  };
  return {
    get: async (k) => storage.getSetting(key(k)),
    put: async (k, value) => storage.putSetting(key(k), value),
  };
}
