import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificatesInPem } from '../../src/ca/ca-chain.js';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { loadOrCreateCaMaterial } from '../../src/ca/key-files.js';
import { CaRegistry, localEntry, trustForProfile } from '../../src/ca/registry.js';
import { UpstreamChainKeeper, UPSTREAM_CHAINS_DIR } from '../../src/ca/upstream/chain-keeper.js';
import { sha256Fingerprint } from '../../src/ca/upstream/upstream-certificate.js';
import { upstreamChainFrom, UpstreamChainError } from '../../src/ca/upstream/upstream-chain.js';
import { IssuanceRefused, type UpstreamConnector } from '../../src/core/issuer.js';
import { createLogger } from '../../src/log.js';
import { enterprisePki, type EnterprisePki } from '../helpers/enterprise-pki.js';
import { tempDir } from '../helpers/openssl.js';

// An upstream's published certificates (GetCACert, /cacerts) in the order the
// registry keeps, against a real two-level hierarchy made by `openssl ca`;
// and the chain keeper's pin, cache and last-good-chain rules.

const run = promisify(execFile);
let dir: string;
let pki: EnterprisePki;
let root: Uint8Array;
let issuing: Uint8Array;
let ra: Uint8Array;
let registry: CaRegistry;

const one = async (file: string) => certificatesInPem(await readFile(file, 'utf8'), file)[0]!;
const hex = (list: readonly Uint8Array[]) => list.map((c) => Buffer.from(c).toString('hex'));

beforeAll(async () => {
  dir = await tempDir('upstream-chain-');
  pki = await enterprisePki(path.join(dir, 'pki'));
  root = await one(pki.rootFile);
  issuing = await one(pki.intermediateFile);
  // The upstream's RA: an end-entity certificate of the issuing CA, as NDES has.
  await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'ra.key'), '-out', path.join(dir, 'ra.csr'), '-subj', '/CN=Upstream RA']);
  ra = await one(await pki.sign(path.join(dir, 'ra.csr'), { extensions: 'v3_sub_not_ca' }));
  const material = await loadOrCreateCaMaterial(path.join(dir, 'ours'), { organization: 'Ours' });
  registry = new CaRegistry(localEntry('default', new CertificateAuthority(material.root), { intermediates: [], root: material.root.certificate }));
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('upstreamChainFrom', () => {
  it('orders RA, root and issuing CA in any order as issuing CA then root, leaving the RA out', async () => {
    const c = await upstreamChainFrom([root, ra, issuing]);
    expect(hex(c.chain)).toEqual(hex([issuing, root]));
    expect(hex([c.root])).toEqual(hex([root]));
    expect(c.rootSelfSigned).toBe(true);
  });

  it('with caFingerprint the pinned certificate is the issuing CA; a pin that is not there is refused naming it and what came', async () => {
    expect(hex((await upstreamChainFrom([ra, root, issuing], sha256Fingerprint(issuing))).chain)).toEqual(hex([issuing, root]));
    // Pinning the root makes the root the issuing CA (a one-level upstream).
    expect(hex((await upstreamChainFrom([ra, root, issuing], sha256Fingerprint(root))).chain)).toEqual(hex([root]));
    const e = await upstreamChainFrom([ra, issuing, root], 'AB:'.repeat(31) + 'AB').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UpstreamChainError);
    expect((e as Error).message).toMatch(/^caFingerprint mismatch: .* pinned (ab){32}; it returned .*Contoso Issuing CA 1/);
  });

  it('an upstream that does not publish its root (NDES: RA and issuing CA only): the top is the issuing CA, not self-signed', async () => {
    const c = await upstreamChainFrom([ra, issuing]);
    expect(hex(c.chain)).toEqual(hex([issuing]));
    expect(c.rootSelfSigned).toBe(false);
  });

  it('nothing, or only end-entity certificates, is refused', async () => {
    await expect(upstreamChainFrom([])).rejects.toThrow(/no certificate/);
    await expect(upstreamChainFrom([ra, ra])).rejects.toThrow(/no CA certificate/);
  });
});

/** An upstream whose published certificates the test sets (the keeper's only view of it). */
function upstream(name: string, caFingerprint?: string): UpstreamConnector & { publishes: Uint8Array[] | Error } {
  const u = {
    name,
    kind: 'scep' as const,
    pollSeconds: 60,
    caFingerprint,
    publishes: [] as Uint8Array[] | Error,
    issue: async () => Promise.reject(new Error('not used')),
    poll: async () => Promise.reject(new Error('not used')),
    caCertificates: () => [],
    lastContact: () => null,
    fetchCaCertificates: async () => {
      if (u.publishes instanceof Error) throw u.publishes;
      return u.publishes;
    },
  };
  return u;
}

describe('UpstreamChainKeeper', () => {
  it('registers a fetched chain, keeps it in DATA/upstream-chains/<name>.pem, and a mismatching fetch later does not replace it', async () => {
    const dataDir = path.join(dir, 'keeper-1');
    const u = upstream('corp', sha256Fingerprint(issuing));
    u.publishes = [ra, issuing, root];
    const keeper = new UpstreamChainKeeper({ upstreams: new Map([['corp', u]]), registry, dataDir, log: createLogger('silent') });
    expect(keeper.missingReason('corp')).toMatch(/has not been fetched yet/);
    await keeper.refresh();
    expect(keeper.missingReason('corp')).toBeNull();
    expect(hex(registry.get('corp')!.chain)).toEqual(hex([issuing, root]));
    const trust = trustForProfile(registry, 'DEFAULT ROOTS')({ issuer: 'corp' })!;
    expect(hex(certificatesInPem(trust.rootPem, 'root'))).toEqual(hex([root]));
    expect(hex(certificatesInPem(trust.intermediatesPem, 'intermediates'))).toEqual(hex([issuing]));
    expect(hex(certificatesInPem(await readFile(path.join(dataDir, UPSTREAM_CHAINS_DIR, 'corp.pem'), 'utf8'), 'cache'))).toEqual(hex([issuing, root]));

    u.publishes = [root]; // the pinned issuing CA is gone: someone else answers
    await keeper.refresh();
    expect(keeper.state('corp')!.lastError?.message).toContain('caFingerprint mismatch');
    expect(hex(registry.get('corp')!.chain)).toEqual(hex([issuing, root]));
  });

  it('a cached chain is used when the upstream is down, unless the pin changed since', async () => {
    const dataDir = path.join(dir, 'keeper-2');
    const first = upstream('cached', sha256Fingerprint(issuing));
    first.publishes = [issuing, root];
    const reg = () => new CaRegistry(registry.get('default')!);
    await new UpstreamChainKeeper({ upstreams: new Map([['cached', first]]), registry: reg(), dataDir, log: createLogger('silent') }).refresh();

    const down = upstream('cached', sha256Fingerprint(issuing));
    down.publishes = new IssuanceRefused('cached', 'unavailable', 'upstream SCEP server unreachable: connect ECONNREFUSED');
    const r1 = reg();
    const k1 = new UpstreamChainKeeper({ upstreams: new Map([['cached', down]]), registry: r1, dataDir, log: createLogger('silent') });
    await k1.loadCached();
    await k1.refresh();
    expect(hex(r1.get('cached')!.chain)).toEqual(hex([issuing, root]));
    expect(k1.state('cached')).toMatchObject({ source: 'cache', lastError: { message: expect.stringContaining('ECONNREFUSED') } });

    const repinned = upstream('cached', sha256Fingerprint(root).replace(/^./, (c) => (c === '0' ? '1' : '0')));
    repinned.publishes = new IssuanceRefused('cached', 'unavailable', 'down');
    const r2 = reg();
    const k2 = new UpstreamChainKeeper({ upstreams: new Map([['cached', repinned]]), registry: r2, dataDir, log: createLogger('silent') });
    await k2.loadCached();
    expect(r2.has('cached')).toBe(false);
    expect(k2.missingReason('cached')).toMatch(/cached chain .* is not usable: caFingerprint mismatch/);
  });

  it('on demand (a check-in, GetCACert for the name): a missing chain is fetched, at most once per retry interval; a known one is not fetched again', async () => {
    const u = upstream('lazy');
    let fetches = 0;
    u.publishes = new IssuanceRefused('lazy', 'unavailable', 'upstream SCEP server unreachable: connect ECONNREFUSED');
    const counted = { ...u, fetchCaCertificates: () => (fetches++, u.fetchCaCertificates()) };
    const r = new CaRegistry(registry.get('default')!);
    const throttled = new UpstreamChainKeeper({ upstreams: new Map([['lazy', counted]]), registry: r, dataDir: path.join(dir, 'keeper-4'), log: createLogger('silent') });
    await throttled.ensure(['lazy', 'not-an-upstream']);
    await throttled.ensure(['lazy']);
    expect(fetches).toBe(1);
    expect(throttled.missingReason('lazy')).toContain('ECONNREFUSED');

    const eager = new UpstreamChainKeeper({ upstreams: new Map([['lazy', counted]]), registry: r, dataDir: path.join(dir, 'keeper-4'), log: createLogger('silent'), retryMs: 0 });
    await eager.ensure(['lazy']);
    u.publishes = [issuing, root]; // the upstream is back
    await eager.ensure(['lazy']);
    expect(fetches).toBe(3);
    expect(r.has('lazy')).toBe(true);
    await eager.ensure(['lazy']);
    expect(fetches).toBe(3);
  });

  it('a corrupt cache file is not fatal: the upstream is simply unknown until fetched', async () => {
    const dataDir = path.join(dir, 'keeper-3');
    const u = upstream('broken');
    u.publishes = [issuing, root];
    await new UpstreamChainKeeper({ upstreams: new Map([['broken', u]]), registry: new CaRegistry(registry.get('default')!), dataDir, log: createLogger('silent') }).refresh();
    await writeFile(path.join(dataDir, UPSTREAM_CHAINS_DIR, 'broken.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const r = new CaRegistry(registry.get('default')!);
    const k = new UpstreamChainKeeper({ upstreams: new Map([['broken', u]]), registry: r, dataDir, log: createLogger('silent') });
    await k.loadCached();
    expect(r.has('broken')).toBe(false);
    await k.refresh();
    expect(r.has('broken')).toBe(true);
  });
});
