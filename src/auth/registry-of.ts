import { ValidationError, describeValue } from '../errors/validation-error.js';

/**
 * The host name the docker CLI uses for Docker Hub.
 *
 * @example
 * ```ts
 * registryOf('ubuntu:22.04') === DOCKER_HUB_REGISTRY; // true
 * ```
 */
export const DOCKER_HUB_REGISTRY = 'docker.io';

/**
 * The server address the docker CLI uses for Docker Hub in `config.json` and with credential helpers.
 *
 * @example
 * ```ts
 * const credentials = { username: 'me', password: token, serveraddress: DOCKER_HUB_SERVER_ADDRESS };
 * ```
 */
export const DOCKER_HUB_SERVER_ADDRESS = 'https://index.docker.io/v1/';

const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/**
 * Normalises a registry host or server address for comparison: lower case, without scheme or path, with Docker
 * Hub's aliases (`index.docker.io`, `registry-1.docker.io`, `https://index.docker.io/v1/`) mapped to `docker.io`.
 * The port is kept: `localhost:5000` and `localhost:5001` are different registries.
 *
 * @throws {ValidationError} when `host` is not a non-empty string.
 * @example
 * ```ts
 * normalizeRegistry('https://index.docker.io/v1/'); // 'docker.io'
 * normalizeRegistry('GHCR.io');                     // 'ghcr.io'
 * normalizeRegistry('http://localhost:5000/v2/');   // 'localhost:5000'
 * ```
 */
export function normalizeRegistry(host: string): string {
  const value = typeof host === 'string' ? host.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '') : '';
  const slash = value.indexOf('/');
  const bare = slash === -1 ? value : value.slice(0, slash);
  if (bare === '' || /\s/.test(bare)) {
    throw new ValidationError(
      'registry',
      host,
      `Expected a registry host such as 'ghcr.io', 'docker.io' or 'localhost:5000', got ${describeValue(host)}.`,
    );
  }
  return DOCKER_HUB_ALIASES.has(bare) ? DOCKER_HUB_REGISTRY : bare;
}

/**
 * The registry host of an image reference, normalised like the docker CLI does: the first path component is a
 * registry host only when it contains `.` or `:` or is `localhost`; otherwise the image lives on Docker Hub
 * (`docker.io`). Tags and digests are allowed.
 *
 * @throws {ValidationError} when the reference is empty, contains whitespace or a URL scheme.
 * @example
 * ```ts
 * registryOf('ubuntu:22.04');                         // 'docker.io'
 * registryOf('myorg/sim@sha256:0123...');             // 'docker.io'
 * registryOf('ghcr.io/myorg/sim:1.2');                // 'ghcr.io'
 * registryOf('localhost:5000/sim');                   // 'localhost:5000'
 * ```
 */
export function registryOf(imageReference: string): string {
  if (typeof imageReference !== 'string' || imageReference.trim() === '' || /\s/.test(imageReference) || imageReference.includes('://')) {
    throw new ValidationError(
      'image',
      imageReference,
      `Expected an image reference such as 'ghcr.io/org/sim:1.0' (no scheme, no spaces), got ${describeValue(imageReference)}.`,
    );
  }
  const slash = imageReference.indexOf('/');
  if (slash === -1) return DOCKER_HUB_REGISTRY;
  const first = imageReference.slice(0, slash);
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost';
  return isHost ? normalizeRegistry(first) : DOCKER_HUB_REGISTRY;
}
