import { DockerUnavailableError } from '../errors/docker-unavailable-error.js';
import { EngineError } from '../errors/engine-error.js';
import { isDockerSimError, type DockerSimError } from '../errors/docker-sim-error.js';

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'EPERM', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT']);

interface EngineFailure {
  code?: string;
  statusCode?: number;
  json?: { message?: string } | null;
  reason?: string;
  message?: string;
}

/** The engine's own message of a failed request, without the request details dockerode prepends. */
export function engineMessage(error: unknown): string {
  const failure = (error ?? {}) as EngineFailure;
  // dockerode's `reason` is a generic label ("server error"); its message carries the engine's own words.
  const message = failure.json?.message ?? failure.message ?? failure.reason ?? String(error);
  return message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim();
}

export function statusCodeOf(error: unknown): number | undefined {
  const status = (error as EngineFailure | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Explains to a user why an engine could not be reached and what to do about it. */
export function unavailableError(endpoint: string, error: unknown): DockerUnavailableError {
  const code = (error as EngineFailure | null)?.code ?? 'unknown error';
  let hint = 'Is dockerd running? Start it (for example `sudo systemctl start docker`), or set DOCKER_HOST to use another engine.';
  if (code === 'EACCES' || code === 'EPERM') {
    hint = 'Your user may not use the socket: add it to the docker group (`sudo usermod -aG docker $USER`, then log in again) or use rootless Docker.';
  } else if (code === 'ENOENT') {
    hint = 'No socket exists there. Is dockerd running? Start it (for example `sudo systemctl start docker`), or set DOCKER_HOST to use another engine.';
  }
  return new DockerUnavailableError(endpoint, `Cannot reach the Docker engine at ${endpoint} (${code}). ${hint}`, {
    cause: error,
  });
}

/** Maps any failure of a dockerode call to one of the package's typed errors. */
export function mapEngineError(operation: string, endpoint: string, error: unknown): DockerSimError {
  if (isDockerSimError(error)) return error;
  const code = (error as EngineFailure | null)?.code;
  if (code !== undefined && UNREACHABLE_CODES.has(code) && statusCodeOf(error) === undefined) {
    return unavailableError(endpoint, error);
  }
  const statusCode = statusCodeOf(error);
  const suffix = statusCode === undefined ? (code ? ` (${code})` : '') : ` (HTTP ${statusCode})`;
  return new EngineError(operation, `Docker engine failed to ${operation}: ${engineMessage(error)}${suffix}`, {
    cause: error,
    ...(statusCode === undefined ? {} : { statusCode }),
  });
}
