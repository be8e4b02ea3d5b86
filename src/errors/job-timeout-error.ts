import { DockerSimError } from './docker-sim-error.js';

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

  constructor(jobName: string, timeoutMs: number, exitCode: number | null) {
    super(
      'E_JOB_TIMEOUT',
      `Job ${jobName} ran longer than its timeoutMs (${timeoutMs} ms) and was stopped${exitCode === null ? '' : ` (exit code ${exitCode})`}. Raise \`timeoutMs\` if the job needs more time; its output so far is in log.txt.`,
    );
    this.timeoutMs = timeoutMs;
    this.exitCode = exitCode;
  }
}
