import { DockerSimError } from './docker-sim-error.js';

/**
 * A job wrote nothing to stdout or stderr for `inactivityTimeoutMs` and was stopped (SIGTERM, then SIGKILL
 * after `stopGracePeriodMs`). Found in `JobResult.error`; retried when `retryOn` includes `'stalled'`.
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ job, error }) => {
 *   if (error instanceof JobStalledError) console.log(`${job.name} was silent for ${error.inactivityTimeoutMs} ms`);
 * });
 * ```
 */
export class JobStalledError extends DockerSimError {
  readonly inactivityTimeoutMs: number;
  /** The container's exit code after the stop, null if it never reported one. */
  readonly exitCode: number | null;

  constructor(jobName: string, inactivityTimeoutMs: number, exitCode: number | null) {
    super(
      'E_JOB_STALLED',
      `Job ${jobName} wrote no output for ${inactivityTimeoutMs} ms (inactivityTimeoutMs) and was stopped as stalled${exitCode === null ? '' : ` (exit code ${exitCode})`}. If it legitimately works silently for longer, raise \`inactivityTimeoutMs\` or have it print progress.`,
    );
    this.inactivityTimeoutMs = inactivityTimeoutMs;
    this.exitCode = exitCode;
  }
}
