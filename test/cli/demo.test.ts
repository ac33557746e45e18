import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';

// `mdmgw demo` as a user runs it: a real process with its own gateway, the
// three platform simulators and a simulated APNs. One run (it is slow on a
// small machine); everything below is read from what it prints.

const ROOT = path.resolve(import.meta.dirname, '../..');

function runDemo(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli.ts'), 'demo'], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The table's rows as objects, cut at the column positions the dashes line gives. */
function parseTable(out: string): Record<string, string>[] {
  const lines = out.split('\n');
  const head = lines.findIndex((l) => l.startsWith('PLATFORM'));
  expect(head, out).toBeGreaterThan(0);
  const dashes = lines[head + 1]!;
  const spans = [...dashes.matchAll(/-+/g)].map((m) => [m.index!, m.index! + m[0].length] as const);
  const cells = (l: string) => spans.map(([a], i) => l.slice(a, i + 1 < spans.length ? spans[i + 1]![0] : undefined).trim());
  const names = cells(lines[head]!);
  const rows: Record<string, string>[] = [];
  for (const l of lines.slice(head + 2)) {
    if (!l.trim()) break;
    rows.push(Object.fromEntries(cells(l).map((c, i) => [names[i]!, c])));
  }
  return rows;
}

it('enrolls a Windows, an iOS and an Android device with the Wi-Fi certificate, prints each, exits 0 and removes its data dir', { timeout: 300_000 }, async () => {
  const started = Date.now();
  const { code, stdout, stderr } = await runDemo();
  expect(code, `${stdout}\n${stderr}`).toBe(0);

  // A progress line per step, every one ok; each platform went through SCEP.
  const steps = stdout.split('\n').filter((l) => /^\[\w+\] /.test(l));
  expect(steps.length).toBeGreaterThanOrEqual(15);
  expect(steps.filter((l) => !/ \.\.\. ok( \(.*\))?$/.test(l))).toEqual([]);
  for (const p of ['windows', 'ios', 'android']) expect(steps.filter((l) => l.startsWith(`[${p}] `) && /key generated.*SCEP enrollment/.test(l)).length, p).toBeGreaterThanOrEqual(1);
  expect(stdout).toMatch(/APNs is simulated locally at https:\/\/127\.0\.0\.1:\d+/);

  // The temporary data dir the gateway line names is gone.
  const dataDir = /^\[gateway\] started on a temporary data dir .*\(http:\/\/127\.0\.0\.1:\d+, (.+)\)$/m.exec(stdout)?.[1];
  expect(dataDir, stdout).toMatch(/mdmgw-demo-/);
  expect(existsSync(dataDir!)).toBe(false);

  const rows = parseTable(stdout);
  expect(rows.map((r) => r.PLATFORM)).toEqual(['windows', 'ios', 'android']);
  // The serials the gateway's records gave, one per device (from the "recorded by the gateway" lines).
  const serials = steps.map((l) => / recorded by the gateway, delivery installed \.\.\. ok \(serial ([0-9a-f]+)\)$/.exec(l)?.[1]).filter(Boolean);
  expect(new Set(serials).size).toBe(3);
  for (const r of rows) {
    // The profile's subject template resolved per device, and its UPN SAN.
    expect(r.SUBJECT).toMatch(new RegExp(`^CN=[^,]+, OU=${r.PLATFORM}, O=Contoso Wi-Fi$`));
    expect(r.SAN).toBe('othername:UPN:ada@contoso.com');
    expect(r.ISSUER).toBe('CN=mdm-gateway Root CA, O=mdm-gateway');
    // 365 days (the profile's validity) from about now.
    const expires = Date.parse(r.EXPIRES!);
    expect(expires).toBeGreaterThan(started + 364 * 86400_000);
    expect(expires).toBeLessThan(Date.now() + 366 * 86400_000);
    expect(r['THUMBPRINT (SHA-1)']).toMatch(/^[0-9A-F]{40}$/);
    expect(r['TRANSACTION ID']).toMatch(/^[0-9a-f]{16,}$/);
  }
  expect(new Set(rows.map((r) => r['THUMBPRINT (SHA-1)'])).size).toBe(3);
  expect(new Set(rows.map((r) => r['TRANSACTION ID'])).size).toBe(3);
  expect(new Set(rows.map((r) => r.SUBJECT)).size).toBe(3);
  expect(stdout).toContain('All three devices got their Wi-Fi certificate.');
});
