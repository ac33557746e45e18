// Windows OMA-DM sessions against the gateway process (issue 13), for devices
// with 3 assigned ClientCertificateInstall profiles: the first sessions that
// install the 3 (and the session that reports them installed), then sessions
// with nothing to do (Alert 1201 + DevInfo, our Get SwV, the device's Results
// and Status, our closing Status) at concurrency 1 (one device) and 64 (64
// devices, each one session at a time: a device never overlaps its own
// sessions). Driven by src/sim/windows.ts over HTTP; CPU is the gateway's.
import { WindowsSimulator } from '../../src/sim/windows.js';
import { runLoad, type LoadResult } from './load.js';

type Api = (method: string, path: string, body?: unknown) => Promise<any>;

/** Devices whose first sessions are measured (after one warm-up device). */
const FIRST_DEVICES = 8;
const round = (v: number) => Number(v.toFixed(1));

export interface WindowsCheckinResults {
  /**
   * Gateway CPU of the first two sessions of a device (3 installs, then their results), per device, mean of
   * FIRST_DEVICES devices after one warm-up device: `cpuMs` with the 3 SCEP enrollments the device makes in
   * between, `omaDmCpuMs` the share spent while its OMA-DM messages were answered (10 ms /proc ticks summed
   * over every message: an estimate).
   */
  windowsFirst: { cpuMs: number; omaDmCpuMs: number; messages: number; certificates: number } | { error: string };
  /** Sessions with nothing to do, one device, one session at a time. CPU is per session (2 messages). */
  windowsSession: LoadResult | { error: string };
  /** The same with `devices` devices at once (one session at a time each). */
  windowsSessionC64?: LoadResult | { error: string };
}

async function enrolledDevice(url: string, api: Api, upn: string, userId: string): Promise<WindowsSimulator> {
  const wtok = await api('POST', '/enrollment-tokens', { userId, platform: 'windows' });
  const sim = new WindowsSimulator({ baseUrl: url, upn, password: wtok.token });
  const e = await sim.enroll();
  if (e.fault || !sim.identity) throw new Error(`Windows enrollment: ${e.fault?.reason ?? `HTTP ${e.status}`}`);
  return sim;
}

/** A device that has installed its profiles: two sessions (installs, then results) and one more to settle. */
async function settle(sim: WindowsSimulator): Promise<number> {
  const log = await sim.session();
  await sim.session();
  return log.enrolled.filter((x) => x.status === 1).length;
}

export async function windowsCheckinBench(
  url: string,
  api: Api,
  cpuMs: () => number,
  o: { userId: string; upn: string; n: number; devices?: number; expectInstalls?: number },
): Promise<WindowsCheckinResults> {
  const out: WindowsCheckinResults = { windowsFirst: { error: 'not run' }, windowsSession: { error: 'not run' } };
  try {
    await settle(await enrolledDevice(url, api, o.upn, o.userId)); // warm-up (JIT), not counted
    let cpu = 0;
    let omaDm = 0;
    let messages = 0;
    let certificates = 0;
    let sim!: WindowsSimulator;
    for (let i = 0; i < FIRST_DEVICES; i++) {
      sim = await enrolledDevice(url, api, o.upn, o.userId);
      const post = sim.post.bind(sim);
      sim.post = async (xml, headers) => {
        const m0 = cpuMs();
        try {
          return await post(xml, headers);
        } finally {
          omaDm += cpuMs() - m0;
          messages++;
        }
      };
      const c0 = cpuMs();
      certificates += await settle(sim);
      cpu += cpuMs() - c0;
      sim.post = post;
    }
    out.windowsFirst = { cpuMs: round(cpu / FIRST_DEVICES), omaDmCpuMs: round(omaDm / FIRST_DEVICES), messages: messages / FIRST_DEVICES, certificates: certificates / FIRST_DEVICES };
    await sim.session(); // warm-up, not counted
    out.windowsSession = await runLoad({ n: o.n, concurrency: 1, cpuMs, op: async () => void (await nothingToDo(sim)) });
  } catch (e) {
    out.windowsFirst = { error: (e as Error).message };
    out.windowsSession = { error: (e as Error).message };
    return out;
  }
  if (o.devices) {
    try {
      const sims: WindowsSimulator[] = [];
      for (let i = 0; i < o.devices; i++) sims.push(await enrolledDevice(url, api, o.upn, o.userId));
      // Installs in batches of 8 devices: 64 at once would pass the SCEP admission limit (503, which the simulator does not retry).
      for (let i = 0; i < sims.length; i += 8) {
        await Promise.all(sims.slice(i, i + 8).map(async (s) => {
          const n = await settle(s);
          if (o.expectInstalls !== undefined && n !== o.expectInstalls) throw new Error(`a device installed ${n} certificates, not ${o.expectInstalls}`);
        }));
      }
      const perDevice = Math.max(2, Math.ceil((o.n * 2) / o.devices));
      // A device is never in two sessions at once: each operation takes an idle device.
      const busy = new Set<WindowsSimulator>();
      out.windowsSessionC64 = await runLoad({ n: perDevice * o.devices, concurrency: o.devices, cpuMs, op: async () => {
        const sim = sims.find((s) => !busy.has(s))!;
        busy.add(sim);
        try {
          await nothingToDo(sim);
        } finally {
          busy.delete(sim);
        }
      } });
    } catch (e) {
      out.windowsSessionC64 = { error: (e as Error).message };
    }
  }
  return out;
}

/** One session that must be the 2-message exchange with nothing installed. */
async function nothingToDo(sim: WindowsSimulator): Promise<void> {
  const log = await sim.session();
  if (log.enrolled.length > 0 || log.messages.length !== 2) throw new Error(`expected a session with nothing to do, got ${log.messages.length} messages and ${log.enrolled.length} enrollments`);
}
