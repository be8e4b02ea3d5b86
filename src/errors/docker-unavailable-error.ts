import { DockerSimError } from './docker-sim-error.js';

/**
 * The Docker engine could not be reached. `endpoint` says which socket or host was tried.
 *
 * @example
 * ```ts
 * catch (e) { if (e instanceof DockerUnavailableError) console.error(`no engine at ${e.endpoint}`); }
 * ```
 */
export class DockerUnavailableError extends DockerSimError {
  readonly endpoint: string;

  constructor(endpoint: string, message: string, options?: { cause?: unknown }) {
    super('E_DOCKER_UNAVAILABLE', message, options);
    this.endpoint = endpoint;
  }
}
