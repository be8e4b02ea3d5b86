import { DockerSimError } from './docker-sim-error.js';
import { describeOutput, type JobOutputDetails } from './job-exit-error.js';
import { formatDuration } from '../util/format-duration.js';

/**
 * A job ran longer than its `timeoutMs` and was stopped (SIGTERM, then SIGKILL after `stopGracePeriodMs`).
 * Found in `JobResult.error`; retried when `retryOn` includes `'timeout'`.
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ job, error }) => {
 *   if (error instanceof JobTimeoutError) console.log(`${job.name} needed more than ${error.timeoutMs} ms`);
 * });
 * ```
 */
export class JobTimeoutError extends DockerSimError {
  readonly timeoutMs: number;
  /** The container's exit code after the stop (143 for SIGTERM, 137 for SIGKILL), null if it never reported one. */
  readonly exitCode: number | null;

  /** The job's `log.txt` (absolute), when known. */
  readonly logFile: string | undefined;

  constructor(jobName: string, timeoutMs: number, exitCode: number | null, details: JobOutputDetails = {}) {
    super(
      'E_JOB_TIMEOUT',
      `Job ${jobName} was stopped because it ran longer than its time limit of ${formatDuration(timeoutMs)} (\`timeoutMs\`; \`timeout\` in a sweep file)${exitCode === null ? '' : `; it then exited with code ${exitCode}`}. Raise the limit if the job needs more time.${describeOutput(details, 'Its output so far')}`,
    );
    this.timeoutMs = timeoutMs;
    this.exitCode = exitCode;
    this.logFile = details.logFile;
  }
}
