import express, { Router, type Express } from 'express';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { productionAdapters } from '../../src/adapters/index.js';
import { END_ENTITY_REVOCATION_REASONS, PLATFORMS } from '../../src/core/model.js';
import { apiDoc } from '../../src/http/admin/api-doc.js';
import { buildOpenApiDocument, liveRoutes } from '../../src/http/admin/openapi.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// The OpenAPI document at GET /api/v1/openapi.json (operations issue #14,
// item 8) against the gateway that serves it: every route under /api/v1 that
// Express routes (walked here with this file's own walker, not the one that
// builds the document) is in it, everything in it is served, it is a valid
// OpenAPI 3.1 document whose JSON Schemas compile, and its schemas say what the
// handlers enforce.

type Doc = { openapi: string; info: Record<string, unknown>; paths: Record<string, Record<string, any>>; components: any; security: unknown };
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

let t: TestGateway;
let doc: Doc;

beforeAll(async () => {
  // The adapters `mdmgw serve` mounts: Windows, Apple and Android.
  t = await startTestGateway({ adapters: productionAdapters() });
  doc = await t.api.ok('GET', '/openapi.json');
}, 60_000);
afterAll(async () => {
  await t.stop();
});

/** Every route of an Express app as `METHOD /path/:param`, following mounted routers. */
function expressRoutes(app: Express): string[] {
  const out: string[] = [];
  const walk = (stack: any[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) out.push(`${m.toUpperCase()} ${prefix}${layer.route.path}`);
      } else if (layer.handle?.stack) {
        // A mount path this walker cannot read would hide routes: fail rather than skip them.
        if (typeof layer.rawPath !== 'string') throw new Error(`a router mounted at ${String(layer.rawPath)}`);
        walk(layer.handle.stack, layer.rawPath === '/' ? prefix : prefix + layer.rawPath);
      }
    }
  };
  walk((app as any).router.stack, '');
  return out;
}

/** The document's operations in the same form (`GET /api/v1/devices/:id`). */
function documentedOperations(d: Doc): string[] {
  return Object.entries(d.paths).flatMap(([p, ops]) =>
    Object.keys(ops)
      .filter((m) => METHODS.includes(m))
      .map((m) => `${m.toUpperCase()} /api/v1${p.replace(/\{([^}]+)\}/g, ':$1')}`),
  );
}

/** What the drift check reports: served but undocumented, and documented but not served. */
function drift(served: string[], documented: string[]) {
  const admin = served.filter((r) => r.split(' ')[1]!.startsWith('/api/v1/'));
  return { missing: admin.filter((r) => !documented.includes(r)).sort(), notServed: documented.filter((r) => !admin.includes(r)).sort() };
}

describe('GET /api/v1/openapi.json', () => {
  it('needs the admin token', async () => {
    const res = await fetch(`${t.url}/api/v1/openapi.json`);
    expect(res.status).toBe(401);
    const wrong = await fetch(`${t.url}/api/v1/openapi.json`, { headers: { authorization: 'Bearer not-the-admin-token' } });
    expect(wrong.status).toBe(401);
  });

  it('documents every route under /api/v1 and nothing else', () => {
    const served = expressRoutes(t.gw.app);
    // The walker sees all three ways admin routes are mounted: core routers, an adapter's admin router, the app itself.
    expect(served).toEqual(expect.arrayContaining(['POST /api/v1/devices', 'PUT /api/v1/apple/push-certificate', 'GET /api/v1/ca', 'GET /api/v1/health']));
    const { missing, notServed } = drift(served, documentedOperations(doc));
    expect(missing, `routes missing from the OpenAPI document (add apiDoc({...}) beside the handler): ${missing.join(', ')}`).toEqual([]);
    expect(notServed, `documented operations no route serves: ${notServed.join(', ')}`).toEqual([]);
    expect(documentedOperations(doc).length).toBeGreaterThanOrEqual(45);
  });

  it('reaches a handler for every documented operation (none falls through to the API 404)', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    for (const op of documentedOperations(doc)) {
      const [method, path] = op.split(' ') as [string, string];
      // Ids nobody has and an empty body: each handler answers for itself (400, 404, 200), nothing is created.
      const r = await t.api.call(method, path.slice('/api/v1'.length).replace(/:[A-Za-z]+/g, (p) => (p === ':kind' ? 'devices' : id)), ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined);
      expect(r.body?.error, `${op} answered ${r.status}`).not.toBe('no such API endpoint');
      expect(r.status, op).toBeLessThan(500);
    }
  });

  it('is an OpenAPI 3.1 document: info, paths, bearer security, responses and path parameters on every operation', () => {
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    const ids = new Set<string>();
    for (const [p, ops] of Object.entries(doc.paths)) {
      expect(p).toMatch(/^\/[A-Za-z0-9\-._/{}]+$/);
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${p}`;
        expect(METHODS, name).toContain(method);
        expect(op.summary, name).toEqual(expect.any(String));
        expect(ids.has(op.operationId), `${name}: operationId ${op.operationId} is not unique`).toBe(false);
        ids.add(op.operationId);
        const statuses = Object.keys(op.responses);
        expect(statuses.some((s) => /^2\d\d$/.test(s)), `${name} has no 2xx response`).toBe(true);
        expect(statuses, name).toContain('401');
        for (const r of Object.values<any>(op.responses)) expect(r.description, name).toEqual(expect.any(String));
        const pathParams = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        expect(op.parameters.filter((x: any) => x.in === 'path').map((x: any) => x.name), name).toEqual(pathParams);
        for (const x of op.parameters.filter((x: any) => x.in === 'path')) expect(x.required, name).toBe(true);
      }
    }
  });

  it('embeds JSON Schemas (2020-12) that compile', () => {
    const ajv = new Ajv2020({ strict: true, validateFormats: false });
    let compiled = 0;
    const compile = (where: string, schema: any) => {
      const resolved = schema?.$ref ? doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] : schema;
      expect(resolved, `${where}: ${schema?.$ref} resolves`).toBeDefined();
      expect(() => ajv.compile(resolved), where).not.toThrow();
      compiled++;
    };
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${p}`;
        if (op.requestBody) compile(`${name} body`, op.requestBody.content['application/json'].schema);
        for (const x of op.parameters) compile(`${name} ${x.name}`, x.schema);
        for (const [s, r] of Object.entries<any>(op.responses)) if (r.content) compile(`${name} ${s}`, r.content['application/json'].schema);
      }
    }
    expect(compiled).toBeGreaterThan(100);
  });
});

describe('the schemas say what the handlers enforce', () => {
  const ajv = new Ajv2020({ strict: true, validateFormats: false });
  const bodySchema = (path: string, method: string) => doc.paths[path]![method].requestBody.content['application/json'].schema;
  const queryParam = (path: string, name: string) => doc.paths[path]!.get.parameters.find((x: any) => x.name === name);

  it('a body the document closes to unknown fields is one the route refuses them in (the declared schema is the parsed one)', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    // Ignores a body it cannot use rather than refusing it (its only field is an optional flag).
    const lenient = ['POST /apple/devices/{id}/sync'];
    const closed = (schema: any): boolean => schema.additionalProperties === false || (Array.isArray(schema.anyOf) && schema.anyOf.every(closed));
    const probed: string[] = [];
    for (const [p, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${p}`;
        if (!op.requestBody || lenient.includes(name)) continue;
        expect(closed(op.requestBody.content['application/json'].schema), `${name}: its body schema allows unknown fields`).toBe(true);
        const r = await t.api.call(method.toUpperCase(), p.replace(/\{[^}]+\}/g, id), { openapiProbe: 1 });
        expect(r.status, `${name} took an unknown field: ${JSON.stringify(r.body)}`).toBe(400);
        probed.push(name);
      }
    }
    expect(probed.length).toBeGreaterThanOrEqual(15);
  });

  it('POST /devices: platform is required, one of the platforms the route takes', async () => {
    const schema = bodySchema('/devices', 'post');
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'platform']));
    expect(schema.properties.platform.enum).toEqual([...PLATFORMS]);
    const validate = ajv.compile(schema);

    const bad = { name: 'kiosk-1', platform: 'blackberry' };
    expect(validate(bad)).toBe(false);
    const refused = await t.api.call('POST', '/devices', bad);
    expect(refused.status).toBe(400);
    expect(refused.body.issues.map((i: any) => i.path)).toEqual(['platform']);

    const missing = { name: 'kiosk-1' };
    expect(validate(missing)).toBe(false);
    expect((await t.api.call('POST', '/devices', missing)).status).toBe(400);

    // An unknown field: the document says additionalProperties: false, the route refuses it.
    const extra = { name: 'kiosk-1', platform: 'android', colour: 'red' };
    expect(validate(extra)).toBe(false);
    expect((await t.api.call('POST', '/devices', extra)).status).toBe(400);

    for (const platform of PLATFORMS) {
      const good = { name: `kiosk-${platform}`, platform };
      expect(validate(good), platform).toBe(true);
      expect((await t.api.call('POST', '/devices', good)).status, platform).toBe(201);
    }
  });

  it('POST /devices/{id}/block: reason is one of the end-entity revocation reasons, and optional', async () => {
    const op = doc.paths['/devices/{id}/block']!.post;
    expect(op.requestBody.required).toBe(false);
    expect(op.requestBody.content['application/json'].schema.properties.reason.enum).toEqual([...END_ENTITY_REVOCATION_REASONS]);
    const device = await t.api.ok('POST', '/devices', { name: 'laptop-9', platform: 'windows' });
    const refused = await t.api.call('POST', `/devices/${device.id}/block`, { reason: 'bogus' });
    expect(refused.status).toBe(400);
    expect((await t.api.call('POST', `/devices/${device.id}/block`)).status).toBe(200);
  });

  it('GET /enrollments: limit is an integer 1..500 with default 50', async () => {
    const limit = queryParam('/enrollments', 'limit');
    expect(limit).toMatchObject({ in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 50 * 10, default: 50 } });
    expect((await t.api.call('GET', `/enrollments?limit=${limit.schema.maximum}`)).status).toBe(200);
    expect((await t.api.call('GET', `/enrollments?limit=${limit.schema.maximum + 1}`)).status).toBe(400);
    expect((await t.api.call('GET', `/enrollments?limit=${limit.schema.minimum - 1}`)).status).toBe(400);
  });

  it('GET /certificates: the status enum and the query parameters are the ones the route takes', async () => {
    const status = queryParam('/certificates', 'status');
    for (const s of status.schema.enum) expect((await t.api.call('GET', `/certificates?status=${s}`)).status, s).toBe(200);
    expect((await t.api.call('GET', '/certificates?status=bogus')).status).toBe(400);
    expect(queryParam('/certificates', 'limit').description).toBe('a whole number 1..1000');
    // The route refuses unknown parameters: every one it takes is documented.
    const names = doc.paths['/certificates']!.get.parameters.map((x: any) => x.name);
    expect(names.sort()).toEqual(['cursor', 'deviceId', 'expiringWithinDays', 'limit', 'profileId', 'status', 'userId']);
    expect((await t.api.call('GET', '/certificates?colour=red')).status).toBe(400);
  });
});

describe('the drift check itself', () => {
  function appWith(configure: (admin: Router) => void): Express {
    const app = express();
    const admin = Router();
    configure(admin);
    app.use('/api/v1', admin);
    app.get('/healthz', (_req, res) => res.end());
    return app;
  }

  it('names a route without a declaration, and converts paths, parameters and schemas', () => {
    const app = appWith((r) => {
      r.post('/widgets/:widgetId/parts', apiDoc({ tag: 'Widgets', summary: 'Add a part', body: z.strictObject({ size: z.enum(['s', 'm']) }), query: z.object({ dryRun: z.boolean().optional() }), responses: { 201: 'the part', 404: 'unknown widget' } }), (_req, res) => res.end());
      r.get('/widgets', (_req, res) => res.end());
    });
    const d = buildOpenApiDocument(liveRoutes(app)) as unknown as Doc;
    expect(drift(expressRoutes(app), documentedOperations(d))).toEqual({ missing: ['GET /api/v1/widgets'], notServed: [] });
    const op = d.paths['/widgets/{widgetId}/parts']!.post;
    expect(op.parameters).toEqual([
      { name: 'widgetId', in: 'path', required: true, schema: { type: 'string' } },
      { name: 'dryRun', in: 'query', required: false, schema: { type: 'boolean' } },
    ]);
    expect(op.requestBody.content['application/json'].schema).toEqual({ type: 'object', properties: { size: { type: 'string', enum: ['s', 'm'] } }, required: ['size'], additionalProperties: false });
    expect(op.responses['404'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expect(Object.keys(op.responses).sort()).toEqual(['201', '401', '404']);
    // Outside /api/v1 is not the admin API.
    expect(Object.keys(d.paths)).toEqual(['/widgets/{widgetId}/parts']);
  });
});
