import { RegistryAuthError } from '../errors/registry-auth-error.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import type { RegistryAuthenticator, RegistryCredentials } from './registry-authenticator.js';
import { normalizeRegistry } from './registry-of.js';

/**
 * Asks the first authenticator that supports the registry for its credentials; later authenticators are not
 * consulted, even when the first answers `undefined` (an anonymous pull). Order them from the most specific to
 * the most general (a `DockerConfigAuthenticator`, which supports every registry, goes last). The registry is
 * normalised first (`index.docker.io` becomes `docker.io`).
 *
 * @throws {RegistryAuthError} when an authenticator throws (kept as `cause`; its message is not repeated, in
 * case it contains a secret).
 * @example
 * ```ts
 * const credentials = await selectCredentials(
 *   [new GhcrAuthenticator(), new DockerConfigAuthenticator()],
 *   registryOf('ghcr.io/myorg/sim:1.0'),
 * );
 * ```
 */
export async function selectCredentials(
  authenticators: readonly RegistryAuthenticator[],
  registry: string,
): Promise<RegistryCredentials | undefined> {
  if (!Array.isArray(authenticators)) {
    throw new ValidationError(
      'authenticators',
      authenticators,
      `Expected \`authenticators\` to be an array of RegistryAuthenticator, got ${describeValue(authenticators)}.`,
    );
  }
  const host = normalizeRegistry(registry);
  for (const [index, authenticator] of authenticators.entries()) {
    const name = describeAuthenticator(authenticator, index);
    let isSupported: boolean;
    try {
      isSupported = authenticator.supports(host);
    } catch (error) {
      throw new RegistryAuthError(host, `${name}.supports('${host}') threw; see \`cause\`.`, { cause: error });
    }
    if (!isSupported) continue;
    try {
      return await authenticator.getCredentials(host);
    } catch (error) {
      throw new RegistryAuthError(
        host,
        `${name} failed to get credentials for registry ${host}; see \`cause\`. Fix the authenticator or remove it to pull anonymously.`,
        { cause: error },
      );
    }
  }
  return undefined;
}

function describeAuthenticator(authenticator: unknown, index: number): string {
  const constructorName = (authenticator as { constructor?: { name?: unknown } } | null)?.constructor?.name;
  return `authenticators[${index}] (${typeof constructorName === 'string' && constructorName !== '' ? constructorName : 'anonymous'})`;
}
