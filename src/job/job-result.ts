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
  /**
   * How long its attempts waited in a cluster's queue before they ran, in all (backend 'slurm': from sbatch to
   * RUNNING); not part of `durationMs` for the first attempt. Absent on backends without a queue.
   */
  queuedMs?: number;
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

/** What the jobs of a run used, in all, from the engine's accounting (null where no job reported it). */
export interface RunUsage {
  /** CPU time of every job's last attempt, summed. */
  cpuMs: number | null;
  /** The highest peak memory of a job, and which job. */
  maxPeakMemory: { bytes: number; job: string } | null;
  /** The median of the jobs' peak memory (within about 1%: it is kept as a histogram, not a list). */
  medianPeakMemoryBytes: number | null;
}

/**
 * What `startComputation()` resolves with. Its size does not grow with the sweep: counts are exact, lists are
 * bounded, and every job's outcome is in the run manifest (`manifestFile`; iterate it with
 * `readRunResults(summary)`).
 */
export interface RunSummary {
  runId: string;
  /** Jobs of this run: every job read from the manager's jobs and sources, skipped ones included. */
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Jobs a resumed run did not run again: they already succeeded with the same spec. */
  skipped: number;
  /** Why the run ended early (its remaining jobs were cancelled), or null when every job got to run. */
  stopReason: RunStopReason | null;
  durationMs: number;
  /**
   * The results of the jobs the manager holds (added with `addSimJob`, or `addSimJobs` with an array), in the
   * order they were added. Jobs read from an iterable or async iterable source are not kept: their results
   * come as events and are in the manifest.
   */
  results: JobResult[];
  /** Failed jobs, in the order they ended: the first 1,000 (`failed` is the exact count). */
  failures: JobResult[];
  /**
   * Jobs that succeeded but left nothing in their output folder besides their logs (and their own templates):
   * most likely they wrote their results elsewhere in the container, where they were lost. The first 1,000
   * names; the first one is also reported as a `run:warning`.
   */
  withoutOutput: string[];
  /** How many jobs succeeded without output (withoutOutput lists at most 1,000). */
  withoutOutputCount: number;
  /** What the run's jobs used, where the engine could tell. */
  usage: RunUsage;
  /** The run manifest: one JSON line per job outcome, every run of the data directory. */
  manifestFile: string;
}
