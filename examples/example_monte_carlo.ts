/**
 * Monte Carlo estimate of pi, 19 times with different seeds: the port of the original Python driver.
 *
 *   npm run demo                       (builds the example image first when it is absent)
 *   DSIM_DATA_DIR=/tmp/mc npm run demo (choose where the outputs go)
 *
 * Each job writes job_IT<i>/pi.txt and job_IT<i>/log.txt under the data directory. Run it again and the jobs
 * that already succeeded are skipped (resume); Ctrl-C stops the run cleanly, a second Ctrl-C at once.
 */
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, SimJob, isDockerSimError } from '../src/index.js';
import { EXAMPLE_IMAGES } from './images.js';

const dataDirectory = process.env.DSIM_DATA_DIR ?? path.join(os.homedir(), 'example_docker_simulation', 'monte_carlo_pi');
const manager = new DockerSimManager({
  image: EXAMPLE_IMAGES['monte-carlo-pi'].tag,
  maxWorkers: 4,
  dataDirectory,
  mountPath: '/mnt/data',
  pullPolicy: 'never', // built locally by `npm run demo`
  resume: true, // a second run skips what succeeded and runs the rest; earlier partial output is set aside
  handleSignals: true, // Ctrl-C cancels: running containers are stopped and removed, queued jobs never start
  defaults: { timeoutMs: 5 * 60_000, retries: 1 },
});

for (let i = 1; i <= 19; i++) {
  manager.addSimJob(new SimJob({ name: `IT${i}`, command: `-o /mnt/data -r ${i} -i 100` }));
}

manager.on('job:succeeded', ({ job, result }) => {
  console.log(`✔ ${job.name.padEnd(5)} ${String(result.durationMs).padStart(5)} ms  ${result.outputDir}`);
});
manager.on('job:failed', ({ job, error }) => {
  console.log(`✘ ${job.name.padEnd(5)} ${error.message}`);
});

manager.on('run:cancelling', () => console.log('\nCancelling: stopping and removing the containers of this run (Ctrl-C again to exit at once)...'));

try {
  console.log(`Running 19 jobs, 4 at a time, outputs in ${dataDirectory}`);
  const summary = await manager.startComputation();
  const rows = await Promise.all(
    summary.results.map(async (r) => {
      const { readFile } = await import('node:fs/promises');
      const pi = r.status === 'succeeded' || r.status === 'skipped' ? (await readFile(path.join(r.outputDir, 'pi.txt'), 'utf8')).trim() : '-';
      return { job: r.name, status: r.status, exitCode: r.exitCode, pi_hat: pi, ms: r.durationMs };
    }),
  );
  console.table(rows);
  const estimates = rows.map((r) => Number(r.pi_hat)).filter(Number.isFinite);
  const mean = estimates.reduce((a, b) => a + b, 0) / Math.max(estimates.length, 1);
  console.log(
    `${summary.succeeded}/${summary.total} succeeded, ${summary.skipped} skipped (done earlier), ${summary.failed} failed, ${summary.cancelled} cancelled in ${(summary.durationMs / 1000).toFixed(1)} s; mean pi_hat = ${mean.toFixed(4)}`,
  );
  process.exitCode = summary.failed + summary.cancelled > 0 ? 1 : 0;
} catch (error) {
  console.error(isDockerSimError(error) ? `${error.name}: ${error.message}` : error);
  process.exitCode = 2;
}
