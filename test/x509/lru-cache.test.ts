import { describe, expect, it } from 'vitest';
import { LruCache } from '../../src/x509/lru-cache.js';

describe('LruCache', () => {
  it('keeps at most its capacity, evicting the least recently used', () => {
    const c = new LruCache<string, number>(3);
    c.set('a', 1);
    c.set('b', 2);
    c.set('c', 3);
    expect(c.get('a')).toBe(1); // a is now the most recent: b goes next
    c.set('d', 4);
    expect(c.size).toBe(3);
    expect(c.get('b')).toBeUndefined();
    expect([c.get('a'), c.get('c'), c.get('d')]).toEqual([1, 3, 4]);
    for (let i = 0; i < 1000; i++) c.set(`k${i}`, i);
    expect(c.size).toBe(3);
  });

  it('getOrSet builds a missing value once and caches null results too', () => {
    const c = new LruCache<string, number | null>(2);
    let made = 0;
    const make = () => {
      made++;
      return null;
    };
    expect(c.getOrSet('x', make)).toBeNull();
    expect(c.getOrSet('x', make)).toBeNull();
    expect(made).toBe(1);
    expect(() => new LruCache(0)).toThrow(/capacity/);
  });
});
