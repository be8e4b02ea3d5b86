import { DockerSimError } from './docker-sim-error.js';

/**
 * Pulling an image failed part-way or was refused by the registry (the engine reports such failures inside
 * its progress stream). `image` is the reference that was pulled. The message never contains credentials.
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ job, error }) => {
 *   if (error instanceof ImagePullError) console.error(`${job.name}: could not pull ${error.image}`);
 * });
 * ```
 */
export class ImagePullError extends DockerSimError {
  /** The image reference being pulled. */
  readonly image: string;

  constructor(image: string, message: string, options?: { cause?: unknown }) {
    super('E_IMAGE_PULL', message, options);
    this.image = image;
  }
}
