import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig } from '../config.js';
import type { DoctorTarget } from './index.js';

// `mdmgw doctor [--url URL] [--json]`: exit 0 without problems (warnings
// allowed), 1 with a problem, 2 for a usage error (bad URL, bad configuration).

export const EXIT_USAGE = 2;

/** A bad invocation: exit 2 with its message. */
export class UsageError extends Error {}

export interface DoctorOptions {
  url?: string;
  adminToken?: string;
  json?: boolean;
  dataDir?: string;
  port?: string;
  host?: string;
  tlsCert?: string;
  tlsKey?: string;
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url: "${raw.slice(0, 200)}" is not a URL; give the gateway's base URL, e.g. https://mdm.example.com`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--url: must start with http:// or https:// (got ${url.protocol})`);
  if (url.username || url.password) throw new UsageError('--url: must not carry credentials; pass the admin token with --admin-token');
  return url;
}

/** What to inspect, from the options; throws UsageError or ConfigError. */
export function targetOf(opts: DoctorOptions, env: NodeJS.ProcessEnv, cwd: string): DoctorTarget {
  if (opts.url !== undefined) {
    const local = (['dataDir', 'port', 'host', 'tlsCert', 'tlsKey'] as const).filter((k) => opts[k] !== undefined);
    if (local.length > 0) throw new UsageError('--url inspects a running gateway over HTTP; --data-dir, --port, --host and --tls-* describe a local configuration: give one or the other');
    const adminToken = opts.adminToken ?? (env.MDMGW_ADMIN_TOKEN?.trim() || undefined);
    return { mode: 'url', url: parseUrl(opts.url), ...(adminToken && { adminToken }) };
  }
  return { mode: 'config', config: loadConfig({ flags: opts, env, cwd }) };
}

/** The `doctor` command; `env` is the process environment (only cli.ts reads it). */
export function doctorCommand(env: NodeJS.ProcessEnv, cwd: string): Command {
  return new Command('doctor')
    .description('inspect a configured or running gateway (CA/RA, GetCACaps, GetCACert, reachability, clock, APNs) and say per client family what to fix')
    .option('--url <url>', 'inspect a running gateway over HTTP (its base URL or SCEP URL) instead of the local configuration')
    .option('--admin-token <token>', 'with --url: admin token, to check the APNs certificate (env MDMGW_ADMIN_TOKEN)')
    .option('--json', 'print the report as JSON')
    .option('-d, --data-dir <dir>', 'data directory (env MDMGW_DATA_DIR, default ./data)')
    .option('-p, --port <port>', 'listen port, for the default public URL (env MDMGW_PORT)')
    .option('-H, --host <host>', 'listen address, for the default public URL (env MDMGW_HOST)')
    .option('--tls-cert <file>', 'as for serve: the default public URL is https')
    .option('--tls-key <file>', 'private key for --tls-cert')
    .exitOverride((e: CommanderError) => {
      // Commander's own usage errors (unknown option, missing value) exit 2 like ours; --help exits 0.
      process.exit(e.exitCode === 0 ? 0 : EXIT_USAGE);
    })
    .action(async (opts: DoctorOptions) => {
      let target: DoctorTarget;
      try {
        target = targetOf(opts, env, cwd);
      } catch (e) {
        if (e instanceof UsageError || e instanceof ConfigError) {
          process.stderr.write(`mdmgw doctor: ${e.message}\n`);
          process.exit(EXIT_USAGE);
        }
        throw e;
      }
      // Loaded here, not at start: `mdmgw serve` starts without the doctor's modules.
      const { exitCodeOf, runDoctor } = await import('./index.js');
      const { formatReport } = await import('./format.js');
      const report = await runDoctor(target);
      const code = exitCodeOf(report);
      // Exit once written: idle keep-alive connections to the gateway would hold the process for seconds.
      process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report), () => process.exit(code));
    });
}
