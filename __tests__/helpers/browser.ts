import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const isCi = process.env.CI === 'true' || process.env.CI === '1';

/**
 * A headless Chromium for the suite (Debian's `chromium`, driven by playwright-core: nothing is downloaded).
 * Without one, the browser tests are skipped on a developer's machine and fail under CI=true.
 */
export function useBrowser(): { current(): Browser | undefined } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    if (CHROMIUM === undefined) {
      if (isCi) throw new Error('No Chromium found (CI=true makes this a failure): apt-get install chromium, or set CHROMIUM_PATH.');
      return;
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu'] });
  });
  afterAll(async () => {
    await browser?.close();
  });
  return { current: () => browser };
}
