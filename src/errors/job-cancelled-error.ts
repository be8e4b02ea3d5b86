import { DockerSimError } from './docker-sim-error.js';

/**
 * The job was cancelled (the run's AbortSignal fired or `manager.cancel()` was called) before it finished.
 *
 * @example
 * ```ts
 * const summary = await manager.startComputation({ signal: AbortSignal.timeout(60_000) });
 * summary.results.filter((r) => r.error instanceof JobCancelledError);
 * ```
 */
export class JobCancelledError extends DockerSimError {
  constructor(jobName: string, options?: { cause?: unknown }) {
    super('E_JOB_CANCELLED', `Job ${jobName} was cancelled before it finished.`, options);
  }
}
