/**
 * `npm run bench -- scale`: sweeps from a generator through the in-memory runtime at 64 workers, 10,000, 100,000
 * and 1,000,000 jobs, each job writing its folder, its logs and one result file as usual: jobs per second, peak
 * RSS, time to the first job start, and (with a resume of the same sweep) how long finding every job done in a
 * manifest of that many lines takes. Beside it, the file-system floor: the same folders, logs and manifest lines
 * written with no manager. Then 2,000 short real jobs in pool mode on the engine, with RSS along the way, and
 * the report of 10,000 and 100,000 jobs opened in Chromium. Sizes: BENCH_SCALE_SIZES=10000,100000.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DockerSimManager } from '../src/index.js';
import { check, formatMiB, formatSeconds, printTable, sh } from './lib.js';
import { reportScaleBench } from './report-suite.js';

const run = promisify(execFile);
const SIZES = (process.env.BENCH_SCALE_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const WORKERS = 64;
const ENGINE_JOBS = Number(process.env.BENCH_SCALE_ENGINE_JOBS ?? 2000);

interface ChildFigures {
  jobs: number;
  succeeded: number;
  wallMs: number;
  firstStartMs: number;
  peakRssBytes: number;
  resumeSkipped: number;
  resumeWallMs: number;
  resumeFirstSkipMs: number;
}

/** Runs a bench child on the built package with plain Node (no TypeScript loader in its memory). */
async function child<T>(script: string, args: readonly string[], env: Record<string, string> = {}): Promise<T> {
  const { stdout } = await run(process.execPath, [path.join('bench', script), ...args], { env: { ...process.env, ...env }, maxBuffer: 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as T;
}

/** 2,000 short real jobs in pool mode: RSS after each quarter, to show it stays flat. */
async function engineRun(): Promise<{ wallMs: number; rss: number[] }> {
  const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-scale-engine-'));
  try {
    const manager = new DockerSimManager({ image: 'docker-sim-manager/test-shell', dataDirectory, maxWorkers: 4, executionMode: 'pool', defaults: { network: 'none' } });
    manager.addSimJobs(
      (function* () {
        for (let i = 0; i < ENGINE_JOBS; i++) yield { name: `e${i}`, command: [`echo ${i} > /mnt/data/out.txt`] };
      })(),
      { total: ENGINE_JOBS },
    );
    const rss: number[] = [];
    let done = 0;
    manager.on('job:succeeded', () => {
      done += 1;
      if (done % (ENGINE_JOBS / 4) === 0) rss.push(process.memoryUsage.rss());
    });
    const started = performance.now();
    const summary = await manager.startComputation();
    check(summary.succeeded === ENGINE_JOBS, `engine run: ${summary.succeeded}/${ENGINE_JOBS} succeeded`);
    return { wallMs: performance.now() - started, rss };
  } finally {
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

export async function scaleSuite(): Promise<void> {
  console.log(`suite scale: ${SIZES.join(', ')} jobs from a generator, in-memory runtime, ${WORKERS} workers; node ${process.version}, ${os.availableParallelism()} cores`);
  await sh('npm run build >/dev/null');
  const rows: string[][] = [];
  for (const size of SIZES) {
    const floor = await child<{ wallMs: number }>('fs-floor.mjs', [String(size)]);
    const figures = await child<ChildFigures>('scale-child.mjs', [String(size), String(WORKERS)], { DSIM_BENCH_RESUME: '1' });
    check(figures.succeeded === size && figures.resumeSkipped === size, `scale run of ${size}: ${figures.succeeded} succeeded, ${figures.resumeSkipped} skipped on resume`);
    rows.push([
      size.toLocaleString('en'),
      formatSeconds(figures.wallMs),
      String(Math.round(size / (figures.wallMs / 1000))),
      `${(figures.wallMs / size / (floor.wallMs / size)).toFixed(1)}x (${Math.round(size / (floor.wallMs / 1000))} jobs/s)`,
      formatMiB(figures.peakRssBytes),
      `${Math.round(figures.firstStartMs)} ms`,
      `${formatSeconds(figures.resumeWallMs)} (first skip ${Math.round(figures.resumeFirstSkipMs)} ms)`,
    ]);
    console.log(`${size}: ${JSON.stringify(figures)}; floor ${JSON.stringify(floor)}`);
  }
  printTable(['jobs', 'wall', 'jobs/s', 'vs file-system floor', 'peak RSS', 'first job start', 'resume of all (all skipped)'], rows);
  console.log('targets: >= 10,000 jobs/s, peak RSS < 150 MB at every size, first job within 1 s');

  const hasEngine = await sh('docker info >/dev/null 2>&1 && echo yes').catch(() => '');
  if (hasEngine.trim() === 'yes') {
    console.log(`\n${ENGINE_JOBS} short real jobs in pool mode, 4 workers:`);
    const engine = await engineRun();
    printTable(
      ['wall', 'jobs/s', ...engine.rss.map((_, i) => `RSS after ${((i + 1) * ENGINE_JOBS) / 4}`)],
      [[formatSeconds(engine.wallMs), String(Math.round(ENGINE_JOBS / (engine.wallMs / 1000))), ...engine.rss.map(formatMiB)]],
    );
  } else {
    console.log('\nno Docker engine: the real-engine part is left out');
  }

  console.log('\nreport.html at scale (Chromium):');
  const reports = await reportScaleBench();
  printTable(
    ['jobs', 'write', 'html size', 'open in Chromium'],
    reports.map((r) => [r.jobs.toLocaleString('en'), formatSeconds(r.writeMs), formatMiB(r.htmlBytes), formatSeconds(r.openMs)]),
  );
}
