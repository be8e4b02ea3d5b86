import type { RunSummary } from '../job/job-result.js';
import { DockerSimError } from './docker-sim-error.js';

/**
 * The jobs of a run come from a source that failed after the run began: a generator threw, or it yielded a
 * job that is invalid or whose name was used before. No further job was read; the jobs already started ran to
 * their end and are recorded in the run manifest, so fixing the source and running again with `resume`
 * continues where the run stopped. `cause` is the source's own error (a `ValidationError` names the field).
 *
 * @example
 * ```ts
 * try {
 *   await manager.startComputation();
 * } catch (error) {
 *   if (error instanceof JobSourceError) console.error(`${error.summary.total} jobs ran before: ${error.message}`);
 * }
 * ```
 */
export class JobSourceError extends DockerSimError {
  constructor(
    /** What ran before the source failed. */
    readonly summary: RunSummary,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      'E_JOB_SOURCE',
      `The job source failed after ${summary.total} jobs were read, so no further job was started: ${reason} The jobs that ran are recorded in ${summary.manifestFile}; fix the source and run again with resume: true (dsim run --resume) to continue.`,
      { cause },
    );
  }
}
