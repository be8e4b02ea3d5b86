import { DockerSimError } from './docker-sim-error.js';

/**
 * A job's process exited non-zero (or was killed for exceeding its memory limit: `isOomKilled`).
 * Found in `JobResult.error`, never thrown by `startComputation()`.
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ job, error }) => {
 *   if (error instanceof JobExitError && error.isOomKilled) console.log(`${job.name}: raise its memory limit`);
 * });
 * ```
 */
export class JobExitError extends DockerSimError {
  readonly exitCode: number;
  readonly isOomKilled: boolean;

  constructor(jobName: string, exitCode: number, isOomKilled: boolean) {
    super(
      'E_JOB_EXIT',
      isOomKilled
        ? `Job ${jobName} was killed because it ran out of memory (OOMKilled, exit code ${exitCode}). Raise its \`memory\` limit or reduce its footprint.`
        : exitCode === 137
          ? `Job ${jobName} was killed (SIGKILL, exit code 137): stopped, killed from outside, or killed by the kernel for memory without the engine flagging it. See its log.txt for the output.`
          : `Job ${jobName} exited with code ${exitCode}. See its log.txt for the output.`,
    );
    this.exitCode = exitCode;
    this.isOomKilled = isOomKilled;
  }
}
