import type { DockerSimError } from '../errors/docker-sim-error.js';
import type { SkippedEntry } from '../archive/extract-output.js';
import type { ResourceUsage } from '../runtime/container-runtime.js';

/** The limits one attempt ran with (`cpus`, `memory` and `timeoutMs` may change per attempt). */
export interface AttemptLimitsRecord {
  /** 1 for the first attempt. */
  attempt: number;
  cpus?: number;
  memoryBytes?: number;
  timeoutMs?: number;
}

/** How one job ended. */
export interface JobResult {
  name: string;
  /** `skipped`: a resumed run found it already succeeded with the same spec, and did not run it again. */
  status: 'succeeded' | 'failed' | 'cancelled' | 'skipped';
  /** The container's exit code; `null` when the job never ran to an exit (cancelled early, engine failure). */
  exitCode: number | null;
  /** How many attempts (containers) ran in this run; 0 when it never started or was skipped. */
  attempts: number;
  /** Hash of what decides the job's outputs (image id, entrypoint, command, env, working dir, templates), as in the manifest. */
  specHash: string;
  /** The id of the (last) container, `null` when none was created. */
  containerId: string | null;
  /** The host folder `<dataDirectory>/job_<name>`. */
  outputDir: string;
  /** `<outputDir>/log.txt`: stdout and stderr, interleaved as they arrived. */
  logFile: string;
  /** `<outputDir>/stdout.log`. */
  stdoutFile: string;
  /** `<outputDir>/stderr.log`. */
  stderrFile: string;
  /** How the output folder reached the container. */
  outputMode: 'bind' | 'copy';
  /** Entries of the container's outputs that were not extracted (links, devices, name clashes...), and why. */
  skippedEntries: SkippedEntry[];
  startedAt: Date | null;
  finishedAt: Date;
  /** From start to the end of log collection; 0 when the job never started. */
  durationMs: number;
  /** The image id the job ran on (the run resolves the tag once, so every job uses the same image). */
  imageId: string;
  /** The image's repo digest (`repo@sha256:...`) when it came from a registry; null for a locally built image. */
  imageDigest: string | null;
  /** The name of the engine that ran the last attempt (`'default'` with a single engine); null when it never ran. */
  engine: string | null;
  /**
   * What the last attempt's processes used, from the engine's accounting: `cpuMs` (CPU time) and
   * `peakMemoryBytes`. A field is absent when the backend cannot tell (see docs/api.md for the method and its
   * limits), never a made-up zero.
   */
  usage: ResourceUsage;
  /** The limits each attempt of this run ran with, first attempt first (empty when it never ran). */
  attemptLimits: AttemptLimitsRecord[];
  /** Why the job failed or was cancelled. */
  error?: DockerSimError;
}

/**
 * Why a run stopped early: `cancelled` (its signal was aborted or `cancel()` was called), `signal` (SIGINT or
 * SIGTERM with `handleSignals`), `fail-fast` (the first failure with `failFast`), `max-failures` (`maxFailures`
 * jobs failed).
 */
export type RunStopReason = 'cancelled' | 'signal' | 'fail-fast' | 'max-failures';

/** What `startComputation()` resolves with. */
export interface RunSummary {
  runId: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Jobs a resumed run did not run again: they already succeeded with the same spec. */
  skipped: number;
  /** Why the run ended early (its remaining jobs were cancelled), or null when every job got to run. */
  stopReason: RunStopReason | null;
  durationMs: number;
  results: JobResult[];
  /**
   * Jobs that succeeded but left nothing in their output folder besides their logs (and their own templates):
   * most likely they wrote their results elsewhere in the container, where they were lost. The first one is
   * also reported as a `run:warning`.
   */
  withoutOutput: string[];
}
