/**
 * `reportSuite` (the report at scale): for synthetic run manifests of 10,000 and 100,000 jobs, the time
 * `writeReport` takes, the size of report.html, the peak RSS of this process while writing, and the time from
 * navigating to the file in headless Chromium until its job table shows rows. No engine is needed; Chromium is
 * Debian's (`/usr/bin/chromium`, or CHROMIUM_PATH), driven by playwright-core.
 *
 * `writeSyntheticManifest` is also what the browser test uses to build its 100,000-job manifest.
 */
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { manifestPath, writeReport, type ManifestRecord } from '../src/index.js';
import { check, formatMiB, printTable, startRssSampler, timed } from './lib.js';

/** What a synthetic manifest holds, once the newest record of each job is taken. */
export interface SyntheticManifest {
  file: string;
  jobs: number;
  runs: string[];
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Records written (more than `jobs`: the failures retried by the resumed run are recorded twice). */
  records: number;
  /** Jobs that failed in the first run and succeeded in the resumed one (their newest record). */
  resumedJobs: string[];
}

export interface SyntheticManifestOptions {
  /** @default 3 */
  runs?: number;
  /** @default 32 */
  workers?: number;
  /** Failed jobs of the first run that a last, resumed run re-runs successfully. @default 100 */
  resumed?: number;
}

/** `sim_000042`: the name of the synthetic job `index` (names sort like the jobs). */
export const syntheticJobName = (index: number): string => `sim_${String(index).padStart(6, '0')}`;

/** Whether the synthetic job `index` fails (about one in 47, never in the last run's cancelled tail). */
export const syntheticJobFails = (index: number): boolean => (index * 7919) % 47 === 3;

/** A deterministic pseudo-random number in [0, 1) for `index` and `salt`. */
function noise(index: number, salt: number): number {
  let h = Math.imul(index ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(salt + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 2 ** 32;
}

/**
 * Writes `<dataDirectory>/.docker-sim-manager/manifest.jsonl` for a sweep of `jobs` jobs spread over `runs`
 * runs on `workers` worker slots, with realistic records: parameters, usage against limits, retries, failures
 * with a multi-line error (with `<`, `>` and `&` in it), a cancelled tail in the last run (jobs that never
 * started), one more run that resumes the sweep and re-records failed jobs of the first, and a torn last line.
 */
export async function writeSyntheticManifest(dataDirectory: string, jobs: number, options: SyntheticManifestOptions = {}): Promise<SyntheticManifest> {
  const runCount = options.runs ?? 3;
  const workers = options.workers ?? 32;
  const file = manifestPath(dataDirectory);
  await mkdir(path.dirname(file), { recursive: true });
  const out = createWriteStream(file);
  const runs = Array.from({ length: runCount }, (_, r) => `2026-03-0${r + 1}T09-00-00-${(0x1a2b + r).toString(16)}`);
  const perRun = Math.ceil(jobs / runCount);
  const cancelledTail = Math.min(Math.floor(jobs / 1000), perRun);
  const status = new Uint8Array(jobs); // 0 succeeded, 1 failed, 2 cancelled
  const failedInFirstRun: number[] = [];
  let records = 0;
  let lines: string[] = [];
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    if (!out.write(`${lines.join('\n')}\n`)) await once(out, 'drain');
    lines = [];
  };
  const record = (index: number, run: number, slot: number, startMs: number | null, durationMs: number, outcome: number, attempts: number): ManifestRecord => {
    const name = syntheticJobName(index);
    const seed = index + 1;
    const cpuMs = Math.round(durationMs * (0.6 + 0.35 * noise(index, 3)));
    const peakMemoryBytes = Math.round((48 + 400 * noise(index, 4) ** 2) * 1024 * 1024);
    return {
      v: 1,
      runId: runs[run] ?? '',
      job: name,
      specHash: `sha256:${(index * 2654435761).toString(16).padStart(16, '0').repeat(4).slice(0, 64)}`,
      status: outcome === 0 ? 'succeeded' : outcome === 1 ? 'failed' : 'cancelled',
      exitCode: outcome === 0 ? 0 : outcome === 1 ? 1 : null,
      attempts,
      imageId: 'sha256:4f2c1e0b7a9d8c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e',
      imageDigest: 'registry.example/sim/solver@sha256:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c',
      startedAt: startMs === null ? null : new Date(startMs).toISOString(),
      finishedAt: new Date((startMs ?? Date.parse('2026-03-01T09:00:00Z')) + durationMs).toISOString(),
      durationMs,
      slot: startMs === null ? null : slot,
      engine: 'default',
      outputDir: path.join(dataDirectory, `job_${name}`),
      parameters: { seed, alpha: Math.round(noise(index, 5) * 1000) / 1000, mesh: ['coarse', 'medium', 'fine'][index % 3] ?? 'coarse' },
      ...(startMs === null ? {} : { usage: { cpuMs, peakMemoryBytes } }),
      limits: { memoryBytes: 512 * 1024 * 1024, cpus: 1, timeoutMs: 600_000 },
      ...(outcome === 1
        ? { error: { code: 'E_JOB_EXIT', message: `Job ${name} exited with code 1 (attempt ${attempts} of ${attempts}). Last lines of its stderr:\n  solver: step ${seed % 977}: residual <1e-3 not reached & diverging\n  Traceback (most recent call last): ValueError: alpha=${(noise(index, 5)).toFixed(3)} > limit\nLog: ${path.join(dataDirectory, `job_${name}`, 'log.txt')}` } }
        : outcome === 2
          ? { error: { code: 'E_CANCELLED', message: 'The run was stopped (SIGINT) before the job started.' } }
          : {}),
    };
  };
  for (let run = 0; run < runCount; run++) {
    const first = run * perRun;
    const last = Math.min(jobs, first + perRun);
    const free = new Float64Array(workers).fill(Date.parse(runs[run]?.slice(0, 10) ?? '2026-03-01') + 9 * 3_600_000);
    for (let index = first; index < last; index++) {
      let slot = 0;
      for (let s = 1; s < workers; s++) if ((free[s] ?? 0) < (free[slot] ?? 0)) slot = s;
      const isCancelled = run === runCount - 1 && index >= last - cancelledTail;
      const outcome = isCancelled ? 2 : syntheticJobFails(index) ? 1 : 0;
      const durationMs = isCancelled ? 0 : Math.round(800 + 12_000 * noise(index, 1) ** 2);
      const startMs = isCancelled ? null : (free[slot] ?? 0) + Math.round(40 * noise(index, 2));
      if (startMs !== null) free[slot] = startMs + durationMs;
      const attempts = outcome === 1 ? 3 : outcome === 0 && noise(index, 6) < 0.03 ? 2 : outcome === 2 ? 0 : 1;
      lines.push(JSON.stringify(record(index, run, slot, startMs, durationMs, outcome, attempts)));
      records++;
      status[index] = outcome;
      if (outcome === 1 && run === 0) failedInFirstRun.push(index);
      if (lines.length === 1000) await flush();
    }
  }
  // A resumed run: some failures of the first run succeed this time (their newest record).
  const resumed = failedInFirstRun.slice(0, options.resumed ?? 100);
  if (resumed.length > 0) runs.push(`2026-03-0${runCount}T21-00-00-resume`);
  const resumeStart = Date.parse(`2026-03-0${runCount}T21:00:00Z`);
  for (const [n, index] of resumed.entries()) {
    lines.push(JSON.stringify(record(index, runCount, n % workers, resumeStart + Math.floor(n / workers) * 5000, 4000, 0, 1)));
    records++;
    status[index] = 0;
  }
  lines.push('{"v":1,"runId":"torn","job":"job_torn","specHa'); // a process killed while writing
  await flush();
  out.end();
  await once(out, 'finish');
  const count = (outcome: number): number => status.reduce((sum, s) => sum + (s === outcome ? 1 : 0), 0);
  return { file, jobs, runs, succeeded: count(0), failed: count(1), cancelled: count(2), records, resumedJobs: resumed.map(syntheticJobName) };
}

/** One measured size. */
export interface ReportScaleResult {
  jobs: number;
  /** `writeReport`: reading the manifest, writing report.html and trace.csv. */
  writeMs: number;
  htmlBytes: number;
  csvBytes: number;
  /** This process's peak resident set size while `writeReport` ran, and how much above the size before it that was. */
  peakRssBytes: number;
  rssGrowthBytes: number;
  /** From navigating to report.html until its table shows rows (no timing assertions anywhere: a measurement). */
  openMs: number;
}

const CHROMIUM = process.env.CHROMIUM_PATH ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

/**
 * Writes the report of a synthetic manifest of each size and opens it in headless Chromium; resolves with the
 * figures. Checks that every page shows the right job count and a first page of 100 rows.
 *
 * @example
 * ```ts
 * for (const r of await reportScaleBench([10_000])) console.log(r.jobs, r.writeMs, r.openMs);
 * ```
 */
export async function reportScaleBench(sizes: readonly number[] = [10_000, 100_000]): Promise<ReportScaleResult[]> {
  check(CHROMIUM !== undefined, 'No Chromium found: apt-get install chromium, or set CHROMIUM_PATH.');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu'] });
  const results: ReportScaleResult[] = [];
  try {
    for (const jobs of sizes) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-report-'));
      try {
        await writeSyntheticManifest(dir, jobs);
        const rssBefore = process.memoryUsage.rss();
        const rss = startRssSampler(20);
        const { value: files, wallMs: writeMs } = await timed(() => writeReport(dir));
        const peakRssBytes = rss.stop();
        check(files.jobs === jobs, `writeReport saw ${files.jobs} jobs, expected ${jobs}`);
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
        try {
          const started = performance.now();
          await page.goto(pathToFileURL(files.html).href);
          await page.waitForSelector('table#jobs[data-ready="true"] tbody tr', { timeout: 120_000 });
          const openMs = performance.now() - started;
          check((await page.locator('table#jobs tbody tr').count()) === 100, 'the first page does not show 100 rows');
          check((await page.locator('#count-jobs b').textContent())?.replace(/,/g, '') === String(jobs), 'the job count on the page is wrong');
          results.push({ jobs, writeMs, htmlBytes: (await stat(files.html)).size, csvBytes: (await stat(files.csv)).size, peakRssBytes, rssGrowthBytes: peakRssBytes - rssBefore, openMs });
        } finally {
          await page.close();
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await browser.close();
  }
  return results;
}

/** `reportScaleBench` for 10,000 and 100,000 jobs, printed as a table. */
export async function reportSuite(): Promise<void> {
  const results = await reportScaleBench();
  printTable(
    ['jobs', 'writeReport', 'report.html', 'trace.csv', 'RSS growth (peak)', 'open in Chromium'],
    results.map((r) => [r.jobs.toLocaleString('en-US'), `${r.writeMs.toFixed(0)} ms`, formatMiB(r.htmlBytes), formatMiB(r.csvBytes), `${formatMiB(r.rssGrowthBytes)} (${formatMiB(r.peakRssBytes)})`, `${r.openMs.toFixed(0)} ms`]),
  );
}
