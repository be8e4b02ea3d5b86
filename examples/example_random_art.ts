/**
 * Generative art: two sweeps over the random-art simulation, one over image sizes and one over the number of
 * invaders per row, writing one PPM image per sample.
 *
 *   npm run demo:art                       (builds the example image first when it is absent)
 *   DSIM_DATA_DIR=/tmp/art npm run demo:art
 */
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, SimJob, isDockerSimError } from '../src/index.js';
import { EXAMPLE_IMAGES } from './images.js';

const root = process.env.DSIM_DATA_DIR ?? path.join(os.homedir(), 'example_docker_simulation', 'random_art');
const runStamp = new Date().toISOString().replace(/[:.]/g, '-');

async function sweep(name: string, jobs: SimJob[]): Promise<void> {
  const manager = new DockerSimManager({
    image: EXAMPLE_IMAGES['random-art'].tag,
    maxWorkers: 4,
    dataDirectory: path.join(root, runStamp, name),
    pullPolicy: 'never',
    handleSignals: true,
  });
  manager.addSimJobs(jobs);
  manager.on('job:log', ({ job, line }) => console.log(`[${name}/${job.name}] ${line}`));
  manager.on('job:failed', ({ job, error }) => console.log(`[${name}/${job.name}] failed: ${error.message}`));
  const summary = await manager.startComputation();
  console.log(`${name}: ${summary.succeeded}/${summary.total} images in ${(summary.durationMs / 1000).toFixed(1)} s under ${path.join(root, runStamp, name)}`);
  if (summary.failed > 0) process.exitCode = 1;
}

try {
  // Sweep 1: image sizes, 4 invaders per row, 3 seeds each.
  await sweep(
    'sizes',
    [64, 128, 256].flatMap((size) =>
      [1, 2, 3].map((seed) => new SimJob({ name: `size${size}_seed${seed}`, command: `-o /mnt/data -s ${size} -n 4 -r ${seed}` })),
    ),
  );
  // Sweep 2: invaders per row on a 210 px canvas, 3 seeds each.
  await sweep(
    'invaders',
    [2, 5, 10].flatMap((count) =>
      [1, 2, 3].map((seed) => new SimJob({ name: `n${count}_seed${seed}`, command: `-o /mnt/data -s 210 -n ${count} -r ${seed}` })),
    ),
  );
} catch (error) {
  console.error(isDockerSimError(error) ? `${error.name}: ${error.message}` : error);
  process.exitCode = 2;
}
