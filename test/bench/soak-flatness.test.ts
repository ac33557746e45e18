import { describe, expect, it } from 'vitest';
import { flatness, type SoakSample } from '../../bench/lib/soak.js';

// The soak's memory criterion (issue 13): the last third's RSS peak and heap
// low point within 10% of the second third's. A GC sawtooth passes; a climb fails.

const samples = (rss: (t: number) => number, heap: (t: number) => number): SoakSample[] =>
  Array.from({ length: 61 }, (_, i) => ({ t: i * 10, rssMiB: rss(i * 10), cpuMs: 0, heapUsedMiB: heap(i * 10), heapTotalMiB: null, externalMiB: null, operations: 0, errors: 0 }));

describe('soak flatness', () => {
  it('passes a repeating major-GC sawtooth after start-up', () => {
    const saw = (t: number) => (t % 150) / 150; // 0..1 every 150 s
    const f = flatness(samples((t) => (t < 60 ? 150 + t : 200 + 60 * saw(t)), (t) => 50 + 90 * saw(t)));
    expect(f.flat, f.verdict).toBe(true);
    expect(f.verdict).toMatch(/^flat: RSS peak/);
  });

  it('allows a sampled heap low point a few MiB above the last one (the 10 s sample is not the post-GC size)', () => {
    // The 300 s run that set the slack: lows 55.8 then 61.5 MiB, no growth.
    const f = flatness(samples(() => 250, (t) => (t < 400 ? 55.8 : 61.5)));
    expect(f.flat, f.verdict).toBe(true);
    expect(flatness(samples(() => 250, (t) => (t < 400 ? 55.8 : 65))).flat).toBe(false);
  });

  it('fails a steady RSS climb, and a heap floor that climbs under a flat RSS', () => {
    const climb = flatness(samples((t) => 180 + t * 0.2, () => 50));
    expect(climb.flat).toBe(false);
    expect(climb.verdict).toMatch(/^NOT flat/);
    const leak = flatness(samples(() => 250, (t) => 40 + t * 0.1));
    expect(leak.flat).toBe(false);
  });
});

describe('soak flatness on the post-GC heap', () => {
  it('reads the heap after the last major collection when the gateway reports it, not the sampled heap used', () => {
    // Sampled heap used climbs (a busy last third), the post-GC floor does not: flat.
    const busy = samples(() => 250, (t) => 40 + t * 0.1).map((x) => ({ ...x, heapAfterGcMiB: 48 }));
    expect(flatness(busy).flat, flatness(busy).verdict).toBe(true);
    // The post-GC floor climbs: not flat, whatever the sampled heap says.
    const leak = samples(() => 250, () => 50).map((x) => ({ ...x, heapAfterGcMiB: 40 + x.t * 0.1 }));
    expect(flatness(leak).flat).toBe(false);
  });
});
