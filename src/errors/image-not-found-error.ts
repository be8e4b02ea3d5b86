import { DockerSimError } from './docker-sim-error.js';

/**
 * The image is absent and may not be pulled (`pullPolicy: 'never'`), or pulling it failed.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof ImageNotFoundError) console.error(`build or pull ${e.image} first`); }
 * ```
 */
export class ImageNotFoundError extends DockerSimError {
  readonly image: string;

  constructor(image: string, message: string, options?: { cause?: unknown }) {
    super('E_IMAGE_NOT_FOUND', message, options);
    this.image = image;
  }
}
