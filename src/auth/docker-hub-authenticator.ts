import { TokenAuthenticator } from './token-authenticator.js';
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
export class DockerHubAuthenticator extends TokenAuthenticator {
  constructor(options: DockerHubAuthenticatorOptions = {}) {
    super({ registry: DOCKER_HUB_REGISTRY, serverAddress: DOCKER_HUB_SERVER_ADDRESS, usernameEnv: ['DOCKERHUB_USERNAME'], tokenEnv: ['DOCKERHUB_TOKEN'] }, options);
  }
}
