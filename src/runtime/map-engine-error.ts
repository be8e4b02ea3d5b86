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

/**
 * Explains to a user why an engine could not be reached and what to do about it. `tried`: the sockets looked
 * at when nothing said where the engine is (none of them existed, or the one found did not answer).
 */
export function unavailableError(endpoint: string, error: unknown, tried?: readonly string[]): DockerUnavailableError {
  const code = (error as EngineFailure | null)?.code ?? 'unknown error';
  const start = 'Start the engine (for example `sudo systemctl start docker`, or `systemctl --user start podman.socket` for Podman), or set DOCKER_HOST to use another one.';
  let hint = `Is the engine running? ${start}`;
  if (code === 'EACCES' || code === 'EPERM') {
    hint = 'Your user may not use the socket: add it to the docker group (`sudo usermod -aG docker $USER`, then log in again), or use rootless Docker or rootless Podman.';
  } else if (code === 'ENOENT') {
    hint = `No socket exists there. ${start}`;
  }
  const places = tried === undefined ? '' : ` DOCKER_HOST is not set; looked for an engine at ${tried.map((socket) => `unix://${socket}`).join(', ')}.`;
  return new DockerUnavailableError(endpoint, `Cannot reach the Docker engine at ${endpoint} (${code}).${places} ${hint}`, {
    cause: error,
  });
}

/** Maps any failure of a dockerode call to one of the package's typed errors. */
export function mapEngineError(operation: string, endpoint: string, error: unknown, tried?: readonly string[]): DockerSimError {
  if (isDockerSimError(error)) return error;
  const code = (error as EngineFailure | null)?.code;
  if (code !== undefined && UNREACHABLE_CODES.has(code) && statusCodeOf(error) === undefined) {
    return unavailableError(endpoint, error, tried);
  }
  const statusCode = statusCodeOf(error);
  const suffix = statusCode === undefined ? (code ? ` (${code})` : '') : ` (HTTP ${statusCode})`;
  return new EngineError(operation, `Docker engine failed to ${operation}: ${engineMessage(error)}${suffix}`, {
    cause: error,
    ...(statusCode === undefined ? {} : { statusCode }),
  });
}
