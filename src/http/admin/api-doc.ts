import type { RequestHandler } from 'express';
import type { z } from 'zod';

// The OpenAPI declaration of one admin route, written beside its handler:
//
//   r.post('/users', apiDoc({ tag: 'Directory', summary: 'Create a user', body: userBody, responses: { 201: 'the user' } }), handler)
//
// apiDoc() returns a pass-through middleware carrying the declaration, so the
// method and path in the document are Express's own (http/admin/openapi.ts
// reads them from the live router), and the body and query schemas are the
// very zod schemas the handler parses with. A route without one is missing
// from the document, which test/e2e/openapi.test.ts fails naming it.

/** A response: its description, or a description and the zod schema of its JSON body. */
export type ResponseDoc = string | { description: string; schema: z.ZodType };

export interface RouteDoc {
  /** Groups operations in viewers (`Directory`, `Certificates`, `Apple`, ...). */
  tag: string;
  summary: string;
  description?: string;
  /** The JSON body the handler parses (with parseBody or safeParse). */
  body?: z.ZodType;
  /** False when an empty body is accepted (the handler parses `body ?? {}`); default true. */
  bodyRequired?: boolean;
  /** The query the handler accepts, one parameter per property. */
  query?: z.ZodType;
  /** By status. 401 (no or wrong token) is added to every operation; 4xx/5xx bodies are the Error schema. */
  responses: Record<number, ResponseDoc>;
}

const DOC = Symbol('mdmgw.apiDoc');

type Documented = RequestHandler & { [DOC]: RouteDoc };

/**
 * Typed `any` on purpose: an `any` argument gives Express's overloads nothing
 * to infer from, so `req.params` in the handlers after it is still typed from
 * the path (a RequestHandler here would widen them to a plain dictionary).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function apiDoc(doc: RouteDoc): any {
  const pass: RequestHandler = (_req, _res, next) => next();
  return Object.assign(pass, { [DOC]: doc });
}

/** The declaration among a route's handlers, if any. */
export function routeDocOf(handlers: readonly unknown[]): RouteDoc | undefined {
  for (const h of handlers) {
    if (typeof h === 'function' && DOC in h) return (h as Documented)[DOC];
  }
  return undefined;
}
