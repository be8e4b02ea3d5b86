import { DockerSimError } from './docker-sim-error.js';

/**
 * Copying a job's outputs out of its container failed or was refused (for instance `maxOutputBytes` or
 * `maxOutputEntries` was exceeded). Nothing half-extracted is left in the job folder.
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ job, error }) => {
 *   if (error instanceof ArchiveError) console.log(`${job.name}: ${error.message}`);
 * });
 * ```
 */
export class ArchiveError extends DockerSimError {
  /** The container path being copied out. */
  readonly containerPath: string;

  constructor(containerPath: string, message: string, options?: { cause?: unknown }) {
    super('E_ARCHIVE', message, options);
    this.containerPath = containerPath;
  }
}
