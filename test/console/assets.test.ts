import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_ASSETS, consoleRoutes } from '../../src/console/routes.js';
import { requireChromium } from '../helpers/browser.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// The console's files as the gateway serves them (headers, paths), how the
// build ships them, and what the script may not do. The browser tests are in
// console.browser.test.ts.

const run = promisify(execFile);
const SRC = path.resolve(import.meta.dirname, '../../src/console');

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.stop();
});

const directives = (csp: string | null) => new Map((csp ?? '').split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k!, v.join(' ')]));

describe('console files', () => {
  it('GET /console/ is the page, with a strict CSP and no caching; no token needed', async () => {
    const res = await fetch(`${t.url}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(await readFile(path.join(SRC, 'index.html'), 'utf8'));
    const csp = directives(res.headers.get('content-security-policy'));
    expect(csp.get('default-src')).toBe("'none'");
    expect(csp.get('script-src')).toBe("'self'");
    expect(csp.get('style-src')).toBe("'self'");
    expect(csp.get('connect-src')).toBe("'self'");
    expect(csp.get('img-src')).toBe("'self' data:");
    expect(csp.get('frame-ancestors')).toBe("'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('serves console.js and console.css with their types and the same headers', async () => {
    for (const [name, type] of [
      ['console.js', 'text/javascript; charset=utf-8'],
      ['console.css', 'text/css; charset=utf-8'],
      ['index.html', 'text/html; charset=utf-8'],
    ] as const) {
      const res = await fetch(`${t.url}/console/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await res.text()).toBe(await readFile(path.join(SRC, name), 'utf8'));
    }
  });

  it('GET /console redirects to /console/ (the page links relative to it)', async () => {
    const res = await fetch(`${t.url}/console`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/console/');
  });

  it('anything else under /console is a 404, including the module serving it and paths that climb out', async () => {
    for (const p of ['routes.ts', 'routes.js', 'nope.html', '..%2Fgateway.ts', '%2e%2e/%2e%2e/package.json', 'console.js/x']) {
      const res = await fetch(`${t.url}/console/${p}`);
      expect(res.status, p).toBe(404);
      // fetch resolves %2e%2e before sending: that one leaves /console and gets Express's own 404.
      expect(await res.text(), p).not.toMatch(/mdm-gateway"|import |export /);
    }
  });

  it('the page loads nothing from elsewhere and runs no inline script or style', async () => {
    const html = await readFile(path.join(SRC, 'index.html'), 'utf8');
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    expect(html).not.toMatch(/\sstyle=|<style|\son[a-z]+=/i);
  });

  it('the script never writes markup: no innerHTML, outerHTML, insertAdjacentHTML or document.write', async () => {
    const js = (await readFile(path.join(SRC, 'console.js'), 'utf8')).replace(/^\s*\/\/.*$/gm, '');
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    // ...and keeps the token out of web storage and cookies.
    expect(js).not.toMatch(/localStorage|sessionStorage|document\.cookie/);
  });
});

describe('console build', () => {
  it('npm run build copies the files next to the compiled routes module, where consoleRoutes() reads them', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'mdmgw-console-build-'));
    try {
      await run(process.execPath, [path.resolve(import.meta.dirname, '../../scripts/copy-console-assets.mjs'), out]);
      for (const name of CONSOLE_ASSETS) expect(await readFile(path.join(out, 'console', name), 'utf8')).toBe(await readFile(path.join(SRC, name), 'utf8'));
      const app = express().use('/console', consoleRoutes(path.join(out, 'console')));
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      try {
        const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/console/console.js`);
        expect(res.status).toBe(200);
      } finally {
        server.close();
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    const pkg = JSON.parse(await readFile(path.resolve(import.meta.dirname, '../../package.json'), 'utf8'));
    expect(pkg.scripts.build).toContain('scripts/copy-console-assets.mjs');
  });

  it('a missing file stops the gateway at start with a message saying how to get it', async () => {
    const empty = await mkdtemp(path.join(tmpdir(), 'mdmgw-console-empty-'));
    try {
      expect(() => consoleRoutes(empty)).toThrow(/admin console file index\.html is missing in .*npm run build/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('a missing chromium fails the browser tests naming the Debian package', () => {
    expect(() => requireChromium('/nonexistent/chromium')).toThrow(/Debian package "chromium".*apt-get install chromium/);
  });
});
