import { DockerSimError } from './docker-sim-error.js';
import { describeOutput, type JobOutputDetails } from './job-exit-error.js';
import { formatDuration } from '../util/format-duration.js';

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

  /** The job's `log.txt` (absolute), when known. */
  readonly logFile: string | undefined;

  constructor(jobName: string, inactivityTimeoutMs: number, exitCode: number | null, details: JobOutputDetails = {}) {
    super(
      'E_JOB_STALLED',
      `Job ${jobName} was stopped as stalled: it wrote no output for ${formatDuration(inactivityTimeoutMs)} (\`inactivityTimeoutMs\`; \`inactivityTimeout\` in a sweep file)${exitCode === null ? '' : `; it then exited with code ${exitCode}`}. If it legitimately works silently for longer, raise the limit or have it print progress.${describeOutput(details, 'Its output so far')}`,
    );
    this.inactivityTimeoutMs = inactivityTimeoutMs;
    this.exitCode = exitCode;
    this.logFile = details.logFile;
  }
}
