import { describe, expect, it } from 'vitest';
import { RefusalLimiter } from '../../src/core/refusal-limiter.js';

const limits = { windowMs: 1000, perSource: 3, global: 10, maxSources: 4 };

describe('RefusalLimiter', () => {
  it('stores the first rows per source and kind per window, counts the rest, and summarises once', () => {
    const l = new RefusalLimiter(limits);
    const verdicts = Array.from({ length: 5 }, () => l.admit('10.0.0.1', 'x.refused', 100));
    expect(verdicts).toEqual(['store', 'store', 'store', 'count', 'count']);
    expect(l.admit('10.0.0.1', 'y.refused', 100)).toBe('store'); // another kind has its own budget
    expect(l.admit('10.0.0.2', 'x.refused', 100)).toBe('store'); // another source too
    expect(l.drain(500)).toEqual([]); // window still open
    const s = l.drain(1100);
    expect(s).toEqual([{ source: '10.0.0.1', kind: 'x.refused', suppressed: 2, stored: 3, windowStart: new Date(100).toISOString(), windowEnd: new Date(1100).toISOString() }]);
    expect(l.drain(5000)).toEqual([]);
    // A new window starts afresh.
    expect(l.admit('10.0.0.1', 'x.refused', 1200)).toBe('store');
  });

  it('rolls a window over lazily and hands its summary out without a scan', () => {
    const l = new RefusalLimiter(limits);
    for (let i = 0; i < 4; i++) l.admit('a', 'k', 0);
    expect(l.admit('a', 'k', 1000)).toBe('store');
    expect(l.takeReady().map((s) => s.suppressed)).toEqual([1]);
  });

  it('keeps at most maxSources entries, summarising what it evicts', () => {
    const l = new RefusalLimiter({ ...limits, global: 1000 });
    for (let i = 0; i < 4; i++) l.admit('first', 'k', 0); // one suppressed
    for (let i = 0; i < 50; i++) l.admit(`10.0.1.${i}`, 'k', 0);
    expect(l.size).toBe(4);
    expect(l.takeReady()).toMatchObject([{ source: 'first', suppressed: 1 }]);
  });

  it('caps rows over all sources; past the cap refusals are counted per kind only (source *)', () => {
    const l = new RefusalLimiter(limits);
    const stored = Array.from({ length: 30 }, (_, i) => l.admit(`10.0.2.${i}`, 'k', 0)).filter((v) => v === 'store');
    expect(stored).toHaveLength(10);
    expect(l.size).toBeLessThanOrEqual(limits.maxSources);
    const s = l.drain(1000);
    expect(s).toEqual([expect.objectContaining({ source: '*', kind: 'k', suppressed: 20 })]);
  });
});
