import { DockerSimError } from './docker-sim-error.js';

/**
 * Credentials for a registry could not be obtained or were refused: an authenticator failed, or the registry
 * rejected the login. `registry` is the registry host (`ghcr.io`, `docker.io`, `localhost:5000`). The message
 * never contains a password, token or their base64 form.
 *
 * @example
 * ```ts
 * try {
 *   await selectCredentials(authenticators, 'ghcr.io');
 * } catch (error) {
 *   if (error instanceof RegistryAuthError) console.error(`check the credentials for ${error.registry}`);
 * }
 * ```
 */
export class RegistryAuthError extends DockerSimError {
  /** The registry host, normalised (`docker.io` for Docker Hub). */
  readonly registry: string;

  constructor(registry: string, message: string, options?: { cause?: unknown }) {
    super('E_REGISTRY_AUTH', message, options);
    this.registry = registry;
  }
}
