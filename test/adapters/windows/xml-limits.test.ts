import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { windowsAdapter } from '../../../src/adapters/windows/index.js';
import { WINDOWS_XML_LIMITS } from '../../../src/core/input-limits.js';
import { startTestGateway, type TestGateway } from '../../helpers/gateway.js';
import { WindowsSimulator } from '../../../src/sim/windows.js';

// XML bounds on the Windows routes (issue #15): the pre-scan refuses a SyncML
// or SOAP message nested past 32 levels or holding more than 5,000 elements
// before fast-xml-parser builds a tree (and before the recursive conversion to
// El could overflow the stack), with 400 (OMA-DM) or a MessageFormat SOAP
// fault (enrollment).

let t: TestGateway;
let sim: WindowsSimulator;

beforeAll(async () => {
  t = await startTestGateway({ adapters: [windowsAdapter] });
  const user = await t.api.ok('POST', '/users', { userPrincipalName: 'xml@contoso.com', email: 'xml@contoso.com', displayName: 'Xml' });
  const token = await t.api.ok('POST', '/enrollment-tokens', { userId: user.id, platform: 'windows' });
  sim = new WindowsSimulator({ baseUrl: t.url, upn: 'xml@contoso.com', password: token.token });
  expect((await sim.enroll()).fault).toBeUndefined();
});
afterAll(async () => {
  await t?.stop();
});

const deepSyncML = (depth: number) => sim.message('1', 1, `<Alert><CmdID>1</CmdID><Data>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</Data></Alert>`);

async function timed<T>(f: () => Promise<T>): Promise<{ r: T; ms: number }> {
  const started = performance.now();
  const r = await f();
  return { r, ms: performance.now() - started };
}

describe('Windows XML bounds', () => {
  it('refuses SyncML nested 60,000 deep (within the 512 KiB body) with 400, fast', async () => {
    const body = deepSyncML(60_000);
    expect(body.length).toBeLessThan(WINDOWS_XML_LIMITS.maxBodyBytes);
    const { r, ms } = await timed(() => sim.post(body));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toBe(`nested deeper than ${WINDOWS_XML_LIMITS.maxDepth}`);
    expect(ms).toBeLessThan(1000);
  });

  it('refuses SyncML with more than 5,000 elements with 400', async () => {
    const body = sim.message('1', 1, '<Final/>'.repeat(WINDOWS_XML_LIMITS.maxElements));
    const { r, ms } = await timed(() => sim.post(body));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toBe(`more than ${WINDOWS_XML_LIMITS.maxElements} elements`);
    expect(ms).toBeLessThan(1000);
  });

  it('answers a deep SOAP enrollment message with a MessageFormat fault, not a 5xx', async () => {
    const body = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>${'<x>'.repeat(50_000)}${'</x>'.repeat(50_000)}</s:Body></s:Envelope>`;
    for (const svc of ['Discovery.svc', 'Policy.svc', 'Enrollment.svc']) {
      const { r, ms } = await timed(async () => {
        const res = await fetch(`${t.url}/EnrollmentServer/${svc}`, { method: 'POST', headers: { 'content-type': 'application/soap+xml' }, body });
        return { status: res.status, text: await res.text() };
      });
      expect(r.status).toBe(400);
      expect(r.text).toContain('s:MessageFormat');
      expect(r.text).toContain(`nested deeper than ${WINDOWS_XML_LIMITS.maxDepth}`);
      expect(ms).toBeLessThan(1000);
    }
  });

  it('answers 413 to a body over 512 KiB', async () => {
    const res = await fetch(`${t.url}/EnrollmentServer/Discovery.svc`, { method: 'POST', body: ' '.repeat(WINDOWS_XML_LIMITS.maxBodyBytes + 1) });
    expect(res.status).toBe(413);
  });
});
