import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateLifetime, clockHealth, CLOCK_SKEW_TOLERANCE_MS, EXPIRY_WARNING_DAYS, worst } from '../../src/core/health.js';
import { referenceAdapter } from '../../src/adapters/reference/index.js';
import { GatewayHealth } from '../../src/gateway-health.js';
import { createLogger } from '../../src/log.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// The health evaluations (operations issue #14, item 2): certificate lifetime
// thresholds, clock sanity, and the key check catching a key that does not
// belong to its certificate.

const DAY = 86_400_000;
const now = new Date('2026-12-07T00:00:00.000Z');
const at = (days: number) => new Date(now.getTime() + days * DAY);

describe('certificateLifetime', () => {
  it(`is ok from ${EXPIRY_WARNING_DAYS} days before expiry, a warning under that, an error outside the validity`, () => {
    const life = (notBefore: Date, notAfter: Date) => certificateLifetime('c', 'the thing', { notBefore, notAfter }, now);
    expect(life(at(-1), at(EXPIRY_WARNING_DAYS))).toMatchObject({ status: 'ok', details: { daysToExpiry: EXPIRY_WARNING_DAYS } });
    expect(life(at(-1), at(EXPIRY_WARNING_DAYS - 0.5))).toMatchObject({ status: 'warning', details: { daysToExpiry: EXPIRY_WARNING_DAYS - 1 } });
    expect(life(at(-1), at(0.1)).status).toBe('warning');
    expect(life(at(-10), at(-0.1))).toMatchObject({ status: 'error', message: expect.stringMatching(/expired/) });
    expect(life(at(1), at(100))).toMatchObject({ status: 'error', message: expect.stringMatching(/not valid until/) });
  });
});

describe('clockHealth', () => {
  it('error before the CA was created; warning when behind the database beyond the tolerance; ok otherwise', () => {
    expect(clockHealth(now, at(1), null).status).toBe('error');
    expect(clockHealth(now, at(-1), null).status).toBe('ok');
    expect(clockHealth(now, at(-1), new Date(now.getTime() + CLOCK_SKEW_TOLERANCE_MS - 1000)).status).toBe('ok');
    expect(clockHealth(now, at(-1), new Date(now.getTime() + CLOCK_SKEW_TOLERANCE_MS + 1000)).status).toBe('warning');
    expect(clockHealth(now, at(-1), at(-0.5)).status).toBe('ok');
  });

  it('worst of several is the most severe', () => {
    expect(worst([])).toBe('ok');
    expect(worst(['ok', 'warning', 'ok'])).toBe('warning');
    expect(worst(['warning', 'error', 'ok'])).toBe('error');
  });
});

describe('GatewayHealth key check', () => {
  let t: TestGateway;
  beforeAll(async () => {
    t = await startTestGateway();
  });
  afterAll(async () => {
    await t?.stop();
  });

  const healthWith = (over: Partial<ConstructorParameters<typeof GatewayHealth>[0]>) => {
    const own = generateKeyPairSync('ed25519');
    return new GatewayHealth({
      storage: t.gw.storage,
      root: t.gw.root,
      ra: () => t.gw.ra,
      challengeKey: { privateKey: own.privateKey, publicKey: own.publicKey },
      scepUrl: t.scepUrl,
      adapters: () => [],
      log: createLogger('silent'),
      ...over,
    });
  };

  it('ready with the real keys', async () => {
    expect((await healthWith({}).readiness()).ready).toBe(true);
  });

  it("an adapter's failing health hook is one error component named after it; the others still report", async () => {
    const broken = { ...referenceAdapter, name: 'broken', health: async () => Promise.reject(new Error('vendor API down')) };
    const fine = { ...referenceAdapter, name: 'fine', health: async () => [{ component: 'fine.part', status: 'ok' as const, message: 'fine' }] };
    const report = await healthWith({ adapters: () => [{ adapter: broken, services: {} as never }, { adapter: fine, services: {} as never }] }).report();
    expect(report.components.find((c) => c.component === 'broken')).toMatchObject({ status: 'error', message: expect.stringContaining('vendor API down') });
    expect(report.components.find((c) => c.component === 'fine.part')).toMatchObject({ status: 'ok' });
    expect(report.status).toBe('error');
  });

  it('not ready when a key does not belong to its certificate, naming which', async () => {
    const wrongRa = await healthWith({ ra: () => ({ certificate: t.gw.ra.certificate, key: t.gw.root.key }) }).readiness();
    expect(wrongRa.ready).toBe(false);
    expect(wrongRa.checks.find((c) => c.component === 'keys')!.message).toMatch(/the RA key does not match its certificate/);
    const other = generateKeyPairSync('ed25519');
    const mine = generateKeyPairSync('ed25519');
    const wrongPair = await healthWith({ challengeKey: { privateKey: mine.privateKey, publicKey: other.publicKey } }).readiness();
    expect(wrongPair.ready).toBe(false);
    expect(wrongPair.checks.find((c) => c.component === 'keys')!.message).toMatch(/challenge-signing key pair does not match/);
  });
});
