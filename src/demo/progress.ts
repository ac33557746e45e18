// One line per demo step: `[windows] enrolled identity ... ok`, or
// `... FAILED: why`. A failed step throws DemoStepError so the run can say
// which step broke and exit 1.

export class DemoStepError extends Error {
  constructor(
    readonly scope: string,
    readonly step: string,
    readonly reason: string,
  ) {
    super(`[${scope}] ${step}: ${reason}`);
  }
}

export type Step = <T>(scope: string, label: string, fn: () => Promise<T>, done?: (value: T) => string) => Promise<T>;

/** A step runner writing to `out`; `done` may add a detail after "ok" (e.g. the subject). */
export function progress(out: NodeJS.WritableStream): Step {
  return async (scope, label, fn, done) => {
    let value;
    try {
      value = await fn();
    } catch (e) {
      const reason = e instanceof DemoStepError ? e.reason : e instanceof Error ? e.message : String(e);
      out.write(`[${scope}] ${label} ... FAILED: ${reason}\n`);
      throw e instanceof DemoStepError ? e : new DemoStepError(scope, label, reason);
    }
    const detail = done?.(value);
    out.write(`[${scope}] ${label} ... ok${detail ? ` (${detail})` : ''}\n`);
    return value;
  };
}
