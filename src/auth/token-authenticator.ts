import type { RegistryAuthenticator, RegistryCredentials } from './registry-authenticator.js';
import { checkCredentialOption, firstEnvValue } from './check-credential-option.js';
import { normalizeRegistryOrUndefined } from './normalize-registry-or-undefined.js';

/** Options shared by the user-name-and-token authenticators. */
export interface TokenAuthenticatorOptions {
  username?: string;
  token?: string;
  /** Where the defaults are read from. @default process.env */
  env?: NodeJS.ProcessEnv;
}

/** Which registry a token authenticator serves and where its defaults come from. */
export interface TokenAuthenticatorProfile {
  /** The normalised registry host it answers for. */
  registry: string;
  /** The `serveraddress` its credentials carry. */
  serverAddress: string;
  /** Environment variables holding the user name, first set wins. */
  usernameEnv: readonly string[];
  /** Environment variables holding the token, first set wins. */
  tokenEnv: readonly string[];
}

/**
 * A user name and a token for one registry, from options or (read when credentials are asked for) the
 * environment. Answers `undefined` (an anonymous pull) when either is missing or the registry is another one.
 * The base of `GhcrAuthenticator` and `DockerHubAuthenticator`; secrets live in private fields.
 */
export class TokenAuthenticator implements RegistryAuthenticator {
  readonly #username: string | undefined;
  readonly #token: string | undefined;
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #profile: TokenAuthenticatorProfile;

  protected constructor(profile: TokenAuthenticatorProfile, options: TokenAuthenticatorOptions = {}) {
    checkCredentialOption('username', options.username, { isSecret: false });
    checkCredentialOption('token', options.token, { isSecret: true });
    this.#profile = profile;
    this.#username = options.username;
    this.#token = options.token;
    this.#env = options.env;
  }

  /** True for this registry's host names only. */
  supports(registry: string): boolean {
    return normalizeRegistryOrUndefined(registry) === this.#profile.registry;
  }

  /** The credentials, or `undefined` when one of them is missing or `registry` is not supported. */
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    if (!this.supports(registry)) return undefined;
    const env = this.#env ?? process.env;
    const username = this.#username ?? firstEnvValue(env, this.#profile.usernameEnv);
    const token = this.#token ?? firstEnvValue(env, this.#profile.tokenEnv);
    if (username === undefined || token === undefined) return undefined;
    return { username, password: token, serveraddress: this.#profile.serverAddress };
  }
}
