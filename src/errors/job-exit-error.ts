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
  /** The job's `log.txt` (absolute), when known. */
  readonly logFile: string | undefined;
  /** The last lines the job wrote to stderr (secrets of its env masked), also quoted in the message. */
  readonly stderrTail: readonly string[];

  constructor(jobName: string, exitCode: number, isOomKilled: boolean, details: JobOutputDetails = {}) {
    const what = isOomKilled
      ? `Job ${jobName} was killed because it ran out of memory (OOMKilled, exit code ${exitCode}). Raise its \`memory\` limit or reduce its footprint.`
      : exitCode === 137
        ? `Job ${jobName} was killed (SIGKILL, exit code 137): stopped or killed from outside.`
        : `Job ${jobName} exited with code ${exitCode}.`;
    super('E_JOB_EXIT', `${what}${describeOutput(details)}`);
    this.exitCode = exitCode;
    this.isOomKilled = isOomKilled;
    this.logFile = details.logFile;
    this.stderrTail = details.stderrTail ?? [];
  }
}

/** Where a failed job's output is, and the end of its stderr. */
export interface JobOutputDetails {
  logFile?: string | undefined;
  stderrTail?: readonly string[] | undefined;
}

/** The part of a failure message that shows the end of stderr and where the whole log is. */
export function describeOutput(details: JobOutputDetails, what = 'Its output'): string {
  const tail = details.stderrTail ?? [];
  const quoted = tail.length > 0 ? ` The last lines of its stderr:\n${tail.map((line) => `  ${line}`).join('\n')}\n` : ' ';
  return `${quoted}${what} is in ${details.logFile ?? 'log.txt in its job folder'}.`;
}
