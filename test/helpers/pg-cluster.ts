import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

// A PostgreSQL cluster of a test's own (not the shared MDMGW_TEST_PG_URL one),
// for tests that stop and start the server: .ci/pg-cluster.sh does the work.

const run = promisify(execFile);
const SCRIPT = path.resolve(import.meta.dirname, '../../.ci/pg-cluster.sh');

export interface PgCluster {
  /** Superuser URL of its `postgres` database. */
  url: string;
  /** pg_ctl stop -m fast: every connection is cut, the data stays. */
  halt(): Promise<void>;
  /** Starts the halted server again on the same port. */
  resume(): Promise<void>;
  /** Stops the server and removes its directory. */
  destroy(): Promise<void>;
}

export async function startPgCluster(): Promise<PgCluster> {
  const dir = await mkdtemp(path.join(tmpdir(), 'mdmgw-pg-'));
  const script = (cmd: string) => run('bash', [SCRIPT, cmd, dir], { timeout: 120_000 });
  const { stdout } = await script('start');
  return {
    url: stdout.trim(),
    halt: async () => void (await script('halt')),
    resume: async () => void (await script('resume')),
    destroy: async () => void (await script('stop')),
  };
}
