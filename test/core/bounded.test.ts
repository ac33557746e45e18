import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AUDIT_BOUNDS, bounded, boundedRecord, TRUNCATED_KEY } from '../../src/core/bounded.js';
import { createLogger } from '../../src/log.js';

describe('bounded (audit and log values)', () => {
  it('cuts strings, arrays, object keys and nesting, each with a visible marker', () => {
    const deep = { a: { b: { c: { d: { e: { f: 'too deep' } } } } } };
    const many = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]));
    const out = bounded({ s: 'é'.repeat(600), list: Array.from({ length: 40 }, (_, i) => i), many, deep, [`${'k'.repeat(100)}`]: 1 }, AUDIT_BOUNDS) as Record<string, any>;
    expect(out.s).toBe(`${'é'.repeat(512)}…(truncated, 1200 bytes)`);
    expect(out.list).toHaveLength(33);
    expect(out.list.at(-1)).toBe('…(truncated, 8 more items)');
    expect(Object.keys(out.many)).toHaveLength(49);
    expect(out.many[TRUNCATED_KEY]).toBe('12 more keys');
    expect(out.deep.a.b.c.d).toBe('…(truncated, nested too deep)');
    expect(Object.keys(out)).toContain(`${'k'.repeat(64)}…(truncated, 100 bytes)`);
  });

  it('leaves small values as they are and makes them JSON-safe', () => {
    const v = { n: 1, b: true, z: null, u: undefined, d: new Date('2020-01-01T00:00:00Z'), bytes: new Uint8Array(3), list: ['x'] };
    expect(bounded(v, AUDIT_BOUNDS)).toEqual({ n: 1, b: true, z: null, d: '2020-01-01T00:00:00.000Z', bytes: '(3 bytes)', list: ['x'] });
  });

  it('caps a whole record: too big after the per-field cuts, it becomes a flagged marker', () => {
    const record = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, 'x'.repeat(500)]));
    const out = boundedRecord(record);
    expect(out.truncated).toBe(true);
    expect(out.bytes).toBeGreaterThan(AUDIT_BOUNDS.bytes);
    expect(Buffer.byteLength(JSON.stringify(out))).toBeLessThanOrEqual(AUDIT_BOUNDS.bytes);
    expect(boundedRecord({ small: 'yes' })).toEqual({ small: 'yes' });
  });

  it('bounds every pino log line, keeping redaction', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => { lines.push(String(c)); cb(); } });
    const log = createLogger('info', sink);
    log.warn({ upn: 'u'.repeat(500_000), nested: { challenge: 'secret', list: Array(100).fill('y') } }, 'refused');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(1);
    expect(lines[0]!.length).toBeLessThan(4 * 1024);
    const line = JSON.parse(lines[0]!);
    expect(line.upn).toMatch(/^u{1024}…\(truncated, 500000 bytes\)$/);
    expect(line.nested.challenge).toBe('[redacted]');
    expect(line.nested.list.at(-1)).toBe('…(truncated, 68 more items)');
  });
  it('censors secret-named fields at any depth, in child bindings too, without pino redaction paths', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => { lines.push(String(c)); cb(); } });
    const log = createLogger('info', sink).child({ token: 'child-secret', adapter: 'a' });
    log.info({ challenge: 'top-secret', deep: { a: { b: [{ privateKey: 'key-secret' }] } }, headers: { authorization: 'Bearer s3cret' }, keep: 'visible' }, 'line');
    await new Promise((r) => setImmediate(r));
    const text = lines.join('');
    for (const secret of ['top-secret', 'key-secret', 's3cret', 'child-secret']) expect(text).not.toContain(secret);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({ challenge: '[redacted]', token: '[redacted]', adapter: 'a', keep: 'visible', headers: { authorization: '[redacted]' } });
    expect(line.deep.a.b[0].privateKey).toBe('[redacted]');
  });
});
