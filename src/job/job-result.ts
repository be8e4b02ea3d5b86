import type { DockerSimError } from '../errors/docker-sim-error.js';
import type { SkippedEntry } from '../archive/extract-output.js';

/** How one job ended. */
export interface JobResult {
  name: string;
  status: 'succeeded' | 'failed' | 'cancelled';
  /** The container's exit code; `null` when the job never ran to an exit (cancelled early, engine failure). */
  exitCode: number | null;
  /** How many containers were created for the job. */
  attempts: number;
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
  /** Why the job failed or was cancelled. */
  error?: DockerSimError;
}

/** What `startComputation()` resolves with. */
export interface RunSummary {
  runId: string;
  total: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  durationMs: number;
  results: JobResult[];
}
