import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

// The V8 heap used right after the last major (mark-sweep-compact)
// collection: the process's live JavaScript data. The heap used at a random
// scrape lands anywhere in the GC sawtooth (tens of MiB apart under load), so
// it cannot tell a leak from a busy minute; this floor climbs only when
// objects are kept (docs/operations.md, docs/performance.md "Soak").
//
// One observer per process (V8's heap is per process, and a test process
// runs several gateways), started by the first reader. The observer's
// callback runs just after the collection's entry is queued, so the figure
// may include a few allocations made since: close enough for a trend.

let afterMajorGc: number | null = null;
let observer: PerformanceObserver | null = null;

function observe(): void {
  if (observer) return;
  observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) afterMajorGc = getHeapStatistics().used_heap_size;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
}

/** Bytes of V8 heap in use after the last major collection; null until one has happened since the first call. */
export function heapUsedAfterMajorGc(): number | null {
  observe();
  return afterMajorGc;
}
