import { ValidationError, describeValue } from '../errors/validation-error.js';
import type { RegistryAuthenticator, RegistryCredentials } from './registry-authenticator.js';
import { loadDockerConfig, type DockerConfig, type DockerConfigAuthEntry } from './load-docker-config.js';
import { normalizeRegistryOrUndefined } from './normalize-registry-or-undefined.js';
import { DOCKER_HUB_REGISTRY, DOCKER_HUB_SERVER_ADDRESS, normalizeRegistry } from './registry-of.js';
import { runCredentialHelper } from './run-credential-helper.js';

/**
 * Options of {@link DockerConfigAuthenticator}.
 *
 * @example
 * ```ts
 * const options: DockerConfigAuthenticatorOptions = { configDir: '/ci/docker', helperTimeoutMs: 2000 };
 * ```
 */
export interface DockerConfigAuthenticatorOptions {
  /**
   * The folder holding `config.json`.
   * @default $DOCKER_CONFIG, else ~/.docker
   */
  configDir?: string;
  /**
   * How long a credential helper (`docker-credential-<name>`) may take before it is killed and treated as
   * having no credentials.
   * @default 5000
   */
  helperTimeoutMs?: number;
  /**
   * The environment to read `DOCKER_AUTH_CONFIG` and `DOCKER_CONFIG` from and to run credential helpers with
   * (its PATH finds them). Read at every `getCredentials()`.
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /** Receives what was tried and why nothing was found. Messages never contain credentials. */
  onDebug?: (message: string) => void;
}

/**
 * Credentials the way `docker login` left them: `DOCKER_AUTH_CONFIG` when set (it replaces the file), else
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. For a registry it tries, in order, its
 * `credHelpers` entry, the `credsStore`, then `auths` (`auth` as base64 `user:password`, or `identitytoken`);
 * the first that has credentials wins. A missing, failing or hanging helper counts as "no credentials" and is
 * reported through `onDebug`, never thrown. Supports every registry, so put it last.
 *
 * @example
 * ```ts
 * const manager = new DockerSimManager({
 *   image: 'registry.example.com/team/sim:3',
 *   auth: [new DockerConfigAuthenticator({ onDebug: (m) => console.debug(m) })],
 * });
 * ```
 */
export class DockerConfigAuthenticator implements RegistryAuthenticator {
  readonly #configDir: string | undefined;
  readonly #helperTimeoutMs: number;
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #onDebug: ((message: string) => void) | undefined;

  constructor(options: DockerConfigAuthenticatorOptions = {}) {
    const { configDir, helperTimeoutMs = 5000, env, onDebug } = options;
    if (configDir !== undefined && (typeof configDir !== 'string' || configDir === '')) {
      throw new ValidationError('configDir', configDir, `Expected \`configDir\` to be a folder path, got ${describeValue(configDir)}.`);
    }
    if (typeof helperTimeoutMs !== 'number' || !Number.isInteger(helperTimeoutMs) || helperTimeoutMs < 1) {
      throw new ValidationError(
        'helperTimeoutMs',
        helperTimeoutMs,
        `Expected \`helperTimeoutMs\` to be an integer >= 1, got ${describeValue(helperTimeoutMs)}.`,
      );
    }
    if (env !== undefined && (typeof env !== 'object' || env === null)) {
      throw new ValidationError('env', env, `Expected \`env\` to be an object of environment variables, got ${describeValue(env)}.`);
    }
    if (onDebug !== undefined && typeof onDebug !== 'function') {
      throw new ValidationError('onDebug', onDebug, `Expected \`onDebug\` to be a function, got ${describeValue(onDebug)}.`);
    }
    this.#configDir = configDir;
    this.#helperTimeoutMs = helperTimeoutMs;
    this.#env = env;
    this.#onDebug = onDebug;
  }

  /** Always true: the config may name any registry (answers `undefined` when it has nothing). */
  supports(_registry: string): boolean {
    return true;
  }

  /** The registry's credentials from the Docker config, or `undefined` when it has none that work. */
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    const host = normalizeRegistry(registry);
    const env = this.#env ?? process.env;
    const debug = (message: string): void => this.#debug(message);
    const loaded = await loadDockerConfig({ env, configDir: this.#configDir, onDebug: debug });
    if (!loaded) return undefined;
    const { config, source } = loaded;
    const serverAddress = host === DOCKER_HUB_REGISTRY ? DOCKER_HUB_SERVER_ADDRESS : host;

    const helper = findEntry(config.credHelpers, host);
    if (helper !== undefined) {
      const found = await this.#fromHelper(helper, host, serverAddress, env, `credHelpers in ${source}`);
      if (found) return found;
    }
    if (config.credsStore !== undefined) {
      const found = await this.#fromHelper(config.credsStore, host, serverAddress, env, `credsStore in ${source}`);
      if (found) return found;
    }
    const found = fromAuths(config, host, serverAddress, debug, source);
    if (!found) debug(`No credentials for ${host} in ${source}.`);
    return found;
  }

  async #fromHelper(
    helper: string,
    host: string,
    serverAddress: string,
    env: NodeJS.ProcessEnv,
    origin: string,
  ): Promise<RegistryCredentials | undefined> {
    const answer = await runCredentialHelper(helper, serverAddress, { timeoutMs: this.#helperTimeoutMs, env });
    if (answer.kind === 'found') {
      return answer.username === '<token>'
        ? { identitytoken: answer.secret, serveraddress: serverAddress }
        : { username: answer.username, password: answer.secret, serveraddress: serverAddress };
    }
    this.#debug(
      answer.kind === 'not-found'
        ? `Credential helper '${helper}' (${origin}) has no credentials for ${host}.`
        : `Credential helper '${helper}' (${origin}) gave no credentials for ${host}: ${answer.reason}.`,
    );
    return undefined;
  }

  #debug(message: string): void {
    try {
      this.#onDebug?.(message);
    } catch {
      // A failing debug listener must not break a pull.
    }
  }
}

/** The value of the first key that names `host` (`ghcr.io`, `https://ghcr.io`, `https://index.docker.io/v1/`). */
function findEntry<T>(entries: Record<string, T> | undefined, host: string): T | undefined {
  if (!entries) return undefined;
  const keys = Object.keys(entries).filter((key) => normalizeRegistryOrUndefined(key) === host);
  // Prefer the key the docker CLI itself writes (the bare host, or Docker Hub's v1 address).
  keys.sort((a, b) => rank(a) - rank(b));
  return keys.length > 0 ? entries[keys[0] as string] : undefined;
}

function rank(key: string): number {
  return key === DOCKER_HUB_SERVER_ADDRESS || !key.includes('/') ? 0 : 1;
}

function fromAuths(
  config: DockerConfig,
  host: string,
  serverAddress: string,
  debug: (message: string) => void,
  source: string,
): RegistryCredentials | undefined {
  const entry: DockerConfigAuthEntry | undefined = findEntry(config.auths, host);
  if (!entry) return undefined;
  if (entry.identitytoken !== undefined) return { identitytoken: entry.identitytoken, serveraddress: serverAddress };
  if (entry.auth !== undefined) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0 && colon < decoded.length - 1) {
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: serverAddress };
    }
    debug(`The \`auth\` entry for ${host} in ${source} is not base64 of 'username:password'; ignoring it. Run \`docker login ${host}\` again.`);
    return undefined;
  }
  if (entry.username !== undefined && entry.password !== undefined) {
    return { username: entry.username, password: entry.password, serveraddress: serverAddress };
  }
  return undefined;
}
