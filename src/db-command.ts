import { Command } from 'commander';
import type { Config, ConfigInput } from './config.js';
import { copyDatabase } from './core/storage/db-copy.js';
import { maskDatabaseUrl } from './core/storage/db-errors.js';
import { openStorage, resolveDatabaseUrl } from './core/storage/index.js';

// `mdmgw db migrate` brings a database to this version's schema (what `serve`
// does at start, without serving); `mdmgw db copy` moves every row from one
// database to another, e.g. SQLite to PostgreSQL (docs/database.md).

export function dbCommand(configOrExit: (flags: ConfigInput['flags']) => Config): Command {
  const db = new Command('db').description('the database: migrate it, copy it between SQLite and PostgreSQL');

  db.command('migrate')
    .description("apply this version's migrations to a database (creating an SQLite file), then exit")
    .option('-d, --data-dir <dir>', 'data directory (env MDMGW_DATA_DIR, default ./data): the default SQLite file is in it')
    .option('--database-url <url>', 'the database (env MDMGW_DATABASE_URL): sqlite:///abs/path.sqlite or postgres://user:password@host:5432/db')
    .action(async (opts: { dataDir?: string; databaseUrl?: string }) => {
      process.umask(0o077);
      const config = configOrExit(opts);
      const target = resolveDatabaseUrl(config.databaseUrl, config.dataDir);
      const storage = await openStorage(config.databaseUrl, config.dataDir);
      await storage.close();
      process.stdout.write(`migrated ${target.kind === 'postgres' ? maskDatabaseUrl(target.url) : target.file}\n`);
    });

  db.command('copy')
    .description('copy every row from one database into an empty, migrated one (one transaction; row counts verified)')
    .requiredOption('--from <url>', 'the source: sqlite:///abs/path.sqlite or postgres://...')
    .requiredOption('--to <url>', 'the target, migrated and empty: postgres://... or sqlite:///abs/path.sqlite')
    .action(async (opts: { from: string; to: string }) => {
      process.umask(0o077);
      const side = (url: string, flag: string) => {
        if (url.trim() === '') throw new Error(`${flag} needs a database URL`);
        return { url, target: resolveDatabaseUrl(url, process.cwd()) };
      };
      const from = side(opts.from, '--from');
      const to = side(opts.to, '--to');
      const counts = await copyDatabase(from, to, {
        onTable: ({ table, rows }) => process.stdout.write(`  ${table.padEnd(28)} ${String(rows).padStart(9)}\n`),
      });
      const total = counts.reduce((n, c) => n + c.rows, 0);
      process.stdout.write(`copied ${total} rows in ${counts.length} tables from ${maskDatabaseUrl(from.url)} to ${maskDatabaseUrl(to.url)}; every table's row count matches the source\n`);
    });

  return db;
}
