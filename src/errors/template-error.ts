import { DockerSimError } from './docker-sim-error.js';

/**
 * A template could not be packed into the container (unreadable file, a link leading out of its folder...).
 *
 * @example
 * ```ts
 * manager.on('job:failed', ({ error }) => { if (error instanceof TemplateError) console.log(error.source); });
 * ```
 */
export class TemplateError extends DockerSimError {
  /** The host path of the template. */
  readonly source: string;

  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super('E_TEMPLATE', message, options);
    this.source = source;
  }
}
