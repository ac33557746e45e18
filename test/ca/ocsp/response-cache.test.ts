import { describe, expect, it } from 'vitest';
import { ResponseCache, type CachedResponse } from '../../../src/ca/ocsp/response-cache.js';

const entry = (n: number): CachedResponse => ({
  der: Uint8Array.of(n),
  statusKey: 'good',
  responderCertificate: new Uint8Array(0),
  producedAt: new Date(0),
  thisUpdate: new Date(0),
  nextUpdate: new Date(0),
  etag: `"${n}"`,
});

describe('OCSP response cache', () => {
  it('holds at most maxEntries, evicting the least recently used', () => {
    const c = new ResponseCache(3);
    for (const n of [1, 2, 3]) c.set(`k${n}`, entry(n));
    expect(c.get('k1')?.etag).toBe('"1"'); // k1 is now the most recently used
    c.set('k4', entry(4));
    expect(c.size).toBe(3);
    expect(c.get('k2')).toBeUndefined();
    expect(['k1', 'k3', 'k4'].map((k) => c.get(k)?.etag)).toEqual(['"1"', '"3"', '"4"']);
    c.delete('k3');
    expect(c.size).toBe(2);
  });
});
