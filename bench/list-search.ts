// `node --import tsx bench/list-search.ts DATADIR [label]`: gateway CPU ms per
// request of the admin searches that grew with the store (issue 13, branch
// scale12): the expiry report's first and second page and the user search,
// the certificate status lists (scale13),
// on a store seeded by bench/lib/scale.ts (the gateway runs as its own
// process on DATADIR; CPU is its utime+stime from /proc, 10 ms ticks, so each
// figure is the mean over N requests). Run it on copies of one store with the
// code before and after (alternately: the machine is shared).
import { startGatewayProcess } from './lib/server-process.js';
import { runLoad } from './lib/load.js';

const [dataDir, label = ''] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: bench/list-search.ts DATADIR [label]');
const N = Number(process.env.N ?? 40);
const gw = await startGatewayProcess({ dataDir });
const auth = { authorization: `Bearer ${gw.adminToken}` };
async function get(p: string): Promise<{ status: number; next: string | null; rows: number }> {
  const r = await fetch(`${gw.url}/api/v1${p}`, { headers: auth });
  const body = await r.text();
  return { status: r.status, next: r.headers.get('x-next-cursor'), rows: r.status === 200 ? (JSON.parse(body) as unknown[]).length : -1 };
}
try {
  const first = await get('/certificates?expiringWithinDays=30&limit=100');
  const revoked = await get('/certificates?status=revoked&limit=100');
  const probes: [string, string][] = [
    ['GET /certificates?expiringWithinDays=30&limit=100', '/certificates?expiringWithinDays=30&limit=100'],
    ['  the same, second page (cursor)', `/certificates?expiringWithinDays=30&limit=100&cursor=${first.next}`],
    ['GET /users?q=user4242&limit=100', '/users?q=user4242&limit=100'],
    ['GET /users?q=nobody-matches&limit=100', '/users?q=nobody-matches&limit=100'],
    ['GET /users?q=u&limit=100 (matches every user)', '/users?q=u&limit=100'],
    ['GET /users?contains=user4242&limit=100', '/users?contains=user4242&limit=100'],
    // Issue 13, branch scale13: the status lists (0025_revoked_list_index).
    ['GET /certificates?status=revoked&limit=100', '/certificates?status=revoked&limit=100'],
    ['  the same, second page (cursor)', `/certificates?status=revoked&limit=100&cursor=${revoked.next}`],
    ['GET /certificates?status=valid&limit=100', '/certificates?status=valid&limit=100'],
    ['GET /certificates?status=expired&limit=100', '/certificates?status=expired&limit=100'],
    ['GET /users?contains=nobody-matches&limit=100 (one request)', '/users?contains=nobody-matches&limit=100'],
  ];
  for (const [name, p] of probes) {
    const warm = await get(p);
    if (warm.status !== 200) {
      console.log(`${label}\t${name}\tHTTP ${warm.status}`);
      continue;
    }
    const r = await runLoad({ n: N, concurrency: 1, cpuMs: gw.cpuMs, op: async () => void (await get(p)) });
    console.log(`${label}\t${name}\t${r.cpuMsPerOp.toFixed(1)} ms CPU\t(${warm.rows} rows, p50 ${r.latencyMs.p50} ms wall)`);
  }
  // A rare substring followed to the end (since scale13 a request reads at most 5,000 users): CPU for the whole walk.
  const walk = async () => {
    let next: string | null = null;
    let requests = 0;
    do {
      const r = await get(`/users?contains=nobody-matches&limit=100${next ? `&after=${next}` : ''}`);
      next = r.next;
      requests++;
    } while (next);
    return requests;
  };
  const requests = await walk();
  const w = await runLoad({ n: 5, concurrency: 1, cpuMs: gw.cpuMs, op: async () => void (await walk()) });
  console.log(`${label}	GET /users?contains=nobody-matches, followed to the end	${w.cpuMsPerOp.toFixed(1)} ms CPU a walk	(${requests} requests)`);
} finally {
  await gw.stop();
}
