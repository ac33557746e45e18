import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router, type Response } from 'express';

// The admin console (operations issue #14, item 4): a static page and a small
// vanilla ES module that calls /api/v1 with the admin token it keeps in a
// JavaScript variable. The server side is only these three files: the token
// never reaches a URL, a cookie or web storage, and nothing here needs it.
//
// The files sit next to this module (src/console in development, dist/console
// after `npm run build`, which copies them: scripts/copy-console-assets.mjs)
// and are read once, at start, so a missing file stops the gateway with a
// message instead of a 404 later.

export const CONSOLE_ASSETS = ['index.html', 'console.js', 'console.css'] as const;

const TYPES: Record<(typeof CONSOLE_ASSETS)[number], string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/** Only our own script, style and API; no inline code, no framing. */
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** The directory the assets are served from (next to this module, in src/ or dist/). */
export function consoleAssetDir(): string {
  return fileURLToPath(new URL('.', import.meta.url));
}

function loadAssets(dir: string): Map<string, Buffer> {
  const assets = new Map<string, Buffer>();
  for (const name of CONSOLE_ASSETS) {
    try {
      assets.set(name, readFileSync(path.join(dir, name)));
    } catch (e) {
      throw new Error(`admin console file ${name} is missing in ${dir} (run \`npm run build\`, which copies src/console/*.{html,js,css} to dist/console)`, { cause: e });
    }
  }
  return assets;
}

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', CONSOLE_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
}

/**
 * Mounted at /console (`app.use('/console', consoleRoutes())`): GET /console
 * redirects to /console/, which is index.html; console.js and console.css
 * beside it; anything else under /console is a 404.
 */
export function consoleRoutes(dir = consoleAssetDir()): Router {
  const assets = loadAssets(dir);
  const r = Router({ strict: true });
  const send = (name: (typeof CONSOLE_ASSETS)[number]) => (_req: unknown, res: Response) => {
    securityHeaders(res);
    res.setHeader('Content-Type', TYPES[name]);
    // The page is always fetched anew (a new version never mixes with a cached one); scripts and styles revalidate.
    res.setHeader('Cache-Control', name === 'index.html' ? 'no-store' : 'no-cache');
    res.send(assets.get(name));
  };
  r.get('/', (req, res, next) => {
    // Relative links in the page need the trailing slash.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) return res.redirect(301, `${req.baseUrl}/`);
    next();
  });
  r.get(['/', '/index.html'], send('index.html'));
  r.get('/console.js', send('console.js'));
  r.get('/console.css', send('console.css'));
  r.use((_req, res) => {
    securityHeaders(res);
    res.status(404).type('text/plain').send('not found');
  });
  return r;
}
