import type { DockerSimError } from '../errors/docker-sim-error.js';
import type { AttemptFailure, BackoffOptions, NormalizedSettings, RetryReason } from './job-settings.js';

/** Failures retried when a job sets `retries` but not `retryOn`: the engine's, never the simulation's. */
export const DEFAULT_RETRY_ON: readonly RetryReason[] = ['engine-error'];

/** The kind of a failed attempt, as `retryOn` names it; undefined for failures no retry would fix. */
export function failureReason(error: DockerSimError): RetryReason | undefined {
  switch (error.code) {
    case 'E_JOB_TIMEOUT':
      return 'timeout';
    case 'E_JOB_STALLED':
      return 'stalled';
    case 'E_JOB_EXIT':
      return (error as DockerSimError & { isOomKilled?: boolean }).isOomKilled ? 'oom' : 'exit-code';
    case 'E_ENGINE':
    case 'E_DOCKER_UNAVAILABLE':
      return 'engine-error';
    default:
      return undefined;
  }
}

/** Whether a failed attempt is retried under the job's `retries` (of which `retriesUsed` are spent) and `retryOn`. */
export function shouldRetry(settings: NormalizedSettings, failure: AttemptFailure, retriesUsed = failure.attempt - 1): boolean {
  if (retriesUsed >= (settings.retries ?? 0)) return false;
  const retryOn = settings.retryOn ?? DEFAULT_RETRY_ON;
  if (typeof retryOn === 'function') return retryOn(failure) === true;
  return failure.reason !== undefined && retryOn.includes(failure.reason);
}

/** The wait before retry number `retry` (1 for the first): exponential, capped, spread by the jitter. */
export function retryDelayMs(backoff: Required<BackoffOptions>, retry: number, random: () => number = Math.random): number {
  // 0 * Infinity is NaN: a zero initial delay stays zero however steep the factor.
  const base = backoff.initialDelayMs === 0 ? 0 : Math.min(backoff.maxDelayMs, backoff.initialDelayMs * backoff.factor ** (retry - 1));
  const spread = base * backoff.jitter * (2 * random() - 1);
  return Math.max(0, Math.round(Math.min(backoff.maxDelayMs, base + spread)));
}
