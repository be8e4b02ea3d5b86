import { createReadStream, existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { DockerSimManager, manifestPath, writeReport } from '../../src/index.js';
import { syntheticJobFails, syntheticJobName, writeSyntheticManifest } from '../../bench/report-suite.js';
import { SHELL_IMAGE, describeEngine, tempDir, useEngineSuite } from '../helpers/engine.js';
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

/** `100,000`. */
const formatCount = (n: number): string => n.toLocaleString('en-US');

/** Lines of a file, counted as a stream. */
async function countLines(file: string): Promise<number> {
  let lines = 0;
  for await (const chunk of createReadStream(file)) {
    for (let at = (chunk as Buffer).indexOf(0x0a); at !== -1; at = (chunk as Buffer).indexOf(0x0a, at + 1)) lines++;
  }
  return lines;
}

/** Collects what a page must not do: log errors or warnings, throw, open a dialog, or load anything but itself. */
function watchPage(page: Page): { problems: string[]; requests: string[] } {
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('request', (request) => requests.push(request.url()));
  return { problems, requests };
}

const jobCells = (page: Page): Promise<string[]> => page.locator('table#jobs tbody tr td:first-child').allTextContents();
const statusCells = (page: Page): Promise<string[]> => page.locator('table#jobs tbody tr td:nth-child(2)').allTextContents();

describe('report.html of a large sweep in a real browser (headless Chromium, synthetic manifests)', () => {
  const chromium = useBrowser();
  let data: Awaited<ReturnType<typeof tempDir>> | undefined;
  beforeEach(async () => {
    data = await tempDir('dsim-report-');
  });
  afterEach(async () => {
    await data?.cleanup();
  });

  test('100,000 jobs: right counts, an aggregated timeline, a paged table that filters, searches and sorts; one self-contained file', async () => {
    const browser = chromium.current();
    if (!browser || !data) {
      console.warn('report browser test skipped: no Chromium on this machine');
      return;
    }
    const manifest = await writeSyntheticManifest(data.dir, 100_000);
    expect(manifest.failed).toBeGreaterThan(1_000); // more than the failures section lists
    const { html, csv, jobs } = await writeReport(data.dir);
    expect(jobs).toBe(100_000);
    // trace.csv: the header and one row per job (the torn last line and the re-recorded jobs are no rows).
    expect(await countLines(csv)).toBe(100_001);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const { problems, requests } = watchPage(page);
    const navigated = performance.now();
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('table#jobs[data-ready="true"] tbody tr');
    // A measurement, not an assertion (no test depends on timing): `npm run bench` has the figures.
    console.log(`report.html of 100,000 jobs: ${((await stat(html)).size / 1024 / 1024).toFixed(1)} MiB, table shown ${(performance.now() - navigated).toFixed(0)} ms after navigating`);

    // The summary counts the newest record of each job.
    await expect(page.locator('#count-jobs b').textContent()).resolves.toBe('100,000');
    await expect(page.locator('#count-succeeded b').textContent()).resolves.toBe(formatCount(manifest.succeeded));
    await expect(page.locator('#count-failed b').textContent()).resolves.toBe(formatCount(manifest.failed));
    await expect(page.locator('#count-cancelled b').textContent()).resolves.toBe(formatCount(manifest.cancelled));

    // The timeline: the three big runs aggregated (how many ran at once, how busy each slot was), the small resumed
    // run with one bar per job.
    await expect(page.locator('svg.timeline.aggregated').count()).resolves.toBe(3);
    const started = await page.locator('svg.timeline.aggregated').evaluateAll((svgs) => svgs.map((svg) => Number(svg.getAttribute('data-jobs'))));
    expect(started.reduce((a, b) => a + b, 0)).toBe(100_000 - manifest.cancelled - manifest.resumedJobs.length);
    for (const peak of await page.locator('svg.timeline.aggregated').evaluateAll((svgs) => svgs.map((svg) => Number(svg.getAttribute('data-peak'))))) expect(peak).toBe(32);
    await expect(page.locator('svg.lanes g.heat').count()).resolves.toBe(3 * 32);
    await expect(page.locator('svg.timeline rect.bar').count()).resolves.toBe(manifest.resumedJobs.length);

    // Failures: the first 1,000 listed, the rest counted; the error text is shown as text.
    await expect(page.locator('#failures li').count()).resolves.toBe(1_000);
    await expect(page.locator('#more-failures').textContent()).resolves.toContain(formatCount(manifest.failed - 1_000));
    await expect(page.locator('#failures li').first().locator('.error').textContent()).resolves.toContain('residual <1e-3 not reached & diverging');

    // Page 1 shows the first 100 jobs; the next page the next 100.
    const names = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => syntheticJobName(from + k));
    expect(await jobCells(page)).toEqual(names(0, 100));
    await expect(page.locator('#page-label').textContent()).resolves.toBe('page 1 of 1,000');
    await page.locator('#next-page').click();
    expect(await jobCells(page)).toEqual(names(100, 200));
    await expect(page.locator('#page-label').textContent()).resolves.toBe('page 2 of 1,000');
    await page.locator('#last-page').click();
    expect(await jobCells(page)).toEqual(names(99_900, 100_000));

    // Only the failed jobs: exactly as many as the summary says, on as many pages as they fill.
    await page.selectOption('#status-filter', 'failed');
    await expect(page.locator('#table-status').textContent()).resolves.toBe(`Jobs 1–100 of ${formatCount(manifest.failed)} matching (100,000 in all)`);
    expect(new Set(await statusCells(page))).toEqual(new Set(['failed']));
    await expect(page.locator('#page-label').textContent()).resolves.toBe(`page 1 of ${formatCount(Math.ceil(manifest.failed / 100))}`);
    await page.locator('#last-page').click();
    await expect(page.locator('table#jobs tbody tr').count()).resolves.toBe(manifest.failed % 100 || 100);

    // Searching a name finds that job (with every status again), with its newest record: a job the resumed run
    // re-ran shows as succeeded, a failed one with its error.
    await page.selectOption('#status-filter', '');
    const failedJob = Array.from({ length: 100_000 }, (_, i) => i).find((i) => i > 90_000 && syntheticJobFails(i)) ?? 0;
    await page.locator('#job-search').fill(syntheticJobName(failedJob));
    expect(await jobCells(page)).toEqual([syntheticJobName(failedJob)]);
    expect(await statusCells(page)).toEqual(['failed']);
    await expect(page.locator('table#jobs tbody td.error').textContent()).resolves.toContain(`Job ${syntheticJobName(failedJob)} exited with code 1`);
    await page.locator('#job-search').fill(manifest.resumedJobs[0] ?? '');
    expect(await statusCells(page)).toEqual(['succeeded']);

    // Sorting by duration, longest first: the longest job leads, as long as the summary's maximum.
    await page.locator('#job-search').fill('');
    const durationHeader = page.locator('table#jobs th', { hasText: 'duration' });
    await durationHeader.click();
    await durationHeader.click();
    const durations = (await page.locator('table#jobs tbody tr td:nth-child(5)').allTextContents()).map(Number);
    expect(durations).toHaveLength(100);
    expect(durations).toEqual([...durations].sort((a, b) => b - a));
    const maxDuration = (await page.locator('#count-job-time b').textContent())?.split('/')[2]?.replace('s', '').trim();
    expect(durations[0]?.toFixed(1)).toBe(Number(maxDuration).toFixed(1));

    // Clicking a failure shows that job in the table.
    const firstFailure = await page.locator('#failures li').first().getAttribute('data-job');
    await page.locator('#failures li').first().click();
    expect(await jobCells(page)).toContain(firstFailure);

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'report-100k.png') });
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(html).href]);
    await page.close();
  });

  test('a small run keeps one bar per job; names, errors and parameters from the manifest stay text, also in the embedded data', async () => {
    const browser = chromium.current();
    if (!browser || !data) {
      console.warn('report browser test skipped: no Chromium on this machine');
      return;
    }
    const manifest = await writeSyntheticManifest(data.dir, 40, { runs: 1, resumed: 0 });
    const hostile = `x"><img src=x onerror=alert(1)></script><script>alert(2)</script><!--`;
    const record = {
      v: 1,
      runId: manifest.runs[0],
      job: hostile,
      specHash: 'sha256:0',
      status: 'failed',
      exitCode: 2,
      attempts: 1,
      imageId: 'sha256:img',
      imageDigest: null,
      startedAt: '2026-03-01T09:00:01.000Z',
      finishedAt: '2026-03-01T09:00:02.000Z',
      durationMs: 1000,
      slot: 1,
      outputDir: path.join(data.dir, `job_${hostile}`),
      parameters: { seed: '</script><b>seed</b>', alpha: 0.5, mesh: 'fine' },
      error: { code: 'E_JOB_EXIT', message: '<b>not bold</b> \u2028 </script><script>alert(3)</script>' },
    };
    // The synthetic manifest ends with a torn line: a writer would start the next record on a line of its own.
    await appendFile(manifestPath(data.dir), `\n${JSON.stringify(record)}\n`);
    const { html } = await writeReport(data.dir);
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const { problems, requests } = watchPage(page);
    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector('table#jobs[data-ready="true"] tbody tr');

    await expect(page.locator('svg.timeline rect.bar').count()).resolves.toBe(41);
    await expect(page.locator('svg.timeline.aggregated').count()).resolves.toBe(0);
    await expect(page.locator('svg.timeline rect.bar[data-status="failed"]').evaluateAll((bars) => bars.map((bar) => bar.getAttribute('data-job')))).resolves.toContain(hostile);
    await expect(page.locator('table#jobs tbody tr').count()).resolves.toBe(41);
    await expect(page.locator('#count-failed b').textContent()).resolves.toBe(String(manifest.failed + 1));
    // Nothing from the manifest became markup.
    await expect(page.locator('img').count()).resolves.toBe(0);
    await expect(page.locator('b:not(.card b)').count()).resolves.toBe(0);
    await expect(page.locator('script').count()).resolves.toBe(2);
    await page.locator('#job-search').fill('onerror');
    expect(await jobCells(page)).toEqual([hostile]);
    await expect(page.locator('table#jobs tbody td.error').textContent()).resolves.toContain('<b>not bold</b>');
    await expect(page.locator('table#jobs tbody tr td:nth-child(10)').textContent()).resolves.toBe('</script><b>seed</b>');
    await expect(page.locator('#failures li', { hasText: 'onerror' }).locator('code').textContent()).resolves.toBe(hostile);
    // Its log links point into its folder, the name encoded.
    const link = await page.locator('table#jobs tbody a').first().getAttribute('href');
    expect(decodeURIComponent(link ?? '')).toBe(`job_${hostile}/log.txt`);

    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(html).href]);
    await page.close();
  });
});
