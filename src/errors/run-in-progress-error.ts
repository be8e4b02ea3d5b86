import { DockerSimError } from './docker-sim-error.js';

/**
 * `startComputation()` was called while a run of the same manager is still going.
 *
 * @example
 * ```ts
 * await manager.startComputation(); // wait for one run to end before starting the next
 * ```
 */
export class RunInProgressError extends DockerSimError {
  constructor() {
    super(
      'E_RUN_IN_PROGRESS',
      'startComputation() was called while a run of this manager is still in progress. Await the first run before starting another.',
    );
  }
}
