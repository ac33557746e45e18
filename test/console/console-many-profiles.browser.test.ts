import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, screenshotPath } from '../helpers/browser.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';

// Issue 13 (branch scale13): GET /profiles pages (1..1000 a request, since
// scale12) and the console follows X-Next-Cursor to list every profile. With
// more profiles than one page holds, the console in real Chromium must show
// all of them, each once, in the API's order, having asked for the second page.

// Browser globals, for the page.evaluate callbacks only (the project compiles without the DOM lib).
declare const document: any;

const PROFILES = 1200;
const LONG = 180_000;

let t: TestGateway;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const profileRequests: string[] = [];

beforeAll(async () => {
  t = await startTestGateway();
  // Through the admin API, 20 at a time (a profile is a versioned record with its spec; no shortcut through storage).
  for (let i = 0; i < PROFILES; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, PROFILES - i) }, (_, j) => t.api.ok('POST', '/profiles', { name: `many ${String(i + j).padStart(4, '0')}`, scope: 'device', subjectName: `CN={{DeviceName}},OU=M${i + j},O=Contoso` })));
  }
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(60_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/api/v1/profiles') profileRequests.push(u.search);
  });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe(`admin console with ${PROFILES} profiles`, () => {
  it('lists every profile through the cursor: each once, in the API order, the second page asked for', { timeout: LONG }, async () => {
    // What the API holds, walked the same way (pages of 1,000).
    const expected: string[] = [];
    let after: string | null = null;
    do {
      const res = await fetch(`${t.api.base}/profiles?limit=1000${after ? `&after=${after}` : ''}`, { headers: { authorization: `Bearer ${t.api.token}` } });
      expected.push(...((await res.json()) as { id: string }[]).map((p) => p.id));
      after = res.headers.get('x-next-cursor');
    } while (after);
    expect(expected).toHaveLength(PROFILES);

    await page.goto(`${t.url}/console/`);
    await page.fill('#token', t.gw.adminToken);
    await page.press('#token', 'Enter');
    await page.locator('nav [data-view="health"][aria-current="page"]').waitFor();
    await page.click('nav [data-view="profiles"]');
    await page.locator('nav [data-view="profiles"][aria-current="page"]').waitFor();
    await page.waitForFunction(() => !document.getElementById('view')!.hasAttribute('aria-busy'));

    const shown = await page.locator('#profiles-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-profile-id')));
    expect(shown).toEqual(expected);
    expect(new Set(shown).size).toBe(PROFILES);
    expect(await page.locator('#view h2').first().textContent()).toBe(`Profiles (${PROFILES})`);
    // The console followed the cursor: a first page of 1,000 and a second one after it.
    const pages = profileRequests.filter((s) => s.includes('limit=1000'));
    expect(pages).toHaveLength(2);
    expect(pages[1]).toMatch(/[?&]after=[A-Za-z0-9_-]+/);
    // The last profile made is on the page (it is on the second API page).
    const lastName = `many ${String(PROFILES - 1).padStart(4, '0')}`;
    expect(await page.locator('#profiles-table tbody tr', { hasText: lastName }).count()).toBe(1);
    await page.screenshot({ path: screenshotPath('many-profiles'), fullPage: false });
    expect(pageErrors).toEqual([]);
  });
});
