/**
 * The file-system floor of the `scale` suite: per job, what every job costs on the host whatever orchestrates it
 * (its folder, its three log files with one line each, one manifest line), 64 jobs at a time, with no manager.
 * `node bench/fs-floor.mjs <jobs>` prints one JSON line.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, open, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const jobs = Number(process.argv[2]);
const dataDirectory = await mkdtemp(path.join(process.env.DSIM_BENCH_DIR ?? os.tmpdir(), 'dsim-bench-floor-'));
try {
  const manifest = await open(path.join(dataDirectory, 'manifest.jsonl'), 'a');
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < jobs) {
      const i = next++;
      const folder = path.join(dataDirectory, `job_j${i}`);
      await mkdir(folder);
      await Promise.all(['log.txt', 'stdout.log', 'stderr.log'].map((name) => writeFile(path.join(folder, name), name === 'stderr.log' ? '' : `seed ${i}\n`, { flag: 'wx' })));
      await manifest.write(`${JSON.stringify({ v: 1, job: `j${i}`, status: 'succeeded' })}\n`);
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  const wallMs = performance.now() - started;
  await manifest.close();
  console.log(JSON.stringify({ jobs, wallMs }));
} finally {
  // rm(1) rather than fs.rm: Node's recursive rm holds a promise per entry, gigabytes for a million folders.
  execFileSync('rm', ['-rf', dataDirectory]);
}
