import type { RegistryAuthenticator, RegistryCredentials } from './registry-authenticator.js';
import { checkCredentialOption, firstEnvValue } from './check-credential-option.js';
import { normalizeRegistryOrUndefined } from './normalize-registry-or-undefined.js';

/**
 * Options of {@link GhcrAuthenticator}.
 *
 * @example
 * ```ts
 * const options: GhcrAuthenticatorOptions = { username: 'octocat', token: process.env.GHCR_READ_TOKEN };
 * ```
 */
export interface GhcrAuthenticatorOptions {
  /**
   * The GitHub user (or organisation bot) name.
   * @default process.env.GITHUB_USERNAME ?? process.env.GITHUB_ACTOR, read when credentials are asked for
   */
  username?: string;
  /**
   * A token with `read:packages` (a personal access token, or `GITHUB_TOKEN` inside GitHub Actions).
   * @default process.env.GITHUB_PAT ?? process.env.CR_PAT ?? process.env.GITHUB_TOKEN, read when credentials are asked for
   */
  token?: string;
  /**
   * Where the defaults are read from.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
}

const GHCR = 'ghcr.io';

/**
 * Credentials for the GitHub Container Registry (`ghcr.io`) from options or the environment. Answers
 * `undefined` (anonymous pull) when the user name or the token is missing.
 *
 * @example
 * ```ts
 * const manager = new DockerSimManager({
 *   image: 'ghcr.io/myorg/sim:1.0',
 *   auth: [new GhcrAuthenticator()], // GITHUB_ACTOR + GITHUB_TOKEN in GitHub Actions
 * });
 * ```
 */
export class GhcrAuthenticator implements RegistryAuthenticator {
  readonly #username: string | undefined;
  readonly #token: string | undefined;
  readonly #env: NodeJS.ProcessEnv | undefined;

  constructor(options: GhcrAuthenticatorOptions = {}) {
    checkCredentialOption('username', options.username, { isSecret: false });
    checkCredentialOption('token', options.token, { isSecret: true });
    this.#username = options.username;
    this.#token = options.token;
    this.#env = options.env;
  }

  /** True for this registry's host names only. */
  supports(registry: string): boolean {
    return normalizeRegistryOrUndefined(registry) === GHCR;
  }

  /** The credentials, or `undefined` when one of them is missing or `registry` is not supported. */
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    if (!this.supports(registry)) return undefined;
    const env = this.#env ?? process.env;
    const username = this.#username ?? firstEnvValue(env, ['GITHUB_USERNAME', 'GITHUB_ACTOR']);
    const token = this.#token ?? firstEnvValue(env, ['GITHUB_PAT', 'CR_PAT', 'GITHUB_TOKEN']);
    if (username === undefined || token === undefined) return undefined;
    return { username, password: token, serveraddress: GHCR };
  }
}
