import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { accessSync, constants } from 'node:fs';

// Real headless Chromium for the admin console tests (test/console): Debian's
// `chromium` driven by playwright-core (no downloaded browser). A missing
// chromium fails the tests with the package to install, it never skips them.

export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go (test-artifacts/ is ignored by git; CI can keep it). */
export const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts/console');

/** Throws (the tests fail, never skip) when the browser is not installed, naming the Debian package. */
export function requireChromium(file = CHROMIUM): void {
  try {
    accessSync(file, constants.X_OK);
  } catch {
    throw new Error(`${file} is missing: the admin console tests need the Debian package "chromium" (apt-get install chromium; CI does this in .ci/run)`);
  }
}

export async function launchChromium(): Promise<Browser> {
  requireChromium();
  await mkdir(ARTIFACTS, { recursive: true });
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'], timeout: 60_000 });
}

export const screenshotPath = (name: string) => path.join(ARTIFACTS, `${name}.png`);
