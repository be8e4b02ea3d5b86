import type { RegistryCredentials } from '../runtime/container-runtime.js';

export type { RegistryCredentials } from '../runtime/container-runtime.js';

/**
 * Finds credentials for a container registry. Implementations are tried in order by `selectCredentials()`: the
 * first whose `supports()` answers true is asked, and its answer (possibly `undefined`, meaning "pull
 * anonymously") is used. Write your own to fetch tokens from a vault, a cloud SDK or a file.
 *
 * Credentials are returned as plain data and must never be logged; implementations must not put a password or
 * token into an error message, a debug message or an event.
 *
 * @example
 * ```ts
 * class VaultAuthenticator implements RegistryAuthenticator {
 *   supports(registry: string): boolean {
 *     return registry === 'registry.example.com';
 *   }
 *   async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
 *     const secret = await vault.read('registry-token');
 *     return { username: 'ci', password: secret, serveraddress: registry };
 *   }
 * }
 * ```
 */
export interface RegistryAuthenticator {
  /**
   * True when this authenticator is responsible for the registry: a normalised host such as `ghcr.io`,
   * `docker.io` or `localhost:5000` (see `registryOf()`).
   */
  supports(registry: string): boolean;
  /** The credentials for the registry, or `undefined` when there are none (the pull then goes anonymous). */
  getCredentials(registry: string): Promise<RegistryCredentials | undefined>;
}
