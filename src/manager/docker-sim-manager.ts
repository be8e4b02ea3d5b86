import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir } from 'node:fs/promises';
import { EventEmitter } from 'eventemitter3';
import pLimit from 'p-limit';
import { EngineError } from '../errors/engine-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { RunInProgressError } from '../errors/run-in-progress-error.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import type { DockerSimManagerEvents } from '../events/docker-sim-manager-events.js';
import { limitsForAttempt, type AttemptFailure } from '../job/job-settings.js';
import type { AttemptLimitsRecord, JobResult, RunStopReason, RunSummary } from '../job/job-result.js';
import { failureReason, retryDelayMs, shouldRetry } from '../job/retry-policy.js';
import { holdsOutputs, setAsideAttempt } from '../job/attempt-folders.js';
import { limitsRecord, withLimits } from '../job/attempt-limits.js';
import { ownFiles, prepareJob, type PreparedJob } from '../job/prepared-job.js';
import { ManifestWriter, latestRecords, manifestPath, readManifest, toRecord, type ManifestRecord } from '../manifest/run-manifest.js';
import { specHash } from '../manifest/spec-hash.js';
import { setLongTimeout } from '../util/long-timeout.js';
import { EngineScheduler, type EngineSlot } from './engine-scheduler.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import type { ContainerRuntime, ImageInfo } from '../runtime/container-runtime.js';
import { DockerodeRuntime, type DockerConnection } from '../runtime/dockerode-runtime.js';
import type { AttemptOutcome, Backend, BackendRun, RunEngine } from '../backends/backend.js';
import { createBackend } from '../backends/create-backend.js';
import { reapOrphanContainers, type ReapResult } from '../backends/reap-orphans.js';
import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { registryOf } from '../auth/registry-of.js';
import { selectCredentials } from '../auth/select-credentials.js';
import { DockerConfigAuthenticator } from '../auth/docker-config-authenticator.js';
import { checkCredentials, digestOf, resolveImageEverywhere } from '../image/resolve-image.js';
import { checkDataDirectory } from './check-run-inputs.js';
import { normalizeManagerOptions, type DockerSimManagerOptions, type NormalizedManagerOptions } from './docker-sim-manager-options.js';

/** Options of one run. */
export interface StartComputationOptions {
  /** Aborting it cancels the run: queued jobs never start, running containers are stopped and removed. */
  signal?: AbortSignal;
}

/** The state of the run in progress. */
interface ActiveRun {
  controller: AbortController;
  stopReason: RunStopReason | null;
  runId: string | undefined;
  /** SIGINT/SIGTERM received (with handleSignals). */
  signals: number;
  /** Set by a second signal: the process is about to exit, the run must not report an end. */
  exiting: Promise<never> | undefined;
}

/** A job prepared for each kind of engine it may meet: local (bind mounts) and remote (copy mode). */
interface JobPlan {
  job: SimJob;
  /** By `runtime.isLocal`; a job that cannot run on one kind has no entry for it. */
  variants: Map<boolean, PreparedJob>;
  /** Any variant, for what they share (settings, spec hash inputs, folders). */
  first: PreparedJob;
}

/** What every job of a run shares. */
interface RunContext {
  runId: string;
  imageId: string;
  imageDigest: string | null;
  signal: AbortSignal;
  manifest: ManifestWriter;
  /** The run as the backend opened it: attempts go through it. */
  backend: BackendRun;
  scheduler: EngineScheduler;
  /** Per engine index, the global number of its slot 0 (for the manifest and the report's lanes). */
  slotOffsets: number[];
  capacities: ReadonlyArray<{ cpus: number; memoryBytes: number } | undefined>;
  /** A job failed for good (after its retries). */
  onFailed(): void;
  /** Jobs that succeeded but left nothing in their output folder. */
  withoutOutput: string[];
}

const DEFAULT_BACKOFF = { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.2 };
/** How long retries after an engine error wait for the engine to answer again, and how often they ask. */
const ENGINE_RECOVERY_MS = 5 * 60_000;
const ENGINE_PING_INTERVAL_MS = 1000;
/** How long a second signal waits for the run's containers to be removed before the process exits. */
const FORCE_EXIT_REMOVAL_MS = 5_000;
/** Jobs whose inputs are checked (and spec hashed) at once before a run. */
const PREPARE_CONCURRENCY = 32;

/** Whether a job's `cpus` and `memory` fit an engine's capacity (an unknown capacity fits anything). */
function fitsCapacity(settings: { nanoCpus?: number | undefined; memoryBytes?: number | undefined }, capacity: { cpus: number; memoryBytes: number } | undefined): boolean {
  if (!capacity) return true;
  const { nanoCpus, memoryBytes } = settings;
  return (nanoCpus === undefined || nanoCpus / 1e9 <= capacity.cpus) && (memoryBytes === undefined || memoryBytes <= capacity.memoryBytes);
}

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      timer.clear();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setLongTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Runs many containerized simulation jobs in parallel on a Docker engine, one output folder per job.
 *
 * @example
 * ```ts
 * import { DockerSimManager, SimJob } from 'docker-sim-manager';
 *
 * const manager = new DockerSimManager({ image: 'monte-carlo-pi', maxWorkers: 4, dataDirectory: './out' });
 * for (let i = 1; i <= 19; i++) manager.addSimJob(new SimJob({ name: `IT${i}`, command: `-o /mnt/data -r ${i} -i 100` }));
 * manager.on('job:succeeded', ({ job, result }) => console.log(job.name, result.durationMs));
 * const summary = await manager.startComputation();
 * console.log(`${summary.succeeded}/${summary.total} succeeded`);
 * ```
 */
export class DockerSimManager extends EventEmitter<DockerSimManagerEvents> {
  /** The validated options. */
  readonly config: Readonly<NormalizedManagerOptions>;
  /** The engines jobs run on (one unless `engines` was given). */
  private readonly engines: RunEngine[];
  /** How attempts execute (fresh containers, pool workers, swarm services): the manager's one seam to them. */
  private readonly backend: Backend;
  private readonly authenticators: readonly RegistryAuthenticator[];
  private readonly jobs = new Map<string, SimJob>();
  private activeRun: ActiveRun | undefined;
  private readonly engineRecovery = new Map<ContainerRuntime, Promise<boolean>>();

  constructor(options: DockerSimManagerOptions) {
    super();
    this.config = Object.freeze(normalizeManagerOptions(options));
    this.backend = createBackend(this.config, this.config);
    // Without an `auth` option, whatever `docker login` stored is used, as the docker CLI would.
    this.authenticators = this.config.authenticators ?? [new DockerConfigAuthenticator()];
    const given = options.engines ?? [{ name: 'default', docker: options.docker, runtime: options.runtime, maxWorkers: this.config.maxWorkers }];
    this.engines = given.map((engine, i) => {
      try {
        return { name: engine.name, runtime: engine.runtime ?? new DockerodeRuntime(engine.docker), maxWorkers: this.config.engines[i]?.maxWorkers ?? 1 };
      } catch (error) {
        const field = options.engines ? `engines[${i}].docker` : 'docker';
        const where = engine.docker === undefined ? `DOCKER_HOST (${describeValue(process.env.DOCKER_HOST)})` : `\`${field}\``;
        throw new ValidationError(field, engine.docker ?? process.env.DOCKER_HOST, `Cannot use ${where}: ${(error as Error).message}. Use unix:///path/to/docker.sock, tcp://host:2376 or ssh://user@host.`, { cause: error });
      }
    });
  }

  /** The first engine's runtime: the only one unless `engines` was given. */
  private get runtime(): ContainerRuntime {
    return (this.engines[0] as RunEngine).runtime;
  }

  /** Where the engine is, e.g. `unix:///var/run/docker.sock` (the first engine's, with `engines`). */
  get endpoint(): string {
    return this.runtime.endpoint;
  }

  /** Every job added, in the order they were added. */
  get simJobs(): readonly SimJob[] {
    return [...this.jobs.values()];
  }

  /** Adds one job (a `SimJob` or its options). Names must be unique within the manager. */
  addSimJob(job: SimJob | SimJobOptions): SimJob {
    if (this.activeRun) {
      throw new ValidationError('job', job instanceof SimJob ? job.name : job?.name, 'Jobs cannot be added while a run is in progress; add them before startComputation() or after it resolved.');
    }
    const simJob = job instanceof SimJob ? job : new SimJob(job);
    if (this.jobs.has(simJob.name)) {
      throw new ValidationError('name', simJob.name, `A job named '${simJob.name}' was already added to this manager. Job names must be unique: they name the output folders.`);
    }
    this.jobs.set(simJob.name, simJob);
    return simJob;
  }

  /** Adds many jobs; nothing is added when one of them is invalid. */
  addSimJobs(jobs: Iterable<SimJob | SimJobOptions>): SimJob[] {
    const list = [...jobs].map((job) => (job instanceof SimJob ? job : new SimJob(job)));
    const seen = new Set<string>();
    for (const job of list) {
      if (this.jobs.has(job.name) || seen.has(job.name)) {
        throw new ValidationError('name', job.name, `A job named '${job.name}' appears twice. Job names must be unique: they name the output folders.`);
      }
      seen.add(job.name);
    }
    return list.map((job) => this.addSimJob(job));
  }

  /**
   * Checks the credentials for the image's registry with the engine (which logs in to the registry). Resolves
   * with the registry and whether credentials were found; rejects with `RegistryAuthError` when the registry
   * refuses them. The message never contains the secret.
   */
  async verifyAuth(): Promise<{ registry: string; hasCredentials: boolean }> {
    const registry = registryOf(this.config.imageReference);
    const credentials = await selectCredentials(this.authenticators, registry);
    if (credentials === undefined) return { registry, hasCredentials: false };
    await this.runtime.ping();
    await checkCredentials(this.runtime, this.config.imageReference, credentials);
    return { registry, hasCredentials: true };
  }

  /** Cancels the run in progress, as aborting its signal would. */
  cancel(): void {
    if (this.activeRun) this.stopRun(this.activeRun, 'cancelled');
  }

  /**
   * Removes the containers of docker-sim-manager whose driver process (on this host) is gone, for instance
   * after a `kill -9`. `startComputation()` does it first on its own; call this for a clean-up on demand.
   * Containers of live drivers, and of other hosts, are kept.
   *
   * @example
   * ```ts
   * const { removed } = await DockerSimManager.reapOrphans();
   * console.log(`removed ${removed.length} orphaned containers`);
   * ```
   */
  static async reapOrphans(options: { docker?: DockerConnection; runtime?: ContainerRuntime } = {}): Promise<ReapResult> {
    const runtime = options.runtime ?? new DockerodeRuntime(options.docker);
    await runtime.ping();
    return reapOrphanContainers(runtime);
  }

  /**
   * Runs every job that has not run yet and resolves with a summary once all of them ended, failed or not.
   * Rejects only for problems of the whole run (`ValidationError`, `DockerUnavailableError`, `ImageNotFoundError`,
   * `EngineError` when the engine fails a check or the pull, `RunInProgressError`), always before any container
   * is created.
   */
  async startComputation(options: StartComputationOptions = {}): Promise<RunSummary> {
    if (this.activeRun) throw new RunInProgressError();
    const run: ActiveRun = { controller: new AbortController(), stopReason: null, runId: undefined, signals: 0, exiting: undefined };
    // The run's own signal is listened to by every running job (stops, retry waits): many listeners by design.
    setMaxListeners(0, run.controller.signal);
    this.activeRun = run;
    const onAbort = (): void => this.stopRun(run, 'cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const onSignal = (): void => {
      run.signals += 1;
      if (run.signals === 1) this.stopRun(run, 'signal');
      else if (run.exiting === undefined) run.exiting = this.forceExit(run);
    };
    if (this.config.handleSignals) {
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    }
    try {
      return await this.run(run);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      this.activeRun = undefined;
    }
  }

  private stopRun(run: ActiveRun, reason: RunStopReason): void {
    if (run.controller.signal.aborted) return;
    run.stopReason = reason;
    this.safeEmit('run:cancelling', { reason });
    run.controller.abort();
  }

  /** A second signal: remove the run's containers (services, workers) now and exit (130, as a shell reports SIGINT). */
  private async forceExit(run: ActiveRun): Promise<never> {
    const { runId } = run;
    if (runId !== undefined) {
      // Bounded: an engine that hangs must not turn "exit at once" into a wait; the next run's orphan sweep
      // removes whatever is left.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.engines.map(({ runtime }) => this.backend.removeRun(runtime, runId).catch(() => undefined))),
        new Promise((resolve) => {
          timer = setTimeout(resolve, FORCE_EXIT_REMOVAL_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    process.exit(130);
  }

  private async run(active: ActiveRun): Promise<RunSummary> {
    const started = Date.now();
    const { signal } = active.controller;
    const jobs = this.simJobs.filter((job) => job.status === 'pending');
    const { config, engines } = this;

    // Everything that can be wrong with the input is found before the engine is touched.
    await checkDataDirectory(config.dataDirectory);
    const localities = [...new Set(engines.map((engine) => engine.runtime.isLocal))];
    // Bounded: a sweep of 100,000 jobs must not have 100,000 folder checks in flight at once.
    const checks = pLimit(PREPARE_CONCURRENCY);
    const plans = await Promise.all(jobs.map((job) => checks(() => this.plan(job, localities))));
    await Promise.all(engines.map((engine) => engine.runtime.ping()));
    await this.backend.checkEngines(engines);
    await Promise.all(engines.map((engine) => this.removeOrphans(engine)));
    const images = await this.resolveImages();
    const image = images[0] as { info: ImageInfo; wasPulled: boolean };
    const capacities = await Promise.all(engines.map((engine) => engine.runtime.capacity?.().catch(() => undefined)));
    for (const plan of plans) this.checkFits(plan, capacities);
    const hashes = await Promise.all(
      plans.map(({ first: item }) =>
        checks(() => specHash({ imageId: image.info.id, entrypoint: item.spec.entrypoint, cmd: item.spec.cmd, env: item.spec.env, workingDir: item.spec.workingDir, templates: item.templates })),
      ),
    );
    const manifestFile = manifestPath(config.dataDirectory);
    const previous = config.resume ? latestRecords(await readManifest(manifestFile)) : new Map<string, ManifestRecord>();
    // Resume: a job whose newest record succeeded with the same spec is not run again.
    const isDone = (plan: JobPlan, index: number): ManifestRecord | undefined => {
      const last = previous.get(plan.job.name);
      return last?.status === 'succeeded' && last.specHash === hashes[index] ? last : undefined;
    };

    const runId = randomUUID().replace(/-/g, '').slice(0, 12);
    active.runId = runId;
    const digest = digestOf(config.imageReference, image.info);
    await mkdir(config.dataDirectory, { recursive: true });
    // The backend pins the image and starts what it needs (pool workers are checked here, before any job).
    const backendRun = await this.backend.open({
      runId,
      engines,
      images: images.map((resolved) => resolved.info),
      imageDigest: digest,
      jobCount: plans.filter((plan, index) => isDone(plan, index) === undefined).length,
      onWarning: (message, error) => this.safeEmit('run:warning', { message, error }),
    });
    this.safeEmit('run:started', { runId, jobs });
    this.safeEmit('image:ready', { image: config.imageReference, id: image.info.id, digest, digests: image.info.repoDigests, wasPulled: images.some((i) => i.wasPulled) });
    const manifest = new ManifestWriter(manifestFile);
    let failures = 0;
    const offsets = engines.map((_, i) => engines.slice(0, i).reduce((sum, engine) => sum + engine.maxWorkers, 0));
    const context: RunContext = {
      runId,
      imageId: image.info.id,
      imageDigest: digest,
      signal,
      manifest,
      backend: backendRun,
      scheduler: new EngineScheduler(
        engines.map((engine) => engine.maxWorkers),
        signal,
      ),
      slotOffsets: offsets,
      capacities,
      onFailed: () => {
        failures += 1;
        if (config.failFast) this.stopRun(active, 'fail-fast');
        else if (config.maxFailures !== undefined && failures >= config.maxFailures) this.stopRun(active, 'max-failures');
      },
      withoutOutput: [],
    };

    const toRun: Array<{ plan: JobPlan; specHash: string }> = [];
    const skipped: JobResult[] = [];
    plans.forEach((plan, index) => {
      const hash = hashes[index] ?? '';
      const last = isDone(plan, index);
      if (last) skipped.push(this.skip(plan.first, hash, last));
      else toRun.push({ plan, specHash: hash });
    });
    for (const { plan } of toRun) {
      plan.job.transition('queued');
      this.safeEmit('job:queued', { job: plan.job });
    }
    const ran = await Promise.all(toRun.map(({ plan, specHash: hash }) => this.runJob(plan, hash, context)));
    await manifest.close().catch((error: unknown) => this.safeEmit('run:warning', { message: `The run manifest ${manifestFile} could not be closed: ${(error as Error).message}`, error }));
    await backendRun.close();

    const byName = new Map([...ran, ...skipped].map((result) => [result.name, result]));
    const results = plans.map((plan) => byName.get(plan.job.name)).filter((result): result is JobResult => result !== undefined);
    const count = (status: JobResult['status']): number => results.filter((r) => r.status === status).length;
    const summary: RunSummary = {
      runId,
      total: results.length,
      succeeded: count('succeeded'),
      failed: count('failed'),
      cancelled: count('cancelled'),
      skipped: count('skipped'),
      stopReason: active.stopReason,
      withoutOutput: context.withoutOutput,
      durationMs: Date.now() - started,
      results,
    };
    // A second signal is removing everything and exiting: the run has no end to report.
    if (active.exiting) await active.exiting;
    this.safeEmit('run:finished', { summary });
    return summary;
  }

  /** The result of a job a resumed run does not run again. */
  private skip(item: PreparedJob, hash: string, last: ManifestRecord): JobResult {
    const result: JobResult = {
      ...this.baseResult(item, hash, last.imageId, last.imageDigest),
      status: 'skipped',
      exitCode: last.exitCode,
      attempts: 0,
      startedAt: null,
      finishedAt: new Date(),
      durationMs: 0,
    };
    item.job.transition('skipped', result);
    this.safeEmit('job:skipped', { job: item.job, result });
    return result;
  }

  private baseResult(item: PreparedJob, hash: string, imageId: string, imageDigest: string | null): Omit<JobResult, 'status' | 'exitCode' | 'attempts' | 'startedAt' | 'finishedAt' | 'durationMs'> {
    return {
      name: item.job.name,
      specHash: hash,
      containerId: null,
      outputDir: item.outputDir,
      logFile: item.logFiles.combined,
      stdoutFile: item.logFiles.stdout,
      stderrFile: item.logFiles.stderr,
      outputMode: item.outputMode,
      skippedEntries: [],
      imageId,
      imageDigest,
      engine: null,
      usage: {},
      attemptLimits: [],
    };
  }

  /** Runs a job's attempts (one, plus retries) and records how it ended in the manifest. Never rejects. */
  private async runJob(plan: JobPlan, hash: string, run: RunContext): Promise<JobResult> {
    const { job, first } = plan;
    const { settings } = first;
    const times: { firstStartedAt: Date | null } = { firstStartedAt: null };
    let attempt = 0;
    let retriesUsed = 0;
    let outcome: AttemptOutcome | undefined;
    let item = first;
    let place: { engine: RunEngine; globalSlot: number } | undefined;
    // The slot of the last attempt is held until the job's outcome is final (recorded, failFast applied), so a
    // queued job never starts in the gap; a job about to be retried gives its slot back while it waits.
    let held: EngineSlot | undefined;
    // The limits of the next attempt: the job's own for attempt 1, then what its functions give (memory, cpus, timeoutMs).
    let limits = limitsForAttempt(settings, { attempt: 1, previousError: undefined });
    const attemptLimits: AttemptLimitsRecord[] = [];
    for (;;) {
      if (run.signal.aborted) {
        // Cancelled while waiting to be retried: it would have run again, so it is cancelled, not failed.
        if (outcome) outcome = { ...outcome, status: 'cancelled', error: new JobCancelledError(job.name) };
        break;
      }
      const slot = await run.scheduler.acquire((engine) => this.canRunOn(plan, engine, run));
      if (slot === undefined) {
        if (run.signal.aborted) continue;
        const error = new EngineError('find an engine', `No engine is left that can run job ${job.name}: ${this.engines.filter((_, i) => run.scheduler.isDown(i)).map((e) => e.name).join(', ')} stopped answering.`);
        outcome = { status: 'failed', exitCode: outcome?.exitCode ?? null, containerId: outcome?.containerId ?? null, startedAt: null, finishedAt: new Date(), skippedEntries: [], error };
        break;
      }
      const engine = this.engines[slot.engine] as RunEngine;
      place = { engine, globalSlot: (run.slotOffsets[slot.engine] ?? 0) + slot.slot };
      item = plan.variants.get(engine.runtime.isLocal) ?? first;
      attempt += 1;
      held = slot;
      attemptLimits.push(limitsRecord(attempt, limits));
      outcome = await this.runAttempt(withLimits(item, limits), attempt, slot, run, (startedAt) => {
        times.firstStartedAt ??= startedAt;
      });
      if (outcome.status !== 'failed' || outcome.error === undefined || run.signal.aborted) break;
      const failure: AttemptFailure = { error: outcome.error, reason: failureReason(outcome.error), attempt, exitCode: outcome.exitCode };
      // An engine that stopped answering takes no more jobs while others can; its jobs go elsewhere.
      let isElsewhere = false;
      if (failure.reason === 'engine-error' && this.engines.length > 1 && !(await engine.runtime.acceptsConnections())) {
        if (!run.scheduler.isDown(slot.engine)) {
          run.scheduler.markDown(slot.engine);
          this.safeEmit('run:warning', { message: `Engine ${engine.name} (${engine.runtime.endpoint}) stopped answering: it gets no more jobs in this run; its jobs are retried on the others.` });
        }
        isElsewhere = run.scheduler.liveEngines.length > 0;
      }
      // An attempt that could not reach the engine at all ran nothing: once an engine answers it is tried again
      // without spending a retry.
      const isFree = outcome.containerId === null && outcome.error.code === 'E_DOCKER_UNAVAILABLE' && (isElsewhere || (await this.engineRecovered(engine.runtime, run.signal)));
      let isRetried: boolean;
      try {
        isRetried = isFree || shouldRetry(settings, failure, retriesUsed);
      } catch (error) {
        this.safeEmit('run:warning', { message: `The retryOn function of job ${job.name} threw; the job is not retried: ${(error as Error).message}`, error });
        isRetried = false;
      }
      if (!isRetried) break;
      try {
        limits = limitsForAttempt(settings, { attempt: attempt + 1, previousError: outcome.error });
      } catch (error) {
        this.safeEmit('run:warning', { message: `Job ${job.name} is not retried: ${(error as Error).message}`, error });
        break;
      }
      if (!isFree) retriesUsed += 1;
      const delayMs = isFree ? 0 : retryDelayMs(settings.backoff ?? DEFAULT_BACKOFF, retriesUsed);
      let setAsideTo: string | undefined;
      try {
        setAsideTo = await setAsideAttempt(item.outputDir);
      } catch (error) {
        outcome = { ...outcome, error: new EngineError('set the last attempt aside', `The output of attempt ${attempt} of job ${job.name} could not be moved aside, so the job is not retried: ${(error as Error).message}`, { cause: error }) };
        break;
      }
      job.transition('queued');
      this.safeEmit('job:retrying', { job, attempt: attempt + 1, error: outcome.error, delayMs, limits: limitsRecord(attempt + 1, limits), ...(setAsideTo === undefined ? {} : { setAsideTo }) });
      run.scheduler.release(slot);
      held = undefined;
      await sleep(delayMs, run.signal);
      if (failure.reason === 'engine-error' && !isElsewhere) await this.engineRecovered(engine.runtime, run.signal);
    }

    const finishedAt = outcome?.finishedAt ?? new Date();
    const status = outcome?.status ?? 'cancelled';
    const startedAt = times.firstStartedAt;
    const result: JobResult = {
      ...this.baseResult(item, hash, run.imageId, run.imageDigest),
      status,
      exitCode: outcome?.exitCode ?? null,
      attempts: attempt,
      containerId: outcome?.containerId ?? null,
      skippedEntries: outcome?.skippedEntries ?? [],
      startedAt,
      finishedAt,
      durationMs: startedAt === null ? 0 : finishedAt.getTime() - startedAt.getTime(),
      engine: attempt === 0 ? null : (place?.engine.name ?? null),
      usage: outcome?.usage ?? {},
      attemptLimits,
      ...(status === 'cancelled' ? { error: outcome?.error ?? new JobCancelledError(job.name) } : outcome?.error ? { error: outcome.error } : {}),
    };
    if (result.skippedEntries.length > 0) this.safeEmit('job:output-skipped', { job, entries: result.skippedEntries });
    job.transition(status, result);
    await run.manifest
      .append(toRecord(run.runId, { ...result, status }, hash, attempt === 0 ? null : (place?.globalSlot ?? null), job.parameters))
      .catch((error: unknown) => this.safeEmit('run:warning', { message: `The outcome of job ${job.name} could not be written to the run manifest: ${(error as Error).message}`, error }));
    if (status === 'succeeded' && !(await holdsOutputs(item.outputDir, ownFiles(item, this.config.mountPath)))) this.noteWithoutOutput(item, run);
    if (status === 'succeeded') this.safeEmit('job:succeeded', { job, result });
    else if (status === 'cancelled') this.safeEmit('job:cancelled', { job, result });
    else if (result.error) {
      this.safeEmit('job:failed', { job, result, error: result.error });
      run.onFailed();
    }
    if (held) run.scheduler.release(held);
    return result;
  }

  /**
   * A job that succeeded with nothing in its folder most likely wrote its results somewhere else in the container,
   * where they were lost with it. The first one of a run is a warning; all are in the summary.
   */
  private noteWithoutOutput(item: PreparedJob, run: RunContext): void {
    run.withoutOutput.push(item.job.name);
    if (run.withoutOutput.length > 1) return;
    this.safeEmit('run:warning', {
      message: `Job ${item.job.name} succeeded but left nothing in its output folder ${item.outputDir} besides its logs. If it writes results elsewhere in the container, they were lost with it: write them under ${this.config.mountPath} (where the folder is mounted), or list their paths in \`collect\`. Other jobs like it are listed in the run summary (withoutOutput).`,
    });
  }

  /** Whether a job can run on an engine: its output mode fits the engine, and its cpus and memory fit, if known. */
  private canRunOn(plan: JobPlan, engineIndex: number, run: RunContext): boolean {
    const engine = this.engines[engineIndex];
    if (!engine || !plan.variants.has(engine.runtime.isLocal)) return false;
    return fitsCapacity(plan.first.settings, run.capacities[engineIndex]);
  }

  /** A job that fits no engine is refused before anything runs. */
  private checkFits(plan: JobPlan, capacities: ReadonlyArray<{ cpus: number; memoryBytes: number } | undefined>): void {
    const { nanoCpus, memoryBytes } = plan.first.settings;
    const fits = (i: number): boolean => fitsCapacity(plan.first.settings, capacities[i]);
    if (this.engines.some((engine, i) => plan.variants.has(engine.runtime.isLocal) && fits(i))) return;
    const field = this.engines.some((_, i) => fits(i)) ? `jobs[${plan.job.name}].outputMode` : nanoCpus !== undefined ? `jobs[${plan.job.name}].cpus` : `jobs[${plan.job.name}].memory`;
    const sizes = capacities.map((c, i) => `${this.engines[i]?.name}: ${c ? `${c.cpus} CPUs, ${(c.memoryBytes / 1024 ** 3).toFixed(1)} GiB` : 'unknown'}`).join('; ');
    throw new ValidationError(field, field.endsWith('outputMode') ? plan.first.settings.outputMode : field.endsWith('cpus') ? (nanoCpus ?? 0) / 1e9 : memoryBytes, `No engine can run job ${plan.job.name}: it asks for more CPUs or memory than any engine has, or an output mode no engine supports (${sizes}). Lower its limits or add an engine that fits.`);
  }

  /** One attempt through the backend, with a job folder that holds nothing of an earlier attempt. */
  private async runAttempt(item: PreparedJob, attempt: number, place: EngineSlot, run: RunContext, onStarted: (at: Date) => void): Promise<AttemptOutcome> {
    const { job, settings } = item;
    const engine = this.engines[place.engine] as RunEngine;
    try {
      // A resumed job's earlier output is set aside, never overwritten (retries set theirs aside before waiting).
      if (attempt === 1 && this.config.resume) await setAsideAttempt(item.outputDir);
      await mkdir(item.outputDir, { recursive: true });
    } catch (error) {
      return { status: 'failed', exitCode: null, containerId: null, startedAt: null, finishedAt: new Date(), skippedEntries: [], error: new EngineError('prepare the job folder', `Cannot prepare the output folder ${item.outputDir} of job ${job.name}: ${(error as Error).message}`, { cause: error }) };
    }
    job.transition('running');
    return run.backend.runAttempt({
      job: item,
      attempt,
      engine: place.engine,
      slot: place.slot,
      signal: run.signal,
      onStarted: (id) => {
        onStarted(new Date());
        this.safeEmit('job:started', { job, containerId: id, attempt, engine: engine.name });
      },
      onLine: this.listenerCount('job:log') > 0 ? (stream, line) => this.safeEmit('job:log', { job, stream, line }) : undefined,
      onStalled: (silentMs) => this.safeEmit('job:stalled', { job, attempt, silentMs, inactivityTimeoutMs: settings.inactivityTimeoutMs ?? 0 }),
      onLogTruncated: () => this.safeEmit('job:log-truncated', { job, limitBytes: item.limits.maxLogBytes }),
    });
  }

  /**
   * After an engine error, retries wait until the engine answers again (all jobs share one wait). Gives up after
   * ENGINE_RECOVERY_MS; the retry then fails on its own with the engine's error.
   */
  private engineRecovered(runtime: ContainerRuntime, signal: AbortSignal): Promise<boolean> {
    let recovery = this.engineRecovery.get(runtime);
    if (!recovery) {
      recovery = (async () => {
        const deadline = Date.now() + ENGINE_RECOVERY_MS;
        while (!signal.aborted && Date.now() < deadline) {
          try {
            // A fresh connection first: a stopping engine still answers on kept-alive ones.
            if (await runtime.acceptsConnections()) {
              await runtime.ping();
              return true;
            }
          } catch {
            // not back yet
          }
          await sleep(ENGINE_PING_INTERVAL_MS, signal);
        }
        return false;
      })().finally(() => this.engineRecovery.delete(runtime));
      this.engineRecovery.set(runtime, recovery);
    }
    return recovery;
  }

  /** Removes what drivers that are gone left on an engine, before a run; a failure only warns. */
  private async removeOrphans(engine: RunEngine): Promise<void> {
    try {
      const removed = await this.backend.reapOrphans(engine.runtime);
      if (removed.length > 0) this.safeEmit('run:orphans-removed', { containers: removed });
    } catch (error) {
      this.safeEmit('run:warning', { message: `Containers left by earlier drivers could not be removed: ${(error as Error).message}`, error });
    }
  }

  /**
   * Prepares a job for each kind of engine of the manager (local, remote), checked by the backend; it must fit
   * at least one.
   */
  private async plan(job: SimJob, localities: readonly boolean[]): Promise<JobPlan> {
    const { config } = this;
    const variants = new Map<boolean, PreparedJob>();
    const caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    let firstError: unknown;
    for (const isLocal of localities) {
      try {
        const prepared = await prepareJob(job, { defaults: config.defaults, dataDirectory: config.dataDirectory, mountPath: config.mountPath, resume: config.resume, caller }, isLocal);
        const engine = this.engines.find((candidate) => candidate.runtime.isLocal === isLocal) as RunEngine;
        await this.backend.checkJob(prepared, engine.runtime);
        variants.set(isLocal, prepared);
      } catch (error) {
        firstError ??= error;
      }
    }
    const first = variants.values().next().value;
    if (first === undefined) throw firstError;
    return { job, variants, first };
  }

  /**
   * Resolves the image on every engine (pulling it where the policy says so); with several engines it must be
   * the same image everywhere, else the run stops before any container.
   */
  private resolveImages(): Promise<Array<{ info: ImageInfo; wasPulled: boolean }>> {
    const { imageReference: reference, pullPolicy } = this.config;
    return resolveImageEverywhere(this.engines, {
      reference,
      pullPolicy,
      authenticators: this.authenticators,
      onProgress: (progress) => this.safeEmit('image:pull-progress', { image: reference, ...progress }),
    });
  }

  /** Emits to every listener; one that throws or rejects is reported and the others still run. */
  private safeEmit<E extends keyof DockerSimManagerEvents>(event: E, payload: Parameters<DockerSimManagerEvents[E]>[0]): void {
    for (const listener of this.listeners(event)) {
      this.removeListener(event, listener, undefined, true); // drops it only if it was added with once()
      try {
        const returned = (listener as (p: typeof payload) => unknown).call(this, payload);
        if (returned instanceof Promise) returned.catch((error: unknown) => this.reportListenerError(event, error));
      } catch (error) {
        this.reportListenerError(event, error);
      }
    }
  }

  private reportListenerError(event: string, error: unknown): void {
    if (event !== 'listener:error' && this.listenerCount('listener:error') > 0) {
      this.safeEmit('listener:error', { event, error });
    } else {
      process.emitWarning(`docker-sim-manager: a '${event}' listener threw: ${(error as Error)?.message ?? describeValue(error)}`);
    }
  }
}
