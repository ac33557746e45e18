import type { Express, RequestHandler } from 'express';
import { z } from 'zod';
import { routeDocOf, type ResponseDoc, type RouteDoc } from './api-doc.js';

// The OpenAPI 3.1 document of the admin API (operations issue #14, item 8),
// served at GET /api/v1/openapi.json behind the admin token like the rest of
// /api/v1: it maps the whole admin surface, which an internet-facing gateway
// has no reason to show an anonymous caller.
//
// Built from the running app, not from a table: the routes are read from
// Express's router stack (so a gateway without the Apple adapter documents no
// Apple routes), each with the apiDoc() declaration beside its handler, and
// the body and query schemas converted from zod 4 by z.toJSONSchema() to JSON
// Schema 2020-12, OpenAPI 3.1's dialect.

export const API_PREFIX = '/api/v1';
const OPENAPI_VERSION = '3.1.0';
/** info.version: the admin API's version (the /api/v1 in every path), not the gateway's release. */
const API_VERSION = '1';

export interface LiveRoute {
  method: string;
  /** Express's path template, e.g. /api/v1/devices/:id. */
  path: string;
  doc: RouteDoc | undefined;
}

interface StackLayer {
  route?: { path: unknown; methods: Record<string, boolean>; stack: { handle: unknown }[] };
  handle?: { stack?: StackLayer[] };
  rawPath?: unknown;
}

const joinPath = (prefix: string, p: string) => (prefix + (p === '/' ? '' : p)).replace(/\/{2,}/g, '/') || '/';

/** Every route of the app (method + path template), with its declaration; router mounts followed into. */
export function liveRoutes(app: Express): LiveRoute[] {
  const out: LiveRoute[] = [];
  const walk = (stack: StackLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        if (typeof layer.route.path !== 'string') continue;
        const path = joinPath(prefix, layer.route.path);
        const doc = routeDocOf(layer.route.stack.map((l) => l.handle));
        for (const [m, on] of Object.entries(layer.route.methods)) if (on && m !== '_all') out.push({ method: m, path, doc });
      } else if (Array.isArray(layer.handle?.stack) && typeof layer.rawPath === 'string') {
        walk(layer.handle.stack, joinPath(prefix, layer.rawPath));
      }
    }
  };
  walk((app.router as unknown as { stack: StackLayer[] }).stack, '');
  return out;
}

/** Express's `/devices/:id` as OpenAPI's `/devices/{id}`, and the parameter names. */
export function openApiPath(expressPath: string): { path: string; params: string[] } {
  const params: string[] = [];
  const path = expressPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path, params };
}

/** JSON Schema 2020-12 of what a client sends (io: input: before defaults and transforms). */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

function queryParameters(query: z.ZodType): object[] {
  const s = jsonSchema(query) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: s.required?.includes(name) ?? false,
    ...(typeof schema.description === 'string' && { description: schema.description }),
    schema,
  }));
}

const ERROR_REF = { $ref: '#/components/schemas/Error' };

function response(status: number, r: ResponseDoc): object {
  const description = typeof r === 'string' ? r : r.description;
  if (status === 204) return { description };
  const schema = typeof r === 'string' ? (status >= 400 ? ERROR_REF : {}) : jsonSchema(r.schema);
  return { description, content: { 'application/json': { schema } } };
}

function operation(method: string, path: string, params: string[], doc: RouteDoc): object {
  const responses: Record<string, object> = {};
  for (const [status, r] of Object.entries(doc.responses)) responses[status] = response(Number(status), r);
  responses['401'] ??= response(401, 'no admin token, or a wrong one');
  return {
    operationId: `${method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
    tags: [doc.tag],
    summary: doc.summary,
    ...(doc.description && { description: doc.description }),
    parameters: [
      ...params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
      ...(doc.query ? queryParameters(doc.query) : []),
    ],
    ...(doc.body && {
      requestBody: { required: doc.bodyRequired ?? true, content: { 'application/json': { schema: jsonSchema(doc.body) } } },
    }),
    responses,
  };
}

/** The document for every declared route under /api/v1; undeclared routes are left out (the test names them). */
export function buildOpenApiDocument(routes: LiveRoute[]): Record<string, unknown> {
  const paths: Record<string, Record<string, object>> = {};
  const tags = new Set<string>();
  for (const r of routes) {
    if (!r.doc || !r.path.startsWith(`${API_PREFIX}/`)) continue;
    const { path, params } = openApiPath(r.path.slice(API_PREFIX.length));
    (paths[path] ??= {})[r.method] = operation(r.method, path, params, r.doc);
    tags.add(r.doc.tag);
  }
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'mdm-gateway admin API',
      version: API_VERSION,
      description: 'Users, devices, groups, certificate profiles, assignments, challenges, certificates, enrollments, audit and health (docs/api.md).',
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    // Relative to where the document is served: right on the main listener and on --admin-listen alike.
    servers: [{ url: API_PREFIX }],
    security: [{ bearerAuth: [] }],
    tags: [...tags].sort().map((name) => ({ name })),
    paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'The admin token: MDMGW_ADMIN_TOKEN, or DATA/admin-token.' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: { type: 'string' },
            issues: { type: 'array', items: { type: 'object', required: ['path', 'message'], properties: { path: { type: 'string' }, message: { type: 'string' } } } },
          },
        },
      },
    },
  };
}

/** GET /openapi.json: built on the first call, once every route is mounted, then served from memory. */
export function openApiRoute(app: Express): RequestHandler {
  let document: string | undefined;
  return (_req, res) => {
    document ??= JSON.stringify(buildOpenApiDocument(liveRoutes(app)));
    res.type('application/json').send(document);
  };
}
