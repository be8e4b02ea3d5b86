/** Stable machine-readable codes carried by every error this package throws or reports. */
export type DockerSimErrorCode =
  | 'E_VALIDATION'
  | 'E_DOCKER_UNAVAILABLE'
  | 'E_IMAGE_NOT_FOUND'
  | 'E_JOB_EXIT'
  | 'E_JOB_TIMEOUT'
  | 'E_JOB_STALLED'
  | 'E_ENGINE'
  | 'E_JOB_CANCELLED'
  | 'E_RUN_IN_PROGRESS'
  | 'E_ARCHIVE'
  | 'E_TEMPLATE'
  | 'E_INTEGRITY'
  | 'E_REGISTRY_AUTH'
  | 'E_IMAGE_PULL'
  | 'E_JOB_SOURCE';

const BRAND = Symbol.for('docker-sim-manager.error');

/**
 * Base class of every error of docker-sim-manager. `code` is stable across releases; `cause` keeps the
 * underlying error. Messages never contain credentials.
 *
 * @example
 * ```ts
 * try {
 *   await manager.startComputation();
 * } catch (error) {
 *   if (isDockerSimError(error) && error.code === 'E_DOCKER_UNAVAILABLE') console.error(error.message);
 * }
 * ```
 */
export class DockerSimError extends Error {
  readonly code: DockerSimErrorCode;

  constructor(code: DockerSimErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/**
 * True for errors of this package, also when the ESM and CJS builds are both loaded (where `instanceof` fails).
 *
 * @example
 * ```ts
 * if (isDockerSimError(error)) console.error(error.code, error.message);
 * ```
 */
export function isDockerSimError(value: unknown): value is DockerSimError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
