/**
 * Counts the requests that reach a gateway's Express app: what the fast paths
 * in front of it (src/http/fast-*.ts) hand on or never took. Returns a
 * function that runs `fn` and says how many of its requests Express saw.
 */
export function expressRequestCounter(app: unknown): (fn: () => Promise<unknown>) => Promise<number> {
  let seen = 0;
  const a = app as { handle: (...args: unknown[]) => unknown };
  const handle = a.handle.bind(a);
  a.handle = (...args: unknown[]) => {
    seen += 1;
    return handle(...args);
  };
  return async (fn) => {
    const before = seen;
    await fn();
    return seen - before;
  };
}
