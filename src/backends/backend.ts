import type { SkippedEntry } from '../archive/extract-output.js';
import type { DockerSimError } from '../errors/docker-sim-error.js';
import type { OutputStreamName } from '../job/log-sink.js';
import type { ContainerRuntime, ContainerSummary, ImageInfo, ResourceUsage } from '../runtime/container-runtime.js';
import type { NormalizedSettings } from '../job/job-settings.js';
import type { PreparedJob } from '../job/prepared-job.js';

/** How an attempt is executed: a fresh container, a process in a warm worker, or a Docker Swarm service. */
export type BackendKind = 'container' | 'pool' | 'swarm' | 'slurm';

/** One engine of a run, as the manager holds it. */
export interface RunEngine {
  name: string;
  runtime: ContainerRuntime;
  maxWorkers: number;
}

/** What the manager hands a backend when a run opens: the engines and the image as resolved on each. */
export interface OpenRunOptions {
  runId: string;
  engines: readonly RunEngine[];
  /** Per engine, the image the run resolved there (the same image everywhere: checked before). */
  images: readonly ImageInfo[];
  /** The image's repo digest (`repo@sha256:…`), null for a local build. */
  imageDigest: string | null;
  /** How many jobs will run (0 when a resumed run skips all): a backend with workers starts none for 0. */
  jobCount: number;
  /** Reports a problem that does not stop the run (a removal that failed). */
  onWarning(message: string, error?: unknown): void;
}

/** One attempt as the run loop asks a backend to run it. */
export interface AttemptRequest {
  job: PreparedJob;
  /** 1 for the first attempt. */
  attempt: number;
  /** The engine (index into the run's engines) and its worker slot. */
  engine: number;
  slot: number;
  /** Aborting it stops the attempt: it ends `cancelled`. */
  signal: AbortSignal;
  /** The process runs; `id` names the container, worker or service. */
  onStarted(id: string): void;
  /** Each complete output line, when someone listens. */
  onLine?: ((stream: OutputStreamName, line: string) => void) | undefined;
  /** The attempt was silent for `inactivityTimeoutMs` and is about to be stopped. */
  onStalled(silentMs: number): void;
  /** The log reached `maxLogBytes`; later output is dropped. */
  onLogTruncated(): void;
}

/** How one attempt ended. */
export interface AttemptOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  exitCode: number | null;
  /** The container, worker or service that ran it; null when none was made. */
  containerId: string | null;
  startedAt: Date | null;
  finishedAt: Date;
  skippedEntries: SkippedEntry[];
  /** What the attempt's processes used, where the backend can tell. */
  usage?: ResourceUsage;
  /** How long the attempt waited in a scheduler's queue before it ran (Slurm); absent where there is none. */
  queuedMs?: number;
  error?: DockerSimError;
}

/** A run opened on a backend: attempts run through it until it closes. */
export interface BackendRun {
  /** Runs one attempt; never rejects: every failure is a failed or cancelled outcome. */
  runAttempt(request: AttemptRequest): Promise<AttemptOutcome>;
  /** Ends the run: workers removed, pending removals awaited, anything of the run left on an engine removed. */
  close(): Promise<void>;
}

/**
 * The seam between the run loop and the way attempts execute. The manager does everything backend-specific
 * through it: check a job before anything runs, check the engines, sweep orphans, open a run (pin the image,
 * start workers), run attempts, and clean up. What a backend must do is written once, here and in the
 * conformance suite (`__tests__/conformance`).
 */
export interface Backend {
  readonly kind: BackendKind;
  /**
   * Whether an OOM kill is known from the engine's flag on the container (fresh containers, swarm tasks), so an
   * engine that does not flag them (`EngineFeatures.oomKills`) is warned about; false when the backend counts
   * them itself (pool workers read their cgroup's OOM count).
   */
  readonly readsOomFlag: boolean;
  /**
   * Refuses, with a `ValidationError` naming the field, what this backend cannot do with a job on an engine of
   * the locality of `runtime` (one engine of that locality). Called before anything is created on any engine.
   */
  checkJob(job: PreparedJob, runtime: ContainerRuntime): Promise<void>;
  /** Checks that the engines can host this backend (a swarm manager, say); called once the engines answer. */
  checkEngines(engines: readonly RunEngine[]): Promise<void>;
  /** Removes what drivers that are gone (on this host) left on the engine; resolves with what it removed. */
  reapOrphans(runtime: ContainerRuntime): Promise<ContainerSummary[]>;
  /** Opens a run: the image is pinned as this backend names images, workers start. */
  open(options: OpenRunOptions): Promise<BackendRun>;
  /** Removes everything of a run at once (a second SIGINT): no waiting for attempts to end. */
  removeRun(runtime: ContainerRuntime, runId: string): Promise<void>;
}

/** What a backend is made from: the manager's validated options that shape attempts. */
export interface BackendOptions {
  imageReference: string;
  dataDirectory: string;
  mountPath: string;
  stopGracePeriodMs: number;
  pinDigest: boolean;
  /** Pool mode: the settings every worker container is made with (limits, hardening, network, labels). */
  defaults: NormalizedSettings;
  recycleAfter: number | undefined;
  poolKeepAlive: readonly string[];
  /** Pool mode: start jobs through a resident runner in each worker instead of one exec per job. */
  residentRunner: boolean;
  /** Measure each attempt's CPU time and peak memory. */
  collectUsage: boolean;
}
