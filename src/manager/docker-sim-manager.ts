import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import pLimit from 'p-limit';
import { EngineError } from '../errors/engine-error.js';
import { ImageNotFoundError } from '../errors/image-not-found-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { RunInProgressError } from '../errors/run-in-progress-error.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import type { DockerSimManagerEvents } from '../events/docker-sim-manager-events.js';
import { applySecurityPreset, mergeSettings, type AttemptFailure, type NormalizedSettings } from '../job/job-settings.js';
import type { JobResult, RunStopReason, RunSummary } from '../job/job-result.js';
import { runContainerJob, type ContainerJobOutcome } from '../job/run-container-job.js';
import { failureReason, retryDelayMs, shouldRetry } from '../job/retry-policy.js';
import { setAsideAttempt } from '../job/attempt-folders.js';
import { ManifestWriter, latestRecords, manifestPath, readManifest, toRecord, type ManifestRecord } from '../manifest/run-manifest.js';
import { specHash } from '../manifest/spec-hash.js';
import { setLongTimeout } from '../util/long-timeout.js';
import { WorkerPool } from '../pool/worker-pool.js';
import { EngineScheduler, type EngineSlot } from './engine-scheduler.js';
import { SWARM_CONFIG_MAX_BYTES, configFiles, runServiceJob } from '../swarm/run-service-job.js';
import { underMount } from '../pool/run-exec-job.js';
import { runExecJob } from '../pool/run-exec-job.js';
import { isOwnerGone, processStartTime, reapOrphanContainers, type ReapResult } from './reap-orphans.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import type { ResolvedTemplate } from '../archive/pack-templates.js';
import type { CopyOutItem } from '../archive/copy-outputs.js';
import type { LogFiles } from '../job/log-sink.js';
import type { ContainerRuntime, ContainerSpec, ImageInfo, RegistryCredentials, SwarmOperations } from '../runtime/container-runtime.js';
import { DockerodeRuntime, type DockerConnection } from '../runtime/dockerode-runtime.js';
import { LABELS } from './labels.js';
import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { registryOf } from '../auth/registry-of.js';
import { selectCredentials } from '../auth/select-credentials.js';
import { DockerConfigAuthenticator } from '../auth/docker-config-authenticator.js';
import { RegistryAuthError } from '../errors/registry-auth-error.js';
import { checkDataDirectory, checkOutputDirIsFree, resolveTemplates } from './check-run-inputs.js';
import { normalizeManagerOptions, repositoryOf, type DockerSimManagerOptions, type NormalizedManagerOptions } from './docker-sim-manager-options.js';

/** Options of one run. */
export interface StartComputationOptions {
  /** Aborting it cancels the run: queued jobs never start, running containers are stopped and removed. */
  signal?: AbortSignal;
}

interface PreparedJob {
  job: SimJob;
  settings: NormalizedSettings;
  archiveRoot: string;
  spec: ContainerSpec;
  templates: ResolvedTemplate[];
  outputDir: string;
  logFiles: LogFiles;
  outputMode: 'bind' | 'copy';
  copyOut: CopyOutItem[];
  /** Who owns the templates and the copy-mode mount folder in the container. */
  owner: { uid: number; gid: number };
  ownedDirectories: Array<{ path: string; mode: number }>;
  limits: { maxLogBytes: number; maxOutputBytes: number; maxOutputEntries: number };
}

/** The state of the run in progress. */
interface ActiveRun {
  controller: AbortController;
  stopReason: RunStopReason | null;
  runId: string | undefined;
  /** SIGINT/SIGTERM received (with handleSignals). */
  signals: number;
}

/** One engine of the manager. */
interface EngineHandle {
  name: string;
  runtime: ContainerRuntime;
  maxWorkers: number;
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
  /** Per engine: what containers are created from (the pinned image id, or the reference). */
  images: string[];
  imageId: string;
  imageDigest: string | null;
  signal: AbortSignal;
  scheduleRemoval(runtime: ContainerRuntime, id: string): void;
  manifest: ManifestWriter;
  imageInfo: ImageInfo;
  /** Per engine index, the workers, in executionMode 'pool'. */
  pools: Map<number, WorkerPool>;
  scheduler: EngineScheduler;
  /** Per engine index, the global number of its slot 0 (for the manifest and the report's lanes). */
  slotOffsets: number[];
  capacities: ReadonlyArray<{ cpus: number; memoryBytes: number } | undefined>;
  /** A job failed for good (after its retries). */
  onFailed(): void;
}

const DEFAULT_BACKOFF = { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.2 };
/** How long retries after an engine error wait for the engine to answer again, and how often they ask. */
const ENGINE_RECOVERY_MS = 5 * 60_000;
const ENGINE_PING_INTERVAL_MS = 1000;
/** How long reading a swarm service's complete log (after its task ended) may take. */
const SWARM_LOG_GRACE_MS = 30_000;
/** Jobs whose inputs are checked (and spec hashed) at once before a run. */
const PREPARE_CONCURRENCY = 32;
const OWNER_START = processStartTime(process.pid);

/** Removes a container, or (`service:<id>:<config ids>`) a swarm service and then its configs. */
async function removeRunObject(runtime: ContainerRuntime, id: string): Promise<void> {
  if (!id.startsWith('service:')) return runtime.remove(id);
  const [, serviceId = '', configs = ''] = id.split(':');
  if (serviceId) await runtime.swarm?.removeService(serviceId);
  // A config in use cannot be removed: the swarm lets go of it once the service's task is gone.
  for (const configId of configs.split(',').filter(Boolean)) {
    for (let attempt = 1; ; attempt++) {
      try {
        await runtime.swarm?.removeConfig(configId);
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }
}

/** How many jobs a run will really start (resume skips some). */
function toRunCount(prepared: ReadonlyArray<{ job: SimJob }>, previous: ReadonlyMap<string, ManifestRecord>, hashes: readonly string[]): number {
  return prepared.filter((item, i) => {
    const last = previous.get(item.job.name);
    return !(last?.status === 'succeeded' && last.specHash === hashes[i]);
  }).length;
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

/** With a read-only root file system, files can only be put into mounts: templates must go under the mount path. */
function checkReadOnlyTemplates(jobName: string, templates: readonly ResolvedTemplate[], mountPath: string): void {
  templates.forEach((template, index) => {
    if (template.target === mountPath || template.target.startsWith(`${mountPath}/`)) return;
    throw new ValidationError(
      `jobs[${jobName}].templates[${index}].target`,
      template.target,
      `Job ${jobName} has a read-only root file system (readOnlyRootfs or security: 'strict'), so template ${index} cannot be written to ${template.target}. Put it under the mount path (${mountPath}) or set readOnlyRootfs: false.`,
    );
  });
}

const DEFAULT_MAX_LOG_BYTES = 1024 ** 3;
const DEFAULT_MAX_OUTPUT_BYTES = 10 * 1024 ** 3;
const DEFAULT_MAX_OUTPUT_ENTRIES = 100_000;

/** Timings of the engine watchdogs; internal knobs, exposed for tests of the fake runtime. */
const LOG_GRACE_MS = 2_000;
const WAIT_CHECK_INTERVAL_MS = 15_000;

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
  private readonly engines: EngineHandle[];
  private readonly authenticators: readonly RegistryAuthenticator[];
  private readonly jobs = new Map<string, SimJob>();
  private activeRun: ActiveRun | undefined;
  private readonly engineRecovery = new Map<ContainerRuntime, Promise<boolean>>();

  constructor(options: DockerSimManagerOptions) {
    super();
    this.config = Object.freeze(normalizeManagerOptions(options));
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
    return (this.engines[0] as EngineHandle).runtime;
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
    await this.checkCredentials(registry, credentials);
    return { registry, hasCredentials: true };
  }

  /** Asks the registry (through the engine) to accept `credentials`; `RegistryAuthError` when it refuses. */
  private async checkCredentials(registry: string, credentials: RegistryCredentials, runtime: ContainerRuntime = this.runtime): Promise<void> {
    const answer = await runtime.checkAuth(credentials);
    if (!answer.isAccepted) {
      throw new RegistryAuthError(
        registry,
        `The registry ${registry} refused the credentials for ${this.config.imageReference}: ${answer.message}. Check the user name and token (and that the token may read packages).`,
      );
    }
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
    const run: ActiveRun = { controller: new AbortController(), stopReason: null, runId: undefined, signals: 0 };
    // The run's own signal is listened to by every running job (stops, retry waits): many listeners by design.
    setMaxListeners(0, run.controller.signal);
    this.activeRun = run;
    const onAbort = (): void => this.stopRun(run, 'cancelled');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    const onSignal = (): void => {
      run.signals += 1;
      if (run.signals === 1) this.stopRun(run, 'signal');
      else void this.forceExit(run);
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

  /** A second signal: remove the run's containers now and exit (130, as a shell reports SIGINT). */
  private async forceExit(run: ActiveRun): Promise<never> {
    if (run.runId !== undefined) {
      const runId = run.runId;
      await Promise.all(
        this.engines.map(async ({ runtime }) => {
          const containers = await runtime.listContainers({ [LABELS.run]: runId }).catch(() => []);
          await Promise.all(containers.map((container) => runtime.remove(container.id).catch(() => undefined)));
          const services = (await runtime.swarm?.listServices({ [LABELS.run]: runId }).catch(() => [])) ?? [];
          await Promise.all(services.map((service) => runtime.swarm?.removeService(service.id).catch(() => undefined)));
        }),
      );
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
    const owner = this.containerOwner();
    const localities = [...new Set(engines.map((engine) => engine.runtime.isLocal))];
    // Bounded: a sweep of 100,000 jobs must not have 100,000 folder checks in flight at once.
    const checks = pLimit(PREPARE_CONCURRENCY);
    const plans = await Promise.all(jobs.map((job) => checks(() => this.plan(job, owner, localities))));
    await Promise.all(engines.map((engine) => engine.runtime.ping()));
    if (config.backend === 'swarm') await this.checkSwarm();
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

    const runId = randomUUID().replace(/-/g, '').slice(0, 12);
    active.runId = runId;
    const digest = this.digestOf(image.info);
    await mkdir(config.dataDirectory, { recursive: true });

    const removals = new Set<Promise<void>>();
    const scheduleRemoval = (runtime: ContainerRuntime, containerId: string): void => {
      const removal = removeRunObject(runtime, containerId)
        .catch((error: unknown) => this.safeEmit('run:warning', { message: `Container ${containerId.slice(0, 12)} could not be removed: ${(error as Error).message}`, error }))
        .finally(() => removals.delete(removal));
      removals.add(removal);
    };
    // Pinned: every container is created from the image id resolved above, so a tag that moves mid-run changes nothing.
    const runImages = images.map((resolved) => (config.pinDigest ? resolved.info.id : config.imageReference));
    // Pool mode: the workers start (and the image is checked for the mechanism) before any job.
    const pools = new Map<number, WorkerPool>();
    if (config.executionMode === 'pool' && toRunCount(plans, previous, hashes) > 0) {
      engines.forEach((engine, i) => pools.set(i, this.workerPool(engine, runId, runImages[i] ?? image.info.id, (id) => scheduleRemoval(engine.runtime, id))));
      try {
        await Promise.all([...pools.values()].map((pool) => pool.start()));
      } catch (error) {
        await Promise.all([...pools.values()].map((pool) => pool.close()));
        while (removals.size > 0) await Promise.all(removals);
        throw error;
      }
    }
    this.safeEmit('run:started', { runId, jobs });
    this.safeEmit('image:ready', { image: config.imageReference, id: image.info.id, digest, digests: image.info.repoDigests, wasPulled: images.some((i) => i.wasPulled) });
    const manifest = new ManifestWriter(manifestFile);
    let failures = 0;
    const offsets = engines.map((_, i) => engines.slice(0, i).reduce((sum, engine) => sum + engine.maxWorkers, 0));
    const context: RunContext = {
      runId,
      images: runImages,
      imageId: image.info.id,
      imageDigest: digest,
      signal,
      scheduleRemoval,
      manifest,
      imageInfo: image.info,
      pools,
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
    };

    const toRun: Array<{ plan: JobPlan; specHash: string }> = [];
    const skipped: JobResult[] = [];
    plans.forEach((plan, index) => {
      const hash = hashes[index] ?? '';
      const last = previous.get(plan.job.name);
      if (last?.status === 'succeeded' && last.specHash === hash) skipped.push(this.skip(plan.first, hash, last));
      else toRun.push({ plan, specHash: hash });
    });
    for (const { plan } of toRun) {
      plan.job.transition('queued');
      this.safeEmit('job:queued', { job: plan.job });
    }
    const ran = await Promise.all(toRun.map(({ plan, specHash: hash }) => this.runJob(plan, hash, context)));
    await manifest.close().catch((error: unknown) => this.safeEmit('run:warning', { message: `The run manifest ${manifestFile} could not be closed: ${(error as Error).message}`, error }));
    await Promise.all([...pools.values()].map((pool) => pool.close()));
    while (removals.size > 0) await Promise.all(removals);
    await Promise.all(engines.map((engine) => this.removeLeftovers(engine, runId)));

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
      durationMs: Date.now() - started,
      results,
    };
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
    };
  }

  /** Runs a job's attempts (one, plus retries) and records how it ended in the manifest. Never rejects. */
  private async runJob(plan: JobPlan, hash: string, run: RunContext): Promise<JobResult> {
    const { job, first } = plan;
    const { settings } = first;
    const times: { firstStartedAt: Date | null } = { firstStartedAt: null };
    let attempt = 0;
    let retriesUsed = 0;
    let outcome: ContainerJobOutcome | undefined;
    let item = first;
    let place: { engine: EngineHandle; globalSlot: number } | undefined;
    // The slot of the last attempt is held until the job's outcome is final (recorded, failFast applied), so a
    // queued job never starts in the gap; a job about to be retried gives its slot back while it waits.
    let held: EngineSlot | undefined;
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
      const engine = this.engines[slot.engine] as EngineHandle;
      place = { engine, globalSlot: (run.slotOffsets[slot.engine] ?? 0) + slot.slot };
      item = plan.variants.get(engine.runtime.isLocal) ?? first;
      attempt += 1;
      held = slot;
      outcome = await this.runAttempt(item, attempt, slot, run, (startedAt) => {
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
      this.safeEmit('job:retrying', { job, attempt: attempt + 1, error: outcome.error, delayMs, ...(setAsideTo === undefined ? {} : { setAsideTo }) });
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
      ...(status === 'cancelled' ? { error: outcome?.error ?? new JobCancelledError(job.name) } : outcome?.error ? { error: outcome.error } : {}),
    };
    if (result.skippedEntries.length > 0) this.safeEmit('job:output-skipped', { job, entries: result.skippedEntries });
    job.transition(status, result);
    await run.manifest
      .append(toRecord(run.runId, { ...result, status }, hash, attempt === 0 ? null : (place?.globalSlot ?? null), job.parameters))
      .catch((error: unknown) => this.safeEmit('run:warning', { message: `The outcome of job ${job.name} could not be written to the run manifest: ${(error as Error).message}`, error }));
    if (status === 'succeeded') this.safeEmit('job:succeeded', { job, result });
    else if (status === 'cancelled') this.safeEmit('job:cancelled', { job, result });
    else if (result.error) {
      this.safeEmit('job:failed', { job, result, error: result.error });
      run.onFailed();
    }
    if (held) run.scheduler.release(held);
    return result;
  }

  /** Whether a job can run on an engine: its output mode fits the engine, and its cpus and memory fit, if known. */
  private canRunOn(plan: JobPlan, engineIndex: number, run: RunContext): boolean {
    const engine = this.engines[engineIndex];
    if (!engine || !plan.variants.has(engine.runtime.isLocal)) return false;
    const capacity = run.capacities[engineIndex];
    const { nanoCpus, memoryBytes } = plan.first.settings;
    if (capacity && nanoCpus !== undefined && nanoCpus / 1e9 > capacity.cpus) return false;
    if (capacity && memoryBytes !== undefined && memoryBytes > capacity.memoryBytes) return false;
    return true;
  }

  /** A job that fits no engine is refused before anything runs. */
  private checkFits(plan: JobPlan, capacities: ReadonlyArray<{ cpus: number; memoryBytes: number } | undefined>): void {
    const { nanoCpus, memoryBytes } = plan.first.settings;
    const fits = (i: number): boolean => {
      const capacity = capacities[i];
      if (!capacity) return true;
      return (nanoCpus === undefined || nanoCpus / 1e9 <= capacity.cpus) && (memoryBytes === undefined || memoryBytes <= capacity.memoryBytes);
    };
    if (this.engines.some((engine, i) => plan.variants.has(engine.runtime.isLocal) && fits(i))) return;
    const field = this.engines.some((_, i) => fits(i)) ? `jobs[${plan.job.name}].outputMode` : nanoCpus !== undefined ? `jobs[${plan.job.name}].cpus` : `jobs[${plan.job.name}].memory`;
    const sizes = capacities.map((c, i) => `${this.engines[i]?.name}: ${c ? `${c.cpus} CPUs, ${(c.memoryBytes / 1024 ** 3).toFixed(1)} GiB` : 'unknown'}`).join('; ');
    throw new ValidationError(field, field.endsWith('outputMode') ? plan.first.settings.outputMode : field.endsWith('cpus') ? (nanoCpus ?? 0) / 1e9 : memoryBytes, `No engine can run job ${plan.job.name}: it asks for more CPUs or memory than any engine has, or an output mode no engine supports (${sizes}). Lower its limits or add an engine that fits.`);
  }

  /** One attempt in a fresh container, with a job folder that holds nothing of an earlier attempt. */
  private async runAttempt(item: PreparedJob, attempt: number, place: EngineSlot, run: RunContext, onStarted: (at: Date) => void): Promise<ContainerJobOutcome> {
    const { job, settings } = item;
    const engine = this.engines[place.engine] as EngineHandle;
    const { runtime } = engine;
    const pool = run.pools.get(place.engine);
    try {
      // A resumed job's earlier output is set aside, never overwritten (retries set theirs aside before waiting).
      if (attempt === 1 && this.config.resume) await setAsideAttempt(item.outputDir);
      await mkdir(item.outputDir, { recursive: true });
    } catch (error) {
      return { status: 'failed', exitCode: null, containerId: null, startedAt: null, finishedAt: new Date(), skippedEntries: [], error: new EngineError('prepare the job folder', `Cannot prepare the output folder ${item.outputDir} of job ${job.name}: ${(error as Error).message}`, { cause: error }) };
    }
    job.transition('running');
    const onStalled = (silentMs: number): void => this.safeEmit('job:stalled', { job, attempt, silentMs, inactivityTimeoutMs: settings.inactivityTimeoutMs ?? 0 });
    const onLine = this.listenerCount('job:log') > 0 ? (stream: 'stdout' | 'stderr', line: string) => this.safeEmit('job:log', { job, stream, line }) : undefined;
    if (this.config.backend === 'swarm') {
      const swarm = runtime.swarm as SwarmOperations;
      const { spec } = item;
      return runServiceJob({
        jobName: job.name,
        outputDir: item.outputDir,
        mountPath: this.config.mountPath,
        service: {
          name: `dsim-${run.runId}-${job.name}${attempt > 1 ? `-${attempt}` : ''}`,
          // A service names its image by reference (a digest when the image came from a registry), not by id.
          image: run.imageDigest ?? this.config.imageReference,
          ...(spec.entrypoint === undefined ? {} : { entrypoint: spec.entrypoint }),
          ...(spec.cmd === undefined ? {} : { args: spec.cmd }),
          env: spec.env,
          ...(spec.user === undefined ? {} : { user: spec.user }),
          ...(spec.workingDir === undefined ? {} : { workingDir: spec.workingDir }),
          labels: { ...spec.labels, [LABELS.run]: run.runId },
          binds: spec.binds,
          ...(spec.nanoCpus === undefined ? {} : { nanoCpus: spec.nanoCpus }),
          ...(spec.memoryBytes === undefined ? {} : { memoryBytes: spec.memoryBytes }),
          ...(spec.init ? { init: true } : {}),
          ...(spec.readOnlyRootfs ? { readOnlyRootfs: true } : {}),
          ...(spec.capDrop ? { capDrop: spec.capDrop } : {}),
          ...(spec.capAdd ? { capAdd: spec.capAdd } : {}),
        },
        templates: item.templates,
        owner: item.owner,
        logFiles: item.logFiles,
        maxLogBytes: item.limits.maxLogBytes,
        onLogTruncated: () => this.safeEmit('job:log-truncated', { job, limitBytes: item.limits.maxLogBytes }),
        runtime,
        swarm,
        signal: run.signal,
        logGraceMs: SWARM_LOG_GRACE_MS,
        timeoutMs: settings.timeoutMs,
        inactivityTimeoutMs: settings.inactivityTimeoutMs,
        onStalled,
        onStarted: (serviceId) => {
          onStarted(new Date());
          this.safeEmit('job:started', { job, containerId: serviceId, attempt, engine: engine.name });
        },
        onLine,
        scheduleRemoval: (serviceId, configIds) => run.scheduleRemoval(runtime, `service:${serviceId}:${configIds.join(',')}`),
      });
    }
    if (pool) {
      const { spec } = item;
      // The argv a fresh container would run: the entrypoint (the job's, else the image's) and the command
      // (the job's, else the image's unless the job replaced the entrypoint).
      const cmd = [...(spec.entrypoint ?? run.imageInfo.entrypoint ?? []), ...(spec.cmd ?? (spec.entrypoint ? [] : (run.imageInfo.cmd ?? [])))];
      return runExecJob({
        jobName: job.name,
        outputDir: item.outputDir,
        folderName: path.basename(item.outputDir),
        mountPath: this.config.mountPath,
        exec: {
          cmd,
          env: spec.env,
          ...(spec.user === undefined ? {} : { user: spec.user }),
          ...((spec.workingDir ?? run.imageInfo.workingDir) ? { workingDir: spec.workingDir ?? run.imageInfo.workingDir } : {}),
        },
        templates: item.templates,
        owner: item.owner,
        logFiles: item.logFiles,
        maxLogBytes: item.limits.maxLogBytes,
        onLogTruncated: () => this.safeEmit('job:log-truncated', { job, limitBytes: item.limits.maxLogBytes }),
        runtime,
        pool,
        slot: place.slot,
        signal: run.signal,
        timeoutMs: settings.timeoutMs,
        inactivityTimeoutMs: settings.inactivityTimeoutMs,
        onStalled,
        onStarted: (workerId) => {
          onStarted(new Date());
          this.safeEmit('job:started', { job, containerId: workerId, attempt, engine: engine.name });
        },
        onLine,
      });
    }
    return runContainerJob({
      jobName: job.name,
      spec: { ...item.spec, image: run.images[place.engine] ?? run.imageId, name: `dsim-${run.runId}-${job.name}${attempt > 1 ? `-${attempt}` : ''}`, labels: { ...item.spec.labels, [LABELS.run]: run.runId } },
      templates: item.templates,
      owner: item.owner,
      logFiles: item.logFiles,
      maxLogBytes: item.limits.maxLogBytes,
      onLogTruncated: () => this.safeEmit('job:log-truncated', { job, limitBytes: item.limits.maxLogBytes }),
      copyOut: item.copyOut,
      outputDir: item.outputDir,
      stagingRoot: path.join(this.config.dataDirectory, '.docker-sim-manager', 'staging'),
      outputLimits: { maxBytes: item.limits.maxOutputBytes, maxEntries: item.limits.maxOutputEntries },
      ownedDirectories: item.ownedDirectories,
      archiveRoot: item.archiveRoot,
      runtime,
      signal: run.signal,
      stopGracePeriodMs: this.config.stopGracePeriodMs,
      logGraceMs: LOG_GRACE_MS,
      waitCheckIntervalMs: WAIT_CHECK_INTERVAL_MS,
      timeoutMs: settings.timeoutMs,
      inactivityTimeoutMs: settings.inactivityTimeoutMs,
      onStalled,
      onStarted: (containerId) => {
        onStarted(new Date());
        this.safeEmit('job:started', { job, containerId, attempt, engine: engine.name });
      },
      onLine,
      scheduleRemoval: (id) => run.scheduleRemoval(runtime, id),
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

  /** The workers of a pool-mode run: the manager's defaults (limits, hardening, network) apply to them. */
  private workerPool(engine: EngineHandle, runId: string, image: string, scheduleRemoval: (id: string) => void): WorkerPool {
    const { config } = this;
    const shared = applySecurityPreset(config.defaults);
    return new WorkerPool({
      runtime: engine.runtime,
      size: engine.maxWorkers,
      runId,
      template: {
        name: '',
        image,
        entrypoint: config.poolKeepAlive,
        cmd: [],
        env: {},
        labels: { ...shared.labels, ...this.ownerLabels() },
        binds: [],
        ...(shared.network === undefined ? {} : { networkMode: shared.network }),
        ...(shared.nanoCpus === undefined ? {} : { nanoCpus: shared.nanoCpus }),
        ...(shared.memoryBytes === undefined ? {} : { memoryBytes: shared.memoryBytes }),
        ...(shared.gpus === undefined ? {} : { gpus: shared.gpus }),
        ...(shared.readOnlyRootfs ? { readOnlyRootfs: true } : {}),
        ...(shared.capDrop ? { capDrop: shared.capDrop } : {}),
        ...(shared.capAdd ? { capAdd: shared.capAdd } : {}),
        ...(shared.noNewPrivileges ? { noNewPrivileges: true } : {}),
        ...(shared.pidsLimit === undefined ? {} : { pidsLimit: shared.pidsLimit }),
        ...(shared.tmpfs?.length ? { tmpfs: shared.tmpfs } : {}),
      },
      dataDirectory: config.dataDirectory,
      mountPath: config.mountPath,
      recycleAfter: config.recycleAfter,
      scheduleRemoval,
    });
  }

  /** The labels that say which driver made a container. */
  private ownerLabels(): Record<string, string> {
    return {
      [LABELS.ownerHost]: os.hostname(),
      [LABELS.ownerPid]: String(process.pid),
      ...(OWNER_START === undefined ? {} : { [LABELS.ownerStart]: OWNER_START }),
    };
  }

  /** The swarm backend needs a swarm manager. */
  private async checkSwarm(): Promise<void> {
    const { swarm, endpoint } = this.runtime;
    if (!swarm || !(await swarm.isManager())) {
      throw new ValidationError('backend', 'swarm', `backend 'swarm' needs a Docker Swarm manager, but the engine at ${endpoint} is not one. Run \`docker swarm init\` there (or point \`docker\` at a manager node), or use backend 'engine'.`);
    }
  }

  /** Removes containers whose driver process is gone, before a run; a failure only warns. */
  private async removeOrphans(engine: EngineHandle): Promise<void> {
    try {
      const { removed } = await reapOrphanContainers(engine.runtime);
      if (this.config.backend === 'swarm' && engine.runtime.swarm) {
        const { swarm } = engine.runtime;
        for (const service of await swarm.listServices({ [LABELS.ownerPid]: undefined })) {
          if (!isOwnerGone(service.labels)) continue;
          await swarm.removeService(service.id);
          removed.push(service);
        }
      }
      if (removed.length > 0) this.safeEmit('run:orphans-removed', { containers: removed });
    } catch (error) {
      this.safeEmit('run:warning', { message: `Containers left by earlier drivers could not be removed: ${(error as Error).message}`, error });
    }
  }

  /** Whatever container of the run is still there (a removal that failed while the engine was away) goes now. */
  private async removeLeftovers(engine: EngineHandle, runId: string): Promise<void> {
    try {
      const left = await engine.runtime.listContainers({ [LABELS.run]: runId });
      await Promise.all(left.map((container) => engine.runtime.remove(container.id)));
      if (this.config.backend === 'swarm' && engine.runtime.swarm) {
        const { swarm } = engine.runtime;
        for (const service of await swarm.listServices({ [LABELS.run]: runId })) await swarm.removeService(service.id);
        for (const config of await swarm.listConfigs({ [LABELS.run]: runId })) await removeRunObject(engine.runtime, `service::${config.id}`);
      }
    } catch (error) {
      this.safeEmit('run:warning', { message: `Containers of run ${runId} could not be removed: ${(error as Error).message}. Remove them with: docker rm -f $(docker ps -aq --filter label=${LABELS.run}=${runId})`, error });
    }
  }

  /** Prepares a job for each kind of engine of the manager; it must fit at least one. */
  private async plan(job: SimJob, owner: { uid: number; gid: number }, localities: readonly boolean[]): Promise<JobPlan> {
    const variants = new Map<boolean, PreparedJob>();
    let firstError: unknown;
    for (const isLocal of localities) {
      try {
        variants.set(isLocal, await this.prepare(job, owner, isLocal));
      } catch (error) {
        firstError ??= error;
      }
    }
    const first = variants.values().next().value;
    if (first === undefined) throw firstError;
    return { job, variants, first };
  }

  private async prepare(job: SimJob, owner: { uid: number; gid: number }, isLocal: boolean): Promise<PreparedJob> {
    const { config } = this;
    const settings = applySecurityPreset(mergeSettings(config.defaults, job.settings));
    const outputDir = path.join(config.dataDirectory, `job_${job.name}`);
    if (!config.resume) await checkOutputDirIsFree(job.name, outputDir);
    const templates = await resolveTemplates(job.name, settings.templates ?? [], config.mountPath);
    if (settings.readOnlyRootfs) checkReadOnlyTemplates(job.name, templates, config.mountPath);
    if (config.executionMode === 'pool') this.checkPoolJob(job, settings, isLocal);
    if (config.backend === 'swarm') await this.checkSwarmJob(job, settings, templates);
    const user = settings.user ?? (isLocal && process.getuid ? `${owner.uid}:${owner.gid}` : undefined);
    const numericUser = settings.user === undefined ? undefined : /^(\d+)(?::(\d+))?$/.exec(settings.user);
    const fileOwner = numericUser ? { uid: Number(numericUser[1]), gid: Number(numericUser[2] ?? 0) } : undefined;
    const requested = settings.outputMode ?? 'auto';
    const outputMode = requested === 'auto' ? (isLocal ? 'bind' : 'copy') : requested;
    if (outputMode === 'bind' && !isLocal) {
      const remote = this.engines.find((engine) => !engine.runtime.isLocal);
      throw new ValidationError(
        `jobs[${job.name}].outputMode`,
        'bind',
        `Job ${job.name} asks for outputMode 'bind', but the engine at ${remote?.runtime.endpoint ?? this.runtime.endpoint} is remote and cannot see host folders. Use 'copy' or 'auto'.`,
      );
    }
    if (outputMode === 'copy' && settings.readOnlyRootfs && user !== undefined && !/^0(:\d+)?$/.test(user) && user !== 'root') {
      // The engine extracts into a volume's root but never changes the root's own owner, and a read-only root
      // file system allows extracting only inside the volume: its owner cannot be set for a non-root user.
      throw new ValidationError(
        `jobs[${job.name}].user`,
        user,
        `Job ${job.name} combines outputMode 'copy', a read-only root file system and the non-root user ${user}: that user could not write to ${config.mountPath}. Use outputMode 'bind' (local engines), readOnlyRootfs: false, or user '0'.`,
      );
    }
    const copyOut: CopyOutItem[] = [
      ...(outputMode === 'copy' ? [{ containerPath: config.mountPath, stripFirst: true }] : []),
      ...(settings.collect ?? []).map((containerPath) => ({ containerPath, stripFirst: false })),
    ];
    const spec: ContainerSpec = {
      name: '',
      image: config.imageReference,
      ...(settings.argv === undefined ? {} : { cmd: settings.argv }),
      ...(settings.entrypoint === undefined ? {} : { entrypoint: settings.entrypoint }),
      env: settings.env ?? {},
      ...(settings.workingDir === undefined ? {} : { workingDir: settings.workingDir }),
      ...(user === undefined ? {} : { user }),
      labels: {
        ...settings.labels,
        [LABELS.job]: job.name,
        [LABELS.ownerHost]: os.hostname(),
        [LABELS.ownerPid]: String(process.pid),
        ...(OWNER_START === undefined ? {} : { [LABELS.ownerStart]: OWNER_START }),
      },
      binds: outputMode === 'bind' ? [{ hostPath: outputDir, containerPath: config.mountPath }] : [],
      ...(outputMode === 'copy' ? { volumes: [config.mountPath] } : {}),
      ...(settings.network === undefined ? {} : { networkMode: settings.network }),
      ...(settings.nanoCpus === undefined ? {} : { nanoCpus: settings.nanoCpus }),
      ...(settings.memoryBytes === undefined ? {} : { memoryBytes: settings.memoryBytes }),
      ...(settings.gpus === undefined ? {} : { gpus: settings.gpus }),
      ...(settings.readOnlyRootfs ? { readOnlyRootfs: true } : {}),
      ...(settings.capDrop ? { capDrop: settings.capDrop } : {}),
      ...(settings.capAdd ? { capAdd: settings.capAdd } : {}),
      ...(settings.noNewPrivileges ? { noNewPrivileges: true } : {}),
      ...(settings.pidsLimit === undefined ? {} : { pidsLimit: settings.pidsLimit }),
      ...(settings.init ? { init: true } : {}),
      ...(settings.tmpfs?.length ? { tmpfs: settings.tmpfs } : {}),
    };
    return {
      job,
      settings,
      // A read-only root file system takes files only in mounts: the templates then go in at the mount path.
      archiveRoot: settings.readOnlyRootfs ? config.mountPath : '/',
      spec,
      templates,
      outputDir,
      logFiles: { combined: path.join(outputDir, 'log.txt'), stdout: path.join(outputDir, 'stdout.log'), stderr: path.join(outputDir, 'stderr.log') },
      outputMode,
      copyOut,
      owner: fileOwner ?? owner,
      // In copy mode the mount path is a fresh volume owned by root: create it owned by the job's user, or
      // writable by anyone when the user is a name we cannot resolve (the volume is private to the container).
      ownedDirectories: outputMode === 'copy' ? [{ path: config.mountPath, mode: fileOwner || !settings.user ? 0o755 : 0o777 }] : [],
      limits: {
        maxLogBytes: settings.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES,
        maxOutputBytes: settings.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES,
        maxOutputEntries: settings.maxOutputEntries ?? DEFAULT_MAX_OUTPUT_ENTRIES,
      },
    };
  }

  /** What a swarm service cannot take is refused before anything runs. */
  private async checkSwarmJob(job: SimJob, settings: NormalizedSettings, templates: readonly ResolvedTemplate[]): Promise<void> {
    if (settings.collect?.length) {
      throw new ValidationError(`jobs[${job.name}].collect`, settings.collect, `\`collect\` is not available with backend 'swarm': the swarm removes a task's container with its service. Write the outputs under the mount path.`);
    }
    if (settings.outputMode === 'copy') {
      throw new ValidationError(`jobs[${job.name}].outputMode`, 'copy', `outputMode 'copy' is not available with backend 'swarm': the job folder is mounted into the service (a bind path on single-node or shared-file-system swarms).`);
    }
    // Settings a service spec cannot express (on the engine API this package speaks) are refused, not dropped.
    const unsupported = (['security', 'network', 'pidsLimit', 'tmpfs', 'noNewPrivileges', 'gpus'] as const).find((key) =>
      key === 'security' ? settings.security === 'strict' : settings[key] !== undefined && !(key === 'tmpfs' && settings.tmpfs?.length === 0),
    );
    if (unsupported !== undefined) {
      throw new ValidationError(
        `jobs[${job.name}].${unsupported}`,
        settings[unsupported],
        `\`${unsupported}\`${unsupported === 'security' ? " 'strict'" : ''} is not available with backend 'swarm' (services use the swarm's networking and cannot set it). Remove it for this backend, or use backend 'engine'.`,
      );
    }
    for (const [index, template] of templates.entries()) {
      if (underMount(template, this.config.mountPath)) continue;
      for (const file of await configFiles(template)) {
        if (file.size > SWARM_CONFIG_MAX_BYTES) {
          throw new ValidationError(
            `jobs[${job.name}].templates[${index}]`,
            file.source,
            `Template file ${file.source} of job ${job.name} (${file.size} bytes) is over Swarm's config limit of ${SWARM_CONFIG_MAX_BYTES} bytes; with backend 'swarm', templates outside the mount path travel as configs. Target it under the mount path (${this.config.mountPath}) instead.`,
          );
        }
      }
    }
  }

  /** In pool mode the workers are the containers: what shapes a container is shared, set in `defaults`. */
  private checkPoolJob(job: SimJob, settings: NormalizedSettings, isLocal: boolean): void {
    if (!isLocal) {
      const remote = this.engines.find((engine) => !engine.runtime.isLocal);
      throw new ValidationError('executionMode', 'pool', `executionMode 'pool' mounts the data directory into long-lived workers, which needs a local engine; ${remote?.runtime.endpoint ?? this.runtime.endpoint} is remote. Use executionMode 'container' (outputs are then copied out).`);
    }
    if (settings.collect?.length) {
      throw new ValidationError(`jobs[${job.name}].collect`, settings.collect, `\`collect\` is not available in executionMode 'pool' (files outside the job folder stay in the shared worker). Write the outputs under the mount path, or use executionMode 'container'.`);
    }
    if (settings.outputMode === 'copy') {
      throw new ValidationError(`jobs[${job.name}].outputMode`, 'copy', `outputMode 'copy' is not available in executionMode 'pool': the workers see the job folders through a bind mount.`);
    }
    const own = job.settings as Record<string, unknown>;
    const shared = ['cpus', 'memory', 'nanoCpus', 'memoryBytes', 'gpus', 'network', 'labels', 'security', 'readOnlyRootfs', 'capDrop', 'capAdd', 'noNewPrivileges', 'pidsLimit', 'init', 'tmpfs'];
    const key = shared.find((name) => own[name] !== undefined);
    if (key !== undefined) {
      const field = key === 'nanoCpus' ? 'cpus' : key === 'memoryBytes' ? 'memory' : key;
      throw new ValidationError(
        `jobs[${job.name}].${field}`,
        own[key],
        `Job ${job.name} sets \`${field}\`, but in executionMode 'pool' every job runs in a shared worker container, so container settings (limits, network, hardening, labels) apply to all jobs: set \`${field}\` in the manager's \`defaults\` instead.`,
      );
    }
  }

  /** The uid:gid containers run as (and templates are owned by): the calling user's on POSIX systems. */
  private containerOwner(): { uid: number; gid: number } {
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  /**
   * Resolves the image on every engine. With several engines it must be the same image everywhere (the same id,
   * or a repo digest in common), else the run stops before any container: jobs must not depend on where they ran.
   */
  private async resolveImages(): Promise<Array<{ info: ImageInfo; wasPulled: boolean }>> {
    const images = await Promise.all(this.engines.map((engine) => this.resolveImage(engine.runtime)));
    const [first] = images;
    if (!first) throw new ImageNotFoundError(this.config.imageReference, 'No engine to resolve the image on.');
    images.forEach((image, i) => {
      const isSame = image.info.id === first.info.id || image.info.repoDigests.some((digest) => first.info.repoDigests.includes(digest));
      if (isSame) return;
      const engine = this.engines[i] as EngineHandle;
      throw new ValidationError(
        `engines[${i}]`,
        engine.name,
        `Image ${this.config.imageReference} is ${image.info.id.slice(0, 19)} on engine ${engine.name} but ${first.info.id.slice(0, 19)} on engine ${this.engines[0]?.name}: the engines hold different images under that name. Push it to a registry and pull it everywhere (pullPolicy: 'always'), or load the same bundle on each (saveImage/loadImage).`,
      );
    });
    return images;
  }

  private async resolveImage(runtime: ContainerRuntime): Promise<{ info: ImageInfo; wasPulled: boolean }> {
    const { imageReference: reference, pullPolicy } = this.config;
    if (pullPolicy !== 'always') {
      const info = await runtime.inspectImage(reference);
      if (info) return { info, wasPulled: false };
      if (pullPolicy === 'never') {
        throw new ImageNotFoundError(
          reference,
          `Image ${reference} is not on the engine at ${runtime.endpoint} and pullPolicy is 'never'. Build it (docker build -t ${reference} .), load it (docker load), or set pullPolicy: 'missing'.`,
        );
      }
    }
    // A pull is about to happen: credentials are checked first, so a wrong token fails before any container.
    const registry = registryOf(reference);
    const credentials = await selectCredentials(this.authenticators, registry);
    if (credentials !== undefined) await this.checkCredentials(registry, credentials, runtime);
    const lastEmitted = new Map<string, { status: string; at: number }>();
    await runtime.pullImage(reference, {
      ...(credentials === undefined ? {} : { credentials }),
      onProgress: (progress) => {
        // Throttled: a status change per layer always, byte counts at most every 250 ms.
        const key = progress.layer ?? '';
        const last = lastEmitted.get(key);
        const now = Date.now();
        if (last && last.status === progress.status && now - last.at < 250) return;
        lastEmitted.set(key, { status: progress.status, at: now });
        this.safeEmit('image:pull-progress', { image: reference, ...progress });
      },
    });
    const info = await runtime.inspectImage(reference);
    if (!info) throw new ImageNotFoundError(reference, `Image ${reference} was pulled but the engine at ${runtime.endpoint} does not list it.`);
    return { info, wasPulled: true };
  }

  /** The repo digest of the image for the configured repository (`repo@sha256:...`), null for a local build. */
  private digestOf(info: ImageInfo): string | null {
    const repository = repositoryOf(this.config.imageReference);
    const short = repository.replace(/^(docker\.io\/)?(library\/)?/, '');
    return info.repoDigests.find((d) => d.startsWith(`${repository}@`) || d.startsWith(`${short}@`)) ?? info.repoDigests[0] ?? null;
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
