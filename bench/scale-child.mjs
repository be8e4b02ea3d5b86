/**
 * One measured sweep of the `scale` suite, run by plain Node on the built package (dist/), in its own process
 * so that its peak RSS is its own and not the TypeScript loader's: `node bench/scale-child.mjs <jobs> <workers>`
 * prints one JSON line. Jobs come from a generator; each writes one stdout line and one result file.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager } from '../dist/index.js';
import { InMemoryRuntime } from '../dist/testing.js';

const jobs = Number(process.argv[2]);
const workers = Number(process.argv[3] ?? 64);
const writesFiles = process.env.DSIM_BENCH_FILES !== '0';

function* sweep(count) {
  for (let i = 0; i < count; i++) yield { name: `j${i}`, command: ['-r', String(i)] };
}

let peakRssBytes = 0;
const sampler = setInterval(() => {
  peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
}, 20);
const dataDirectory = await mkdtemp(path.join(process.env.DSIM_BENCH_DIR ?? os.tmpdir(), 'dsim-bench-scale-'));
try {
  // A local engine (the job folder bind-mounted), or with DSIM_BENCH_COPY=1 a remote one (outputs copied out).
  const runtime = new InMemoryRuntime({
    images: { 'sim:latest': {} },
    keepHistory: false,
    isLocal: process.env.DSIM_BENCH_COPY !== '1',
    behaviour: (spec) => ({ stdout: `seed ${spec.cmd?.[1]}\n`, ...(writesFiles ? { files: { '/mnt/data/result.txt': '3.14\n' } } : {}) }),
  });
  const manager = new DockerSimManager({ image: 'sim', dataDirectory, maxWorkers: workers, runtime });
  manager.addSimJobs(sweep(jobs), { total: jobs });
  let firstStartMs;
  const started = performance.now();
  manager.once('job:started', () => {
    firstStartMs = performance.now() - started;
  });
  const summary = await manager.startComputation();
  const wallMs = performance.now() - started;
  peakRssBytes = Math.max(peakRssBytes, process.memoryUsage.rss());
  const figures = { jobs, workers, succeeded: summary.succeeded, wallMs, firstStartMs, peakRssBytes };
  if (process.env.DSIM_BENCH_RESUME === '1') {
    // The same sweep again with resume: every job is found done in the manifest and skipped.
    const resumed = new DockerSimManager({ image: 'sim', dataDirectory, maxWorkers: workers, runtime, resume: true });
    resumed.addSimJobs(sweep(jobs), { total: jobs });
    const resumeStarted = performance.now();
    let firstSkipMs;
    resumed.once('job:skipped', () => {
      firstSkipMs = performance.now() - resumeStarted;
    });
    const again = await resumed.startComputation();
    Object.assign(figures, { resumeSkipped: again.skipped, resumeWallMs: performance.now() - resumeStarted, resumeFirstSkipMs: firstSkipMs, peakRssBytes: Math.max(peakRssBytes, process.memoryUsage.rss()) });
  }
  console.log(JSON.stringify(figures));
} finally {
  clearInterval(sampler);
  // rm(1) rather than fs.rm: Node's recursive rm holds a promise per entry, gigabytes for a million folders.
  execFileSync('rm', ['-rf', dataDirectory]);
}
