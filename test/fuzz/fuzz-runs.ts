// Shared knobs for the property-based (fast-check) fuzz tests. `npm test`
// runs each property a few dozen times so the suite stays fast; `npm run
// test:fuzz` sets FUZZ_RUNS (default there 2000) to run the same properties
// many more times. FUZZ_SEED replays a failing run fast-check reported.

export function runs(base: number): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : base;
}

export const fuzzOptions = (base: number) => ({
  numRuns: runs(base),
  ...(process.env.FUZZ_SEED !== undefined && { seed: Number(process.env.FUZZ_SEED) }),
});

/** Generous per-input time bound: the parsers work in milliseconds; this only catches blow-ups. */
export const PER_INPUT_MS = 500;

/** The outcome of a parser call: its value, or the error it threw. */
export function outcome<T>(f: () => T): { ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number } {
  const started = performance.now();
  try {
    const value = f();
    return { ok: true, value, ms: performance.now() - started };
  } catch (error) {
    return { ok: false, error, ms: performance.now() - started };
  }
}
