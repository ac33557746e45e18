import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateSecretBox, SECRETS_KEY_FILE } from '../../src/core/secret-box.js';

describe('secret box', () => {
  it('seals with a key kept in the data dir (0600) and opens after a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'secrets-'));
    const box = await loadOrCreateSecretBox(dir);
    const sealed = box.seal('-----BEGIN PRIVATE KEY-----\nabc\n');
    expect(sealed).toMatch(/^sealed:v1:/);
    expect(sealed).not.toContain('PRIVATE KEY');
    expect(box.seal('same')).not.toBe(box.seal('same')); // fresh IV each time
    expect((await stat(path.join(dir, SECRETS_KEY_FILE))).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateSecretBox(dir);
    expect(again.open(sealed)).toBe('-----BEGIN PRIVATE KEY-----\nabc\n');
    expect((await readFile(path.join(dir, SECRETS_KEY_FILE), 'utf8')).trim()).toHaveLength(44);
  });

  it('refuses tampered or foreign ciphertext', async () => {
    const box = await loadOrCreateSecretBox(await mkdtemp(path.join(tmpdir(), 'secrets-')));
    const other = await loadOrCreateSecretBox(await mkdtemp(path.join(tmpdir(), 'secrets-')));
    const sealed = box.seal('topic-key');
    const raw = Buffer.from(sealed.slice('sealed:v1:'.length), 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => box.open(`sealed:v1:${raw.toString('base64')}`)).toThrow();
    expect(() => other.open(sealed)).toThrow();
    expect(() => box.open('plain text')).toThrow(/not a sealed secret/);
  });
});
