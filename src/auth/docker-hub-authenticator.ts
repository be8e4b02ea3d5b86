import type { RegistryAuthenticator, RegistryCredentials } from './registry-authenticator.js';
import { checkCredentialOption, firstEnvValue } from './check-credential-option.js';
import { normalizeRegistryOrUndefined } from './normalize-registry-or-undefined.js';
import { DOCKER_HUB_REGISTRY, DOCKER_HUB_SERVER_ADDRESS } from './registry-of.js';

/**
 * Options of {@link DockerHubAuthenticator}.
 *
 * @example
 * ```ts
 * const options: DockerHubAuthenticatorOptions = { username: 'me', token: process.env.HUB_TOKEN };
 * ```
 */
export interface DockerHubAuthenticatorOptions {
  /**
   * The Docker Hub user name.
   * @default process.env.DOCKERHUB_USERNAME, read when credentials are asked for
   */
  username?: string;
  /**
   * A Docker Hub access token (or password).
   * @default process.env.DOCKERHUB_TOKEN, read when credentials are asked for
   */
  token?: string;
  /**
   * Where the defaults are read from.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
}

/**
 * Credentials for Docker Hub (`docker.io`, `index.docker.io`, `registry-1.docker.io`) from options or the
 * environment. Answers `undefined` (anonymous pull) when the user name or the token is missing.
 *
 * @example
 * ```ts
 * const manager = new DockerSimManager({
 *   image: 'myorg/private-sim:2.0',
 *   auth: [new DockerHubAuthenticator()], // DOCKERHUB_USERNAME + DOCKERHUB_TOKEN
 * });
 * ```
 */
export class DockerHubAuthenticator implements RegistryAuthenticator {
  readonly #username: string | undefined;
  readonly #token: string | undefined;
  readonly #env: NodeJS.ProcessEnv | undefined;

  constructor(options: DockerHubAuthenticatorOptions = {}) {
    checkCredentialOption('username', options.username, { isSecret: false });
    checkCredentialOption('token', options.token, { isSecret: true });
    this.#username = options.username;
    this.#token = options.token;
    this.#env = options.env;
  }

  /** True for this registry's host names only. */
  supports(registry: string): boolean {
    return normalizeRegistryOrUndefined(registry) === DOCKER_HUB_REGISTRY;
  }

  /** The credentials, or `undefined` when one of them is missing or `registry` is not supported. */
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    if (!this.supports(registry)) return undefined;
    const env = this.#env ?? process.env;
    const username = this.#username ?? firstEnvValue(env, ['DOCKERHUB_USERNAME']);
    const token = this.#token ?? firstEnvValue(env, ['DOCKERHUB_TOKEN']);
    if (username === undefined || token === undefined) return undefined;
    return { username, password: token, serveraddress: DOCKER_HUB_SERVER_ADDRESS };
  }
}
