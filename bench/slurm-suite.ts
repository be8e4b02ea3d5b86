/**
 * `npm run bench -- slurm`: the same 60 short monte-carlo-pi jobs at 4 workers through Slurm (backend 'slurm',
 * each job a batch job whose script runs the container on the node) and through the local engine directly (fresh
 * containers), alternated in each round; round 1 is a warm-up. Also the scheduling overhead per job: from sbatch
 * to RUNNING (`result.queuedMs`). Needs the one-node cluster of scripts/slurm-cluster.sh.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureExampleImage } from '../examples/images.js';
import { DockerSimManager, type Backend, type RunSummary } from '../src/index.js';
import { check, formatSeconds, median, printTable, sh, timed } from './lib.js';

const JOBS = 60;
const WORKERS = 4;
const ITERATIONS = 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

async function runOnce(image: string, backend: Backend): Promise<{ wallMs: number; summary: RunSummary }> {
  const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-slurm-'));
  try {
    const { value: summary, wallMs } = await timed(async () => {
      const manager = new DockerSimManager({ image, maxWorkers: WORKERS, dataDirectory, backend, defaults: { network: 'none' } });
      manager.addSimJobs(Array.from({ length: JOBS }, (_, i) => ({ name: `seed${i + 1}`, command: `-o /mnt/data -r ${i + 1} -i ${ITERATIONS}` })));
      return manager.startComputation();
    });
    check(summary.succeeded === JOBS, `${backend}: ${summary.succeeded}/${JOBS} succeeded: ${summary.results.find((r) => r.error)?.error?.message ?? ''}`);
    return { wallMs, summary };
  } finally {
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

export async function slurmSuite(): Promise<void> {
  check(Number.isInteger(ROUNDS) && ROUNDS >= 2, `Expected BENCH_ROUNDS to be an integer >= 2, got ${process.env.BENCH_ROUNDS}`);
  const slurmVersion = (await sh('sinfo --version').catch(() => '')).trim();
  check(slurmVersion !== '', 'Slurm does not answer here: start the one-node cluster with `bash scripts/slurm-cluster.sh`.');
  const image = await ensureExampleImage('monte-carlo-pi');
  console.log(`suite slurm: ${JOBS} jobs (${image} -i ${ITERATIONS}), ${WORKERS} workers, ${ROUNDS} rounds of the local engine and Slurm; round 1 = warm-up`);
  console.log(`node ${process.version}, ${os.availableParallelism()} cores, ${os.type()} ${os.release()}, ${slurmVersion} (one node, its engine Docker)\n`);
  const walls: Record<'engine' | 'slurm', number[]> = { engine: [], slurm: [] };
  const queued: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const backend of round % 2 === 0 ? (['slurm', 'engine'] as const) : (['engine', 'slurm'] as const)) {
      const { wallMs, summary } = await runOnce(image, backend);
      console.log(`round ${round}: ${backend} ${formatSeconds(wallMs)}${round === 1 ? ' (warm-up)' : ''}`);
      if (round === 1) continue;
      walls[backend].push(wallMs);
      if (backend === 'slurm') queued.push(...summary.results.map((r) => r.queuedMs ?? Number.NaN));
    }
  }
  const engine = median(walls.engine);
  const slurm = median(walls.slurm);
  console.log('');
  printTable(['how', 'wall (median)', 'per job (wall x workers / jobs)'], [
    ['local engine, fresh containers', formatSeconds(engine), `${((engine * WORKERS) / JOBS).toFixed(0)} ms`],
    ['Slurm (sbatch per job, container on the node)', formatSeconds(slurm), `${((slurm * WORKERS) / JOBS).toFixed(0)} ms`],
  ]);
  const sorted = [...queued].sort((a, b) => a - b);
  console.log(`\nSlurm / engine: ${(slurm / engine).toFixed(2)}x. Scheduling overhead per job (sbatch to RUNNING, ${queued.length} jobs): median ${median(queued).toFixed(0)} ms, p90 ${(sorted[Math.floor(sorted.length * 0.9)] ?? 0).toFixed(0)} ms, max ${(sorted.at(-1) ?? 0).toFixed(0)} ms`);
}
