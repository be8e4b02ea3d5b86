import { TokenAuthenticator } from './token-authenticator.js';

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
export class GhcrAuthenticator extends TokenAuthenticator {
  constructor(options: GhcrAuthenticatorOptions = {}) {
    super({ registry: GHCR, serverAddress: GHCR, usernameEnv: ['GITHUB_USERNAME', 'GITHUB_ACTOR'], tokenEnv: ['GITHUB_PAT', 'CR_PAT', 'GITHUB_TOKEN'] }, options);
  }
}
