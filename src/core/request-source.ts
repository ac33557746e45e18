import { AsyncLocalStorage } from 'node:async_hooks';

// The client address of the HTTP request being handled, for code that has no
// request object (the audit log counts unauthenticated refusals per source).
// The gateway's first middleware runs every request inside withRequestSource;
// Express 5's body parsers keep the context.

const current = new AsyncLocalStorage<string>();

export function withRequestSource<T>(source: string, fn: () => T): T {
  return current.run(source, fn);
}

/** The client address (as Express sees it: the socket peer, `trust proxy` is off), or null outside a request. */
export function requestSource(): string | null {
  return current.getStore() ?? null;
}
