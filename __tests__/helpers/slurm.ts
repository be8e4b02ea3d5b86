/**
 * The one-node Slurm cluster of the tests (scripts/slurm-cluster.sh starts it; .ci/run does): whether it
 * answers, and the Slurm jobs a driver process submitted, read back from their comments.
 */
import { execFileSync } from 'node:child_process';
import { parseSlurmComment } from '../../src/backends/slurm/slurm-backend.js';
import { slurmCommands } from '../../src/backends/slurm/slurm-commands.js';
import { isFinal } from '../../src/backends/slurm/slurm-queue.js';
import { LABELS } from '../../src/index.js';

const isCi = process.env.CI === 'true' || process.env.CI === '1';

function slurmAnswers(): boolean {
  try {
    return /\b(idle|mix|alloc)/.test(execFileSync('sinfo', ['-h', '-o', '%t'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }));
  } catch {
    return false;
  }
}

const hasSlurm = slurmAnswers();

/** `describe` for suites that need the cluster: skipped without it on a developer's machine, a failure under CI=true. */
export const describeSlurm: jest.Describe = hasSlurm || isCi ? describe : describe.skip;

/** Fails with a clear message when the cluster does not answer. */
export function requireSlurm(): void {
  if (!slurmAnswers()) throw new Error('No Slurm cluster answers here (`sinfo` shows no usable node; CI=true makes this a failure, not a skip). Start one with `bash scripts/slurm-cluster.sh`.');
}

/**
 * The Slurm jobs driver process `pid` submitted: those still queued or running; or, with `sinceMs`, those
 * submitted since then (Slurm keeps whole seconds) for a job of `names` (the job name is in the comment).
 */
export async function slurmJobsOf(pid: number, options: { sinceMs?: number; names?: readonly string[] } = {}): Promise<string[]> {
  const ours = [...(await slurmCommands.jobs()).values()].filter((job) => parseSlurmComment(job.comment)?.labels[LABELS.ownerPid] === String(pid));
  const { sinceMs, names = [] } = options;
  const wanted =
    sinceMs === undefined
      ? ours.filter((job) => !isFinal(job))
      : ours.filter((job) => (Date.parse(job.submitTime) || 0) >= Math.floor(sinceMs / 1000) * 1000 && names.some((name) => job.comment.endsWith(`;job=${name}`)));
  return wanted.map((job) => `slurm job ${job.name}`);
}

/** Cancels the queued and running Slurm jobs of driver process `pid`. */
export async function cancelSlurmJobsOf(pid: number): Promise<void> {
  const jobs = [...(await slurmCommands.jobs()).values()].filter((job) => !isFinal(job) && parseSlurmComment(job.comment)?.labels[LABELS.ownerPid] === String(pid));
  await slurmCommands.cancel(jobs.map((job) => job.id));
}
