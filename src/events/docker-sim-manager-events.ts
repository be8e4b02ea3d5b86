import type { DockerSimError } from '../errors/docker-sim-error.js';
import type { SkippedEntry } from '../archive/extract-output.js';
import type { SimJob } from '../job/sim-job.js';
import type { AttemptLimitsRecord, JobResult, RunStopReason, RunSummary } from '../job/job-result.js';
import type { ContainerSummary } from '../runtime/container-runtime.js';

/**
 * The events of a `DockerSimManager`, with their payloads. Payloads are plain objects, the job first.
 * Listeners are for watching: a listener that throws is reported through `listener:error` and never breaks a run.
 *
 * @example
 * ```ts
 * manager.on('job:succeeded', ({ job, result }) => console.log(`${job.name} took ${result.durationMs} ms`));
 * ```
 */
export interface DockerSimManagerEvents {
  /**
   * `total`: how many jobs the run has, skipped ones included; null when a lazy source did not say (see
   * `addSimJobs(source, { total })`).
   */
  'run:started': (payload: { runId: string; total: number | null }) => void;
  /** Pull progress per layer, throttled. */
  'image:pull-progress': (payload: { image: string; status: string; layer?: string; current?: number; total?: number }) => void;
  'image:ready': (payload: { image: string; id: string; digest: string | null; digests: readonly string[]; wasPulled: boolean }) => void;
  'job:queued': (payload: { job: SimJob }) => void;
  /** `engine` is the name of the engine that runs it (`'default'` with a single engine). */
  'job:started': (payload: { job: SimJob; containerId: string; attempt: number; engine: string }) => void;
  /** A job wrote nothing for `inactivityTimeoutMs`; it is stopped next and fails with `JobStalledError`. */
  'job:stalled': (payload: { job: SimJob; attempt: number; silentMs: number; inactivityTimeoutMs: number }) => void;
  /**
   * An attempt failed and the job will run again after `delayMs`; `attempt` is the number of the attempt about
   * to run (2 for the first retry), `error` why the previous one failed.
   */
  'job:retrying': (payload: { job: SimJob; attempt: number; error: DockerSimError; delayMs: number; limits: AttemptLimitsRecord; setAsideTo?: string }) => void;
  /** A resumed run found the job already succeeded with the same spec (see the manifest) and does not run it. */
  'job:skipped': (payload: { job: SimJob; result: JobResult }) => void;
  'job:log': (payload: { job: SimJob; stream: 'stdout' | 'stderr'; line: string }) => void;
  /** The job's output passed `maxLogBytes`; the rest is dropped. Emitted once per job. */
  'job:log-truncated': (payload: { job: SimJob; limitBytes: number }) => void;
  /** Entries of the job's outputs were not extracted (also in `result.skippedEntries`). */
  'job:output-skipped': (payload: { job: SimJob; entries: readonly SkippedEntry[] }) => void;
  'job:succeeded': (payload: { job: SimJob; result: JobResult }) => void;
  'job:failed': (payload: { job: SimJob; result: JobResult; error: DockerSimError }) => void;
  'job:cancelled': (payload: { job: SimJob; result: JobResult }) => void;
  /** The run is stopping early: queued jobs will not start, running ones are being stopped. */
  'run:cancelling': (payload: { reason: RunStopReason }) => void;
  /** Containers left by a driver process that is gone were removed before the run. */
  'run:orphans-removed': (payload: { containers: readonly ContainerSummary[] }) => void;
  'run:finished': (payload: { summary: RunSummary }) => void;
  /** Something went wrong that did not fail a job (for instance a container that could not be removed). */
  'run:warning': (payload: { message: string; error?: unknown }) => void;
  /** A listener threw or rejected; the run went on. */
  'listener:error': (payload: { event: string; error: unknown }) => void;
}

export type DockerSimManagerEventName = keyof DockerSimManagerEvents;
