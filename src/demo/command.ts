import { Command } from 'commander';

// `mdmgw demo [--json]`: the modules (gateway, simulators) load when the
// command runs, not at every start of `mdmgw serve`.

export function demoCommand(): Command {
  return new Command('demo')
    .description(
      'start a gateway on a temporary data dir, enroll a simulated Windows, iOS and Android device with a Wi-Fi certificate, ' +
        'print what each got; exit 0 only when all three got it (APNs is simulated locally)',
    )
    .option('--json', 'print the result as JSON (progress lines go to stderr)')
    .option('-d, --data-dir <dir>', 'keep the gateway data in this new or empty directory instead of a temporary one (serve it afterwards to trace the enrollments)')
    .action(async (opts: { json?: boolean; dataDir?: string }) => {
      const { runDemo } = await import('./run-demo.js');
      const { Cleanup } = await import('./environment.js');
      const cleanup = new Cleanup();
      // Ctrl-C: stop the servers and remove the temporary data dir before leaving.
      const interrupted = (signal: NodeJS.Signals) => {
        process.stderr.write(`\ndemo interrupted (${signal}): cleaning up\n`);
        void cleanup.run().finally(() => process.exit(130));
      };
      process.once('SIGINT', interrupted);
      process.once('SIGTERM', interrupted);
      const code = await runDemo({ json: opts.json ?? false, ...(opts.dataDir && { dataDir: opts.dataDir }), out: process.stdout, err: process.stderr }, cleanup);
      process.exit(code);
    });
}
