import { androidDevice, appleDevice, windowsDevice, type DemoUser, type DeviceOutcome } from './devices.js';
import { Cleanup, startDemoEnvironment, uploadPushCertificate, type DemoEnvironment } from './environment.js';
import { DemoStepError, progress, type Step } from './progress.js';
import { formatTable, rowFor, type DemoRow } from './report.js';

// `mdmgw demo`: a gateway on a temporary data dir, a user, a Wi-Fi
// client-certificate profile assigned to that user, and a Windows, an iOS and
// an Android device enrolled through their simulators. Exit 0 only when all
// three hold their Wi-Fi certificate and the gateway recorded each.

export interface DemoOptions {
  json: boolean;
  /** Keep the gateway's data here (new or empty directory) instead of a temporary dir that is removed. */
  dataDir?: string;
  /** The table (or JSON); progress lines go here too unless `json`. */
  out: NodeJS.WritableStream;
  /** Progress lines under --json, and the failure summary. */
  err: NodeJS.WritableStream;
}

export const DEMO_USER = { userPrincipalName: 'ada@contoso.com', email: 'ada@contoso.com', displayName: 'Ada Lovelace' };

/** The Wi-Fi profile: device scope, a subject and SANs per device, clientAuth (the default EKU). */
export const DEMO_PROFILE = {
  name: 'Contoso Wi-Fi (EAP-TLS)',
  scope: 'device',
  subjectName: 'CN={{DeviceName}},OU={{Platform}},O=Contoso Wi-Fi',
  subjectAlternativeNames: [{ type: 'upn', value: '{{UserPrincipalName}}' }],
  validityDays: 365,
};

async function setUp(env: DemoEnvironment, step: Step): Promise<{ user: DemoUser; profileId: string }> {
  await step('admin', 'APNs push certificate uploaded', () => uploadPushCertificate(env), () => `APNs is simulated locally at ${env.apns.url}: no Apple server is contacted`);
  const user = await step('admin', `user ${DEMO_USER.userPrincipalName} created`, () => env.admin.ok('POST', '/users', DEMO_USER));
  const profile = await step('admin', `Wi-Fi client-certificate profile "${DEMO_PROFILE.name}" created`, () => env.admin.ok('POST', '/profiles', DEMO_PROFILE));
  await step('admin', 'profile assigned to the user (reaches every device of hers)', () => env.admin.ok('POST', '/assignments', { profileId: profile.id, userId: user.id }));
  return { user: { id: user.id, upn: DEMO_USER.userPrincipalName }, profileId: profile.id };
}

/** Runs the demo; resolves to the exit code. `cleanup` is the caller's, so Ctrl-C can run it too. */
export async function runDemo(o: DemoOptions, cleanup: Cleanup): Promise<number> {
  const step = progress(o.json ? o.err : o.out);
  try {
    const where = o.dataDir ? 'the data dir given (kept afterwards)' : 'a temporary data dir (removed afterwards)';
    const env = await step('gateway', `started on ${where}`, () => startDemoEnvironment(cleanup, o.dataDir), (e) => `${e.url}, ${e.dataDir}`);
    const { user, profileId } = await setUp(env, step);
    const devices: DeviceOutcome[] = [];
    for (const flow of [windowsDevice, appleDevice, androidDevice]) devices.push(await flow(env, step, user));
    const rows: DemoRow[] = [];
    for (const d of devices) rows.push(await step(d.platform, 'certificate recorded by the gateway, delivery installed', () => rowFor(env.admin, profileId, d), (r) => `serial ${r.serialNumber}`));
    if (o.json) o.out.write(`${JSON.stringify({ ok: true, devices: rows, ...(o.dataDir && { dataDir: env.dataDir }) }, null, 2)}\n`);
    else {
      o.out.write(`\n${formatTable(rows)}\n`);
      o.out.write(
        o.dataDir
          ? `The data is kept in ${env.dataDir}: \`mdmgw serve --data-dir ${env.dataDir}\`, then GET /api/v1/enrollments/<transaction id> (admin token in ${env.dataDir}/admin-token) shows each enrollment's timeline.\n`
          : 'Each transaction id is one SCEP enrollment; run `mdmgw demo --data-dir DIR` to keep the data and trace them with GET /api/v1/enrollments/<transaction id>.\n',
      );
      o.out.write('All three devices got their Wi-Fi certificate.\n');
    }
    return 0;
  } catch (e) {
    const where = e instanceof DemoStepError ? `[${e.scope}] ${e.step}` : 'the demo';
    const why = e instanceof DemoStepError ? e.reason : e instanceof Error ? e.message : String(e);
    if (o.json) o.out.write(`${JSON.stringify({ ok: false, failedStep: where, reason: why })}\n`);
    o.err.write(`demo failed at ${where}: ${why}\n`);
    return 1;
  } finally {
    await cleanup.run();
  }
}
