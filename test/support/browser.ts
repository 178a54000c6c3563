/**
 * Headless Chromium for page tests: Debian's `chromium` driven by playwright-core (which never
 * downloads a browser of its own). A test passes `{ skip: browserSkip() }`: outside CI a missing
 * Chromium skips it with the reason; under CI=true it runs and fails (.ci/run installs chromium).
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

export function chromiumPath(): string | undefined {
  return CANDIDATES.find((candidate) => existsSync(candidate));
}

export function browserSkip(): string | false {
  if (chromiumPath() !== undefined || process.env.CI === 'true') return false;
  return 'Chromium is not installed (apt-get install chromium); .ci/run installs it';
}

/**
 * Flags as for a sealed machine: no sandbox (tests run as root), and no background networking,
 * which would otherwise try hosts this machine cannot reach.
 */
export function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === undefined) throw new Error('Chromium is not installed (apt-get install chromium)');
  return chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
