import { Command, InvalidArgumentError } from 'commander';
import type { Config } from '../config.js';
import { CaImportError } from './ca-chain.js';
import { caDirFor, CaSetupError, DEFAULT_CA_NAME, importCa, initCa } from './ca-setup.js';
import { caIdOf } from './ca-rollover.js';
import { CA_KEY_TYPES, CaKeyFileError, DEFAULT_CA_KEY, describeKeyType, type CaKeyType } from './key-files.js';
import { runCaInit } from './pkcs11/init-command.js';
import { readKeyRecord } from './pkcs11/key-record.js';
import { tokenOptionsFrom } from './pkcs11/token-config.js';
import { importSubordinateInToken } from './pkcs11/token-subordinate.js';
import { openToken, TokenError, type Pkcs11Token } from './pkcs11/token.js';

// `mdmgw ca init` and `mdmgw ca import` (docs/enterprise-pki.md). The CLI
// hands in how it loads the configuration (flags over MDMGW_*), so these read
// no environment themselves.

type LoadConfig = (flags: { dataDir?: string }) => Config;

/** RSA key sizes `ca init --pkcs11` accepts: below 2048 no CA should be made; above 4096 tokens differ. */
function keyBitsArg(v: string): number {
  if (!['2048', '3072', '4096'].includes(v)) throw new InvalidArgumentError('must be 2048, 3072 or 4096');
  return Number(v);
}

/** `--key`: the key type of a new CA (docs/ca-keys.md); it wins over MDMGW_CA_KEY. */
export function caKeyArg(v: string): CaKeyType {
  const t = v.trim().toLowerCase();
  if (!(CA_KEY_TYPES as readonly string[]).includes(t)) throw new InvalidArgumentError(`"${v}" is not offered: must be ${CA_KEY_TYPES.join(' or ')}`);
  return t as CaKeyType;
}

/** Refusals an operator fixes: one line on stderr, exit 1. Anything else is a bug and propagates. */
async function refusingWith(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (e) {
    if (e instanceof CaSetupError || e instanceof CaImportError || e instanceof CaKeyFileError || e instanceof TokenError) {
      process.stderr.write(`mdmgw: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
}

/** Runs `fn` with the token named by MDMGW_PKCS11_*, released afterwards. */
async function withToken<T>(config: Config, fn: (token: Pkcs11Token) => Promise<T>): Promise<T> {
  const token = await openToken(await tokenOptionsFrom(config));
  try {
    return await fn(token);
  } finally {
    token.close();
  }
}

export function caInitCommand(loadConfig: LoadConfig): Command {
  return new Command('init')
    .description(
      "create a CA in the data directory: a self-signed root of our own, or with --subordinate a key and a request (ca.csr) for the enterprise CA to sign; refuses to overwrite an existing CA",
    )
    .option('-d, --data-dir <dir>', 'data directory (env MDMGW_DATA_DIR, default ./data)')
    .option('--subordinate', 'write ca.key and ca.csr for the enterprise CA to sign; then run `mdmgw ca import`')
    .option('--subject <dn>', 'the subordinate CA\'s subject, e.g. "CN=Contoso MDM Issuing CA, O=Contoso" (with --subordinate)')
    .option('--name <name>', `which CA of the registry (profiles name it as their issuer); "${DEFAULT_CA_NAME}" is the top-level CA`, DEFAULT_CA_NAME)
    .option('--key <type>', `the CA key: ${CA_KEY_TYPES.join(' or ')} (env MDMGW_CA_KEY, default ${DEFAULT_CA_KEY}; docs/ca-keys.md)`, caKeyArg)
    .option('--pkcs11', 'generate the CA and RA keys inside the token named by MDMGW_PKCS11_MODULE, MDMGW_PKCS11_TOKEN_LABEL (or MDMGW_PKCS11_SLOT) and MDMGW_PKCS11_PIN(_FILE) (docs/hsm.md)')
    .option('--ca-key-bits <bits>', 'RSA size of the CA key in the token (with --pkcs11; default 3072)', keyBitsArg)
    .option('--ra-key-bits <bits>', 'RSA size of the RA key in the token (with --pkcs11; default 2048)', keyBitsArg)
    .action((opts: { dataDir?: string; subordinate?: boolean; subject?: string; name: string; key?: CaKeyType; pkcs11?: boolean; caKeyBits?: number; raKeyBits?: number }) =>
      refusingWith(async () => {
        process.umask(0o077);
        const config = loadConfig({ dataDir: opts.dataDir });
        const keyType = opts.key ?? config.caKey ?? DEFAULT_CA_KEY;
        if (opts.pkcs11) {
          // The token code makes RSA keys only (docs/hsm.md).
          if (keyType === 'p256') throw new CaSetupError(`--pkcs11 makes an RSA CA key in the token; ${opts.key ? `--key ${keyType}` : `MDMGW_CA_KEY=${keyType}`} is for key files only (use --ca-key-bits for the RSA size)`);
          // rsa2048 names the size: the token's key gets it unless --ca-key-bits says otherwise.
          if (keyType === 'rsa2048') opts = { ...opts, caKeyBits: opts.caKeyBits ?? 2048 };
          // Keys in a token: the top-level CA, self-signed (docs/hsm.md).
          if (opts.name !== DEFAULT_CA_NAME) throw new CaSetupError('--pkcs11 makes the top-level CA in the token; it does not combine with --name yet');
          if (opts.subject !== undefined && !opts.subordinate) throw new CaSetupError('--subject applies to --subordinate only');
          process.exitCode = await runCaInit(config, opts, process.stdout, process.stderr);
          return;
        }
        const dir = caDirFor(config.dataDir, opts.name);
        const r = await initCa(dir, { subordinate: opts.subordinate, subject: opts.subject, passphrase: config.caPassphrase, organization: config.organization, keyType });
        if (r.kind === 'subordinate') {
          process.stdout.write(
            `wrote the CA key (${describeKeyType(keyType)}) and the request ${r.csrFile} (subject "${r.subject}", CA:TRUE, keyCertSign, cRLSign requested)\n` +
              `have the enterprise CA sign it as a subordinate CA, then run:\n` +
              `  mdmgw ca import --data-dir ${config.dataDir}${opts.name === DEFAULT_CA_NAME ? '' : ` --name ${opts.name}`} --cert issued.pem --chain chain.pem\n` +
              `(chain.pem: the issuing CA's certificate and every certificate up to the self-signed root; the gateway does not start before that)\n`,
          );
        } else {
          process.stdout.write(`created a self-signed root CA ${r.caId} (${describeKeyType(keyType)}) in ${r.certFile}\n`);
        }
      }),
    );
}

export function caImportCommand(loadConfig: LoadConfig): Command {
  return new Command('import')
    .description('install the certificate the enterprise CA issued for ca.csr, after checking it matches the key, is a CA, and chains to a self-signed root in --chain')
    .option('-d, --data-dir <dir>', 'data directory (env MDMGW_DATA_DIR, default ./data)')
    .requiredOption('--cert <file>', 'the issued CA certificate (PEM)')
    .requiredOption('--chain <file>', 'the issuing CA up to the root (PEM, any order)')
    .option('--name <name>', `which CA of the registry; "${DEFAULT_CA_NAME}" is the top-level CA`, DEFAULT_CA_NAME)
    .action((opts: { dataDir?: string; cert: string; chain: string; name: string }) =>
      refusingWith(async () => {
        process.umask(0o077);
        const config = loadConfig({ dataDir: opts.dataDir });
        const dir = caDirFor(config.dataDir, opts.name);
        // keys.json: the CA key is in a PKCS#11 token (ca init --subordinate --pkcs11); ra.pem is made for the RA's token key too.
        const inToken = opts.name === DEFAULT_CA_NAME && (await readKeyRecord(dir)) !== null;
        const chain = inToken
          ? await withToken(config, (token) => importSubordinateInToken(dir, token, { certFile: opts.cert, chainFile: opts.chain, organization: config.organization }))
          : await importCa(dir, { certFile: opts.cert, chainFile: opts.chain, passphrase: config.caPassphrase });
        process.stdout.write(
          `imported CA ${caIdOf(chain.certificate)} into ${dir}: ${chain.intermediates.length} intermediate(s), root ${caIdOf(chain.root)}\n` +
            `devices get that root as their trusted root; start (or restart) the gateway\n`,
        );
      }),
    );
}
