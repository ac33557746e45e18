#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { checkKeyStore, ConfigError, loadConfig } from './config.js';
import { createGateway } from './gateway.js';
import { createLogger, flushLogs } from './log.js';
import { listen } from './server.js';
import { productionAdapters } from './adapters/index.js';
import { doctorCommand } from './doctor/command.js';
import { rollOverCa } from './ca/ca-rollover.js';
import { demoCommand } from './demo/command.js';
import { openStorage } from './core/storage/index.js';
import { instanceCoordination } from './core/instance-coordination.js';
import { dbCommand } from './db-command.js';
import { caImportCommand, caInitCommand, caKeyArg } from './ca/ca-commands.js';
import { describeKeyType, type CaKeyType } from './ca/key-files.js';
import { readKeyRecord } from './ca/pkcs11/key-record.js';
import { rollOverTokenCa } from './ca/pkcs11/token-rollover.js';
import { tokenOptionsFrom } from './ca/pkcs11/token-config.js';
import { openToken, TokenError } from './ca/pkcs11/token.js';
import { CaKeyFileError } from './ca/key-files.js';
import { maskDatabaseUrl } from './core/storage/db-errors.js';

// `mdmgw serve`: the whole gateway in one process on embedded defaults
// (SQLite in ./data, a generated CA, an admin token written to ./data).

const program = new Command()
  .name('mdmgw')
  .description('mdm-gateway: SCEP server, CRP and MDM adapters that put client certificates on managed devices');

const portArg = (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('must be a port number');
  return v;
};

/** The validated configuration, or exit 2 with the reason (a bad flag or MDMGW_* value). */
function configOrExit(flags: Parameters<typeof loadConfig>[0]['flags'], loadsKeys = false): ReturnType<typeof loadConfig> {
  try {
    const config = loadConfig({ flags, env: process.env, cwd: process.cwd() });
    if (loadsKeys) checkKeyStore(config, process.env);
    return config;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`mdmgw: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
}

program
  .command('serve')
  .description('run the gateway')
  .option('-p, --port <port>', 'listen port (env MDMGW_PORT, default 8080)', portArg)
  .option('-H, --host <host>', 'listen address (env MDMGW_HOST, default 127.0.0.1)')
  .option('-d, --data-dir <dir>', 'data directory (env MDMGW_DATA_DIR, default ./data)')
  .option('--tls-cert <file>', 'serve HTTPS with this certificate (PEM) and request device certificates')
  .option('--tls-key <file>', 'private key for --tls-cert (PEM)')
  .option('--admin-listen <host:port>', 'serve the admin API only on this address (env MDMGW_ADMIN_LISTEN); the main listener then serves device routes only')
  .option('--database-url <url>', 'the database (env MDMGW_DATABASE_URL): sqlite:///abs/path.sqlite or postgres://user:password@host:5432/db; default <data-dir>/mdmgw.sqlite')
  .action(async (opts: { port?: string; host?: string; dataDir?: string; tlsCert?: string; tlsKey?: string; adminListen?: string; databaseUrl?: string }) => {
    // Everything this process creates (keys, the database, SQLite's -wal/-shm) is private
    // to its user from the start; createGateway also fixes what already exists.
    process.umask(0o077);
    const config = configOrExit(opts, true);
    const log = createLogger(config.logLevel);
    const gw = await createGateway(config, log, productionAdapters({ apnsUrl: config.apnsUrl }));
    const running = await listen(gw);
    log.info(
      {
        url: running.url,
        adminUrl: running.adminUrl ?? undefined,
        publicUrl: config.publicUrl,
        scepUrl: gw.scepUrl,
        dataDir: config.dataDir,
        // Which database this instance serves from (the password masked).
        database: config.databaseUrl ? maskDatabaseUrl(config.databaseUrl) : 'sqlite (data directory)',
        adminToken: gw.adminTokenFile ? `in ${gw.adminTokenFile}` : 'from MDMGW_ADMIN_TOKEN',
      },
      `mdm-gateway listening on ${running.url}${running.adminUrl ? ` (admin API on ${running.adminUrl})` : ''}; admin token ${gw.adminTokenFile ? `in ${gw.adminTokenFile}` : 'from MDMGW_ADMIN_TOKEN'}`,
    );
    flushLogs(); // before the first request is answered
    const stop = async (signal: string) => {
      log.info({ signal }, 'shutting down');
      gw.health.markClosing();
      await running.close();
      await gw.close();
      process.exit(0);
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });

// `mdmgw doctor`: checks a configured or running gateway (src/doctor/, docs/doctor.md).
program.addCommand(doctorCommand(process.env, process.cwd()));

const caCommand = program.command('ca').description('the CAs: init, import (subordinate CA), rollover');
caCommand
  .command('rollover')
  .description(
    'retire the CA and create a new one in the data directory (the old one is kept in ca-retired/ and keeps publishing revocation status); ' +
      'works with the gateway stopped or running: a running gateway switches at its next restart',
  )
  .option('-d, --data-dir <dir>', 'data directory (env MDMGW_DATA_DIR, default ./data)')
  .option('--key <type>', "the new CA's key: rsa3072, rsa2048 or p256 (env MDMGW_CA_KEY; default the old CA's type); a change of type is for relying parties a new root like any other (docs/ca-keys.md)", caKeyArg)
  .action(async (opts: { dataDir?: string; key?: CaKeyType }) => {
    process.umask(0o077);
    const config = configOrExit({ dataDir: opts.dataDir }, true);
    const keyType = opts.key ?? config.caKey;
    // keys.json: the CA key is in a PKCS#11 token, and so is the new one (docs/hsm.md).
    const inToken = (await readKeyRecord(config.dataDir)) !== null;
    if (inToken && keyType === 'p256') {
      process.stderr.write(`mdmgw: the CA key of ${config.dataDir} is in a PKCS#11 token, where the gateway makes RSA-3072 keys only: roll over without --key p256 / MDMGW_CA_KEY=p256 (docs/ca-keys.md)\n`);
      process.exit(1);
    }
    let r;
    try {
      const rollOver = () => (inToken ? rollOverInToken(config) : rollOverCa(config.dataDir, { passphrase: config.caPassphrase, organization: config.organization, keyType }));
      // Keys in the database: pull them into the data directory, roll over, push the result (core/keys/).
      r = config.keyStore === 'database' ? await withSharedKeys(config, rollOver) : await rollOver();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        process.stderr.write(`mdmgw: no CA in ${config.dataDir} (ca.key/ca.pem): start the gateway once to create one\n`);
        process.exit(1);
      }
      if (e instanceof TokenError || e instanceof CaKeyFileError) {
        process.stderr.write(`mdmgw: ${e.message}\n`);
        process.exit(1);
      }
      throw e;
    }
    process.stdout.write(
      `retired CA ${r.retiredId} (${describeKeyType(r.retiredKeyType)}; kept in ${config.dataDir}/ca-retired/)\nnew CA ${r.currentId} (${describeKeyType(r.keyType)}); the SCEP RA (RSA) was re-issued under it\n` +
        `restart the gateway to issue under the new CA; devices get its root before their certificates are re-issued (docs/lifecycle.md)\n`,
    );
  });

/** `ca rollover` of a token CA: opens the token named by MDMGW_PKCS11_* for the time of the rollover. */
async function rollOverInToken(config: ReturnType<typeof loadConfig>) {
  const token = await openToken(await tokenOptionsFrom(config));
  try {
    return await rollOverTokenCa(config.dataDir, token, { organization: config.organization });
  } finally {
    token.close();
  }
}

/** Runs `fn` on the data directory between a pull and a push of the shared key material, under its lease. */
async function withSharedKeys<T>(config: ReturnType<typeof loadConfig>, fn: () => Promise<T>): Promise<T> {
  const storage = await openStorage(config.databaseUrl, config.dataDir, { cacheMiB: config.sqliteCacheMiB });
  try {
    const { keys } = instanceCoordination(config, storage, createLogger(config.logLevel));
    return await keys!.exclusive(fn);
  } finally {
    await storage.close();
  }
}
// `mdmgw db migrate|copy`: schema and moving between SQLite and PostgreSQL (docs/database.md).
program.addCommand(dbCommand((flags) => configOrExit(flags)));
// `mdmgw ca init` / `mdmgw ca import`: a root of our own, or a subordinate of an enterprise root (docs/enterprise-pki.md).
caCommand.addCommand(caInitCommand((flags) => configOrExit(flags)));
caCommand.addCommand(caImportCommand((flags) => configOrExit(flags)));

// `mdmgw demo`: every platform end to end on a throwaway gateway (src/demo/, docs/demo.md).
program.addCommand(demoCommand());

program.parseAsync(process.argv).catch((e: unknown) => {
  // e.g. DataDirectoryError: the data directory cannot be made private (its message says why).
  process.stderr.write(`mdmgw: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
