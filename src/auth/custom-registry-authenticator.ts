import { ValidationError, describeValue } from '../errors/validation-error.js';
import type { RegistryAuthenticator, RegistryCredentials } from './registry-authenticator.js';
import { HIDDEN, checkRequiredCredentialOption } from './check-credential-option.js';
import { normalizeRegistryOrUndefined } from './normalize-registry-or-undefined.js';
import { DOCKER_HUB_REGISTRY, DOCKER_HUB_SERVER_ADDRESS, normalizeRegistry } from './registry-of.js';

/**
 * Options of {@link CustomRegistryAuthenticator}: a registry host (`registry.example.com`, `localhost:5000`; a
 * scheme or path is dropped) with either a user name and password or an identity token (OAuth refresh token).
 *
 * @example
 * ```ts
 * const options: CustomRegistryAuthenticatorOptions = { registry: 'localhost:5000', identityToken: refreshToken };
 * ```
 */
export type CustomRegistryAuthenticatorOptions =
  | { registry: string; username: string; password: string }
  | { registry: string; identityToken: string };

/**
 * Fixed credentials for one registry host (host and port must match). Options are checked when constructed;
 * secrets never appear in the resulting messages.
 *
 * @example
 * ```ts
 * const auth = new CustomRegistryAuthenticator({
 *   registry: 'registry.example.com:5000',
 *   username: 'ci',
 *   password: process.env.REGISTRY_PASSWORD ?? '',
 * });
 * ```
 */
export class CustomRegistryAuthenticator implements RegistryAuthenticator {
  /** The normalised registry host this authenticator answers for. */
  readonly registry: string;
  readonly #credentials: RegistryCredentials;

  constructor(options: CustomRegistryAuthenticatorOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new ValidationError(
        'options',
        options,
        `Expected CustomRegistryAuthenticator options { registry, username, password } or { registry, identityToken }, got ${describeValue(options)}.`,
      );
    }
    const given = options as Partial<Record<'registry' | 'username' | 'password' | 'identityToken', unknown>>;
    this.registry = normalizeRegistry(given.registry as string);
    const serveraddress = this.registry === DOCKER_HUB_REGISTRY ? DOCKER_HUB_SERVER_ADDRESS : this.registry;
    const hasToken = given.identityToken !== undefined;
    const hasLogin = given.username !== undefined || given.password !== undefined;
    if (hasToken && hasLogin) {
      throw new ValidationError(
        'identityToken',
        HIDDEN,
        `Give either \`username\` and \`password\` or \`identityToken\` for registry ${this.registry}, not both.`,
      );
    }
    if (hasToken) {
      checkRequiredCredentialOption('identityToken', given.identityToken, { isSecret: true });
      this.#credentials = { identitytoken: given.identityToken, serveraddress };
    } else {
      if (!hasLogin) {
        throw new ValidationError(
          'username',
          undefined,
          `Expected \`username\` and \`password\`, or \`identityToken\`, for registry ${this.registry}; got none of them.`,
        );
      }
      checkRequiredCredentialOption('username', given.username, { isSecret: false });
      checkRequiredCredentialOption('password', given.password, { isSecret: true });
      this.#credentials = { username: given.username, password: given.password, serveraddress };
    }
  }

  /** True for exactly this registry's host and port (Docker Hub's aliases count as one host). */
  supports(registry: string): boolean {
    return normalizeRegistryOrUndefined(registry) === this.registry;
  }

  /** The configured credentials (a fresh copy), or `undefined` for any other registry. */
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    return this.supports(registry) ? { ...this.#credentials } : undefined;
  }
}
