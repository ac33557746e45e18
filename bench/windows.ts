// `node --import tsx bench/windows.ts [--quick]`: only the Windows OMA-DM
// session figures of `npm run bench` (bench/lib/windows-checkins.ts), against
// the gateway in its own process; BENCH_CPU_PROF=dir profiles the gateway.
import { apiOf, startGatewayProcess } from './lib/server-process.js';
import { windowsCheckinBench } from './lib/windows-checkins.js';
import { benchUser } from './lib/checkins.js';

const QUICK = process.argv.includes('--quick');
// --sessions N: only the one-device sessions with nothing to do, N of them (for a profile dominated by them).
const SESSIONS = Number(process.argv[process.argv.indexOf('--sessions') + 1] ?? 0) || 0;
const gw = await startGatewayProcess({ env: { MDMGW_CLIENT_CERT_HEADER: 'X-Client-Cert', MDMGW_LOG_LEVEL: 'info' } });
try {
  const api = apiOf(gw);
  const user = await benchUser(api);
  const r = await windowsCheckinBench(gw.url, api, gw.cpuMs, { userId: user.id, upn: 'bench@contoso.com', n: SESSIONS || (QUICK ? 100 : 400), ...(!SESSIONS && { devices: 64 }), expectInstalls: 3 });
  console.log(JSON.stringify(r, null, 2));
} finally {
  await gw.stop();
}
