import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { androidAdapter } from '../../src/adapters/android/index.js';
import { scepEnroll } from '../../src/sim/scep-client.js';
import { AndroidAgentSim } from '../../src/sim/android.js';
import { launchChromium, screenshotPath } from '../helpers/browser.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import { tamper } from '../helpers/interop.js';

// The admin console end to end in real headless Chromium (Debian's chromium
// through playwright-core) against a real gateway: seeded through the admin
// API, real SCEP enrollments and the Android agent simulator; every view is
// checked for the seeded data and photographed (test-artifacts/console/*.png).
// One browser and one page for the whole file: a launch is slow on small CI
// machines, and the page keeping its state between steps is the point.

// Browser globals, for the page.evaluate callbacks only (the project compiles without the DOM lib).
declare const document: any, window: any, localStorage: any, sessionStorage: any, history: any;

const XSS_NAME = '<img src=x onerror="window.__xss=1">';
const LONG = 120_000;

let t: TestGateway;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

let laptop: { id: string };
let xssDevice: { id: string };
let printers: { id: string; name: string };
let wifi: { id: string; name: string };
let androidDeviceId: string;
const laptopSerials: string[] = [];
let issuedTx: string;
let refusedTx: string;

const SUBJECT = 'CN=laptop-42, OU=MDM, O=Contoso';

async function seed(): Promise<void> {
  const api = t.api;
  laptop = await api.ok('POST', '/devices', { name: 'laptop-42', platform: 'windows', serialNumber: 'SN-42' });
  xssDevice = await api.ok('POST', '/devices', { name: XSS_NAME, platform: 'windows' });
  // Retiring (it never checks in to have its profiles removed): the devices view says so.
  await api.ok('POST', `/devices/${xssDevice.id}/retire`, {}, 200);
  printers = await api.ok('POST', '/profiles', { name: 'Printers', scope: 'device', subjectName: 'CN={{DeviceName}},OU=MDM,O=Contoso', keySize: 2048 });
  await api.ok('POST', '/assignments', { profileId: printers.id, deviceId: laptop.id });
  const challenge = async () => (await api.ok('POST', '/challenges', { profileId: printers.id, deviceId: laptop.id })).challenge as string;
  for (let i = 0; i < 2; i++) {
    const r = await scepEnroll({ scepUrl: t.scepUrl, challenge: await challenge(), subject: SUBJECT });
    if (r.status !== 'SUCCESS') throw new Error(`seed enrollment: ${r.status} ${r.failInfoText ?? ''}`);
    issuedTx = r.transactionId;
  }
  for (const c of await api.ok('GET', `/certificates?deviceId=${laptop.id}`)) laptopSerials.push(c.serialNumber);
  const refused = await scepEnroll({ scepUrl: t.scepUrl, challenge: tamper(await challenge()), subject: SUBJECT });
  if (refused.status !== 'FAILURE') throw new Error('the tampered challenge was not refused');
  refusedTx = refused.transactionId;

  // An Android agent: token enrollment, its policy, SCEP per profile, "installed" reported back.
  const user = await api.ok('POST', '/users', { userPrincipalName: 'ada@contoso.com', email: 'ada@contoso.com', displayName: 'Ada' });
  wifi = await api.ok('POST', '/profiles', {
    name: 'Contoso Wi-Fi',
    scope: 'user',
    subjectName: 'CN={{UserPrincipalName}},O=Contoso',
    subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }],
  });
  await api.ok('POST', '/assignments', { profileId: wifi.id, userId: user.id });
  const agent = new AndroidAgentSim(t.url);
  const answer = await agent.enroll((await api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'android' })).enrollmentUrl);
  androidDeviceId = answer.deviceId;
  const policy = await agent.fetchPolicy();
  await agent.applyPolicy(policy.document!);
}

const shot = (name: string) => page.screenshot({ path: screenshotPath(name), fullPage: true });

async function openView(name: string): Promise<void> {
  await page.click(`nav [data-view="${name}"]`);
  await page.locator(`nav [data-view="${name}"][aria-current="page"]`).waitFor();
  await page.waitForFunction(() => !document.getElementById('view')!.hasAttribute('aria-busy'));
  // No placeholder leaks into the page (a missing value is "—"; no seeded value contains these words).
  expect(await textOf('#view')).not.toMatch(/null|undefined|NaN|\[object Object\]/);
}

const textOf = async (selector: string) => (await page.locator(selector).first().textContent())?.trim() ?? '';

beforeAll(async () => {
  t = await startTestGateway({ adapters: [androidAdapter] });
  await seed();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(30_000);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    // API refusals (401, 404, 409) are logged by the browser as failed loads; anything else (a script error, a CSP violation) counts.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text());
  });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

describe('admin console in Chromium', () => {
  it('a wrong token shows "invalid admin token" and stays on the login screen', { timeout: LONG }, async () => {
    await page.goto(`${t.url}/console/`);
    expect(await textOf('#login')).toContain('Reloading or closing the page signs you out');
    await page.fill('#token', 'not-the-admin-token-0123456789');
    await page.click('#login-form button[type="submit"]');
    await page.locator('#login-error', { hasText: 'invalid admin token' }).waitFor();
    expect(await page.isVisible('#login')).toBe(true);
    expect(await page.isVisible('#app')).toBe(false);
    expect(await page.isVisible('#nav')).toBe(false);
    await shot('01-login-invalid-token');
  });

  it('signs in with the admin token and shows component health', { timeout: LONG }, async () => {
    await page.fill('#token', t.gw.adminToken);
    await page.press('#token', 'Enter');
    await page.locator('nav [data-view="health"][aria-current="page"]').waitFor();
    await page.waitForFunction(() => !document.getElementById('view')!.hasAttribute('aria-busy'));
    expect(await page.isVisible('#login')).toBe(false);
    // GET /api/v1/health is another piece of work: either it is there and every component is shown, or the console says it is not.
    const health = await t.api.call('GET', '/health');
    if (health.status === 404) {
      expect(await textOf('#health-unavailable')).toContain('health not available');
    } else {
      expect(health.status).toBe(200);
      const table = await textOf('#health-table');
      const list = health.body.components ?? health.body.checks;
      const names = Array.isArray(list) ? list.map((c: any) => c.name ?? c.component) : Object.keys(list);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names) expect(table).toContain(name);
    }
    await shot('02-health');
  });

  it('devices: each profile delivery and certificate state; a device name with markup is text', { timeout: LONG }, async () => {
    await openView('devices');
    // The laptop: two certificates from the Printers profile, both valid.
    const laptopCard = page.locator(`article[data-device-id="${laptop.id}"]`);
    expect(await laptopCard.locator('.device-name').textContent()).toBe('laptop-42');
    for (const serial of laptopSerials) {
      const row = laptopCard.locator(`table.certificates tr[data-serial="${serial}"]`);
      expect(await row.locator('td.state').textContent()).toBe('valid');
      expect(await row.textContent()).toContain('Printers');
    }
    // The Android device: the Wi-Fi profile delivered and installed, with its certificate.
    const android = page.locator(`article[data-device-id="${androidDeviceId}"]`);
    const delivery = android.locator(`table.deliveries tr[data-profile-id="${wifi.id}"]`);
    expect(await delivery.locator('td.state').textContent()).toBe('installed');
    expect(await delivery.textContent()).toContain('Contoso Wi-Fi');
    const androidCerts: any[] = await t.api.ok('GET', `/certificates?deviceId=${androidDeviceId}`);
    const wifiCert = androidCerts.find((c) => c.profileId === wifi.id);
    expect(wifiCert).toBeDefined();
    expect(await android.locator(`table.certificates tr[data-serial="${wifiCert.serialNumber}"] td.state`).textContent()).toBe('valid');

    // The markup in a name is shown as it is and never becomes an element.
    const xss = page.locator(`article[data-device-id="${xssDevice.id}"]`);
    expect(await xss.locator('.device-name').textContent()).toBe(XSS_NAME);
    expect(await page.locator('#view img').count()).toBe(0);
    expect(await page.evaluate(() => window.__xss)).toBeUndefined();
    expect(await xss.locator('p.muted').first().textContent()).toMatch(/retiring since .+ \(profiles being removed\)/);
    expect(await laptopCard.textContent()).not.toMatch(/retir/);
    await shot('03-devices');
  });

  it('recent enrollments, newest first; a row opens its timeline', { timeout: LONG }, async () => {
    await openView('enrollments');
    const rows = page.locator('#enrollments-table tbody tr');
    const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-transaction-id')));
    const listed: any[] = await t.api.ok('GET', '/enrollments?limit=100');
    expect(ids).toEqual(listed.map((r) => r.transactionId));
    expect(ids).toContain(issuedTx);
    expect(await textOf(`tr[data-transaction-id="${issuedTx}"]`)).toContain('laptop-42');
    expect(await page.locator(`tr[data-transaction-id="${refusedTx}"] td.state`).textContent()).toBe('refused');
    expect(await textOf(`tr[data-transaction-id="${refusedTx}"]`)).toContain('CHALLENGE_');

    await page.click(`tr[data-transaction-id="${refusedTx}"] button`);
    await page.locator('#timeline-transaction', { hasText: refusedTx }).waitFor();
    expect(await textOf('#timeline-status')).toBe('refused');
    const steps = await textOf('#timeline-table');
    expect(steps).toContain('scep.received');
    expect(steps).toContain('crp.refused');
    await shot('04-enrollment-timeline-refused');

    await page.click(`tr[data-transaction-id="${issuedTx}"] button`);
    await page.locator('#timeline-transaction', { hasText: issuedTx }).waitFor();
    expect(await textOf('#timeline-status')).toBe('issued');
    expect(await textOf('#timeline-table')).toContain('crp.passed');
  });

  it('profiles with their deployment counts ("—" when the gateway has no report)', { timeout: LONG }, async () => {
    await openView('profiles');
    for (const p of [printers, wifi]) {
      const row = page.locator(`#profiles-table tr[data-profile-id="${p.id}"]`);
      expect(await row.locator('td').first().textContent()).toBe(p.name);
      const report = await t.api.call('GET', `/profiles/${p.id}/report`);
      const deliveries = (await row.locator('td.report-deliveries').textContent())!;
      const certificates = (await row.locator('td.report-certificates').textContent())!;
      if (report.status === 404) {
        expect([deliveries, certificates]).toEqual(['—', '—']);
      } else {
        expect(report.status).toBe(200);
        for (const [state, n] of Object.entries(report.body.deliveries)) if (typeof n === 'number') expect(deliveries).toContain(`${state} ${n}`);
        for (const [status, n] of Object.entries(report.body.certificates)) if (typeof n === 'number') expect(certificates).toContain(`${status} ${n}`);
      }
    }
    await shot('05-profiles');
  });

  it('revokes a certificate through the UI, with the chosen reason, after a confirmation', { timeout: LONG }, async () => {
    await openView('certificates');
    const serial = laptopSerials[0]!;
    const row = page.locator(`#certificates-table tr[data-serial="${serial}"]`);
    expect(await row.locator('td.state').textContent()).toBe('valid');
    await row.locator('select').selectOption('keyCompromise');
    const dialogs: string[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d.message());
      void d.accept();
    });
    await row.locator('button', { hasText: 'Revoke' }).click();
    await page.locator('#notice', { hasText: `certificate ${serial} revoked (keyCompromise)` }).waitFor();
    expect(dialogs).toHaveLength(1);
    expect(dialogs[0]).toContain(serial);
    const after = await t.api.ok('GET', `/certificates/${serial}`);
    expect(after.revokedAt).not.toBeNull();
    expect(after.revocationReason).toBe('keyCompromise');
    expect(await page.locator(`#certificates-table tr[data-serial="${serial}"] td.state`).textContent()).toBe('revoked');
    await shot('06-certificate-revoked');
  });

  it('dismissing the confirmation revokes nothing', { timeout: LONG }, async () => {
    const serial = laptopSerials[1]!;
    page.once('dialog', (d) => void d.dismiss());
    await page.locator(`#certificates-table tr[data-serial="${serial}"] button`, { hasText: 'Revoke' }).click();
    await page.waitForTimeout(500);
    expect((await t.api.ok('GET', `/certificates/${serial}`)).revokedAt).toBeNull();
  });

  it('shows the API\'s 409 when the certificate was revoked meanwhile', { timeout: LONG }, async () => {
    const serial = laptopSerials[1]!;
    // Revoked behind the page's back: the row still offers the button.
    await t.api.ok('POST', `/certificates/${serial}/revoke`, { reason: 'superseded' }, 200);
    page.once('dialog', (d) => void d.accept());
    await page.locator(`#certificates-table tr[data-serial="${serial}"] button`, { hasText: 'Revoke' }).click();
    await page.locator('#error', { hasText: `certificate ${serial} is already revoked` }).waitFor();
    // The list is reloaded: the row now says revoked, with the other admin's reason.
    expect(await page.locator(`#certificates-table tr[data-serial="${serial}"] td.state`).textContent()).toBe('revoked');
    expect(await textOf(`#certificates-table tr[data-serial="${serial}"]`)).toContain('superseded');
    expect(await textOf('#notice')).toBe('');
    expect((await t.api.ok('GET', `/certificates/${serial}`)).revocationReason).toBe('superseded');
    await shot('07-certificate-already-revoked');
  });

  it('the token is never in the address, a cookie, web storage or the document', { timeout: LONG }, async () => {
    const token = t.gw.adminToken;
    expect(page.url()).not.toContain(token);
    const seen = await page.evaluate(() => ({
      cookie: document.cookie,
      local: JSON.stringify({ ...localStorage }),
      session: JSON.stringify({ ...sessionStorage }),
      html: document.documentElement.outerHTML,
      input: document.getElementById('token').value as string,
      history: history.length,
    }));
    for (const where of [seen.cookie, seen.local, seen.session, seen.html, seen.input]) expect(where).not.toContain(token);
    expect((await page.context().cookies()).map((c) => c.value).join()).not.toContain(token);
    expect(pageErrors).toEqual([]);
  });

  it('a reload forgets the token and asks for it again', { timeout: LONG }, async () => {
    await page.reload();
    await page.locator('#login').waitFor({ state: 'visible' });
    expect(await page.isVisible('#app')).toBe(false);
    expect(await textOf('#login-error')).toBe('');
  });
});
