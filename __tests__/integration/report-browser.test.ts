import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DockerSimManager, writeReport } from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, useEngineSuite } from '../helpers/engine.js';
import { useBrowser } from '../helpers/browser.js';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.test-artifacts');

describeEngine('report.html in a real browser (headless Chromium)', () => {
  const data = useEngineSuite();
  const chromium = useBrowser();

  test('one bar per job in the timeline, no console errors, the table sorts by a clicked header; screenshot saved', async () => {
    const browser = chromium.current();
    if (!browser) {
      console.warn('report browser test skipped: no Chromium on this machine');
      return;
    }
    // A run with successes, a failure and a retry, then a resumed run: the report covers both.
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: data.dir, maxWorkers: 3, defaults: { network: 'none' } });
    const sleeps = [0.6, 0.2, 0.9, 0.4, 0.1, 0.7];
    sleeps.forEach((seconds, i) => manager.addSimJob({ name: `J${i + 1}`, command: [`sleep ${seconds}; echo done ${i + 1}`], parameters: { seconds, case: `c${i + 1}` } }));
    manager.addSimJob({ name: 'broken', command: ['echo "<b>not bold</b>" >&2; exit 5'], parameters: { seconds: 0, case: 'x' } });
    const summary = await manager.startComputation();
    expect(summary).toMatchObject({ succeeded: 6, failed: 1 });
    const { html, csv, jobs } = await writeReport(data.dir);
    expect(jobs).toBe(7);
    expect(await readFile(csv, 'utf8')).toContain('broken');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(String(error)));
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(pathToFileURL(html).href);

    await expect(page.locator('svg.timeline rect.bar').count()).resolves.toBe(7);
    await expect(page.locator('svg.timeline rect.bar[data-status="failed"]').getAttribute('data-job')).resolves.toBe('broken');
    await expect(page.locator('table#jobs tbody tr').count()).resolves.toBe(7);
    // The job's stderr was escaped, not interpreted.
    await expect(page.locator('table#jobs b').count()).resolves.toBe(0);

    const durationsInTable = async (): Promise<number[]> => (await page.locator('table#jobs tbody tr td:nth-child(5)').allTextContents()).map(Number);
    await page.locator('table#jobs th', { hasText: 'duration' }).click();
    const ascending = await durationsInTable();
    expect(ascending).toEqual([...ascending].sort((a, b) => a - b));
    await page.locator('table#jobs th', { hasText: 'duration' }).click();
    const descending = await durationsInTable();
    expect(descending).toEqual([...ascending].reverse());
    await page.locator('table#jobs th', { hasText: 'job' }).first().click();
    expect(await page.locator('table#jobs tbody tr td:first-child').allTextContents()).toEqual(['broken', 'J1', 'J2', 'J3', 'J4', 'J5', 'J6']);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report.png'), fullPage: true });
    expect(problems).toEqual([]);
    // Self-contained: nothing but the file itself was loaded.
    expect(requests).toEqual([pathToFileURL(html).href]);
    // The log links point at files that exist.
    const links = await page.locator('table#jobs a').evaluateAll((anchors) => anchors.map((a) => (a as unknown as { href: string }).href));
    for (const link of links) expect(existsSync(fileURLToPath(link))).toBe(true);
    await page.close();
  });
});
