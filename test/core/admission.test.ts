import { describe, expect, it } from 'vitest';
import { FailureBudget, InFlightLimit } from '../../src/core/admission.js';

describe('InFlightLimit', () => {
  it('admits up to max at once; a release frees exactly one slot even when called twice', () => {
    const l = new InFlightLimit(2);
    const a = l.tryEnter()!;
    const b = l.tryEnter()!;
    expect(l.tryEnter()).toBeNull();
    a();
    a();
    expect(l.inFlight).toBe(1);
    expect(l.tryEnter()).not.toBeNull();
    expect(l.tryEnter()).toBeNull();
    b();
    expect(l.inFlight).toBe(1);
  });
});

describe('FailureBudget', () => {
  it('lets a source fail `budget` times, then says how long until one failure is forgiven', () => {
    let now = 0;
    const f = new FailureBudget({ budget: 3, refillMs: 10_000, maxSources: 100 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect(f.retryAfterMs('10.0.0.1')).toBe(0);
      f.failed('10.0.0.1');
    }
    expect(f.retryAfterMs('10.0.0.1')).toBe(10_000);
    expect(f.retryAfterMs('10.0.0.2')).toBe(0);
    now += 4_000;
    expect(f.retryAfterMs('10.0.0.1')).toBe(6_000);
    now += 6_000;
    expect(f.retryAfterMs('10.0.0.1')).toBe(0);
    f.failed('10.0.0.1');
    expect(f.retryAfterMs('10.0.0.1')).toBe(10_000);
    now += 1_000_000; // never more than the budget back
    for (let i = 0; i < 3; i++) f.failed('10.0.0.1');
    expect(f.retryAfterMs('10.0.0.1')).toBe(10_000);
  });

  it('is off with budget 0, and remembers at most maxSources sources', () => {
    const off = new FailureBudget({ budget: 0, refillMs: 10_000, maxSources: 10 });
    for (let i = 0; i < 100; i++) off.failed('x');
    expect(off.retryAfterMs('x')).toBe(0);
    const small = new FailureBudget({ budget: 1, refillMs: 10_000, maxSources: 2 }, () => 0);
    small.failed('a');
    small.failed('b');
    small.failed('c'); // evicts a
    expect(small.retryAfterMs('a')).toBe(0);
    expect(small.retryAfterMs('c')).toBe(10_000);
  });
});
