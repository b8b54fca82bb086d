import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/**
 * A real Chromium for browser tests: Debian's `chromium` package driven by playwright-core
 * (Playwright's own browser builds are never downloaded). `.ci/run` installs the package when it
 * is missing; without it the test fails saying so, it is never skipped.
 */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where tests leave screenshots (gitignored). */
export const artifactsDir = path.resolve(__dirname, '..', '..', 'test-artifacts', 'console');

export interface TestBrowser {
  readonly context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(options: { locale?: string } = {}): Promise<TestBrowser> {
  if (!fs.existsSync(chromiumPath))
    throw new Error(
      `Chromium is not installed at ${chromiumPath}. The console's browser tests need it: ` +
        "install Debian's package (`apt-get install -y chromium`; `.ci/run` does this) or set CHROMIUM_PATH.",
    );
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'kumiki-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    locale: options.locale ?? 'en-US',
    viewport: { width: 1366, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  fs.mkdirSync(artifactsDir, { recursive: true });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}
