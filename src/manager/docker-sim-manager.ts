import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { JobSourceError } from '../errors/job-source-error.js';
import { RunInProgressError } from '../errors/run-in-progress-error.js';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import type { DockerSimManagerEvents } from '../events/docker-sim-manager-events.js';
import { applySecurityPreset, mergeSettings } from '../job/job-settings.js';
import type { RunStopReason, RunSummary } from '../job/job-result.js';
import { prepareJob, type PreparedJob } from '../job/prepared-job.js';
import { ManifestWriter, manifestPath } from '../manifest/run-manifest.js';
import { ResumeIndex } from '../manifest/resume-index.js';
import { specHash } from '../manifest/spec-hash.js';
import { EngineScheduler } from './engine-scheduler.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import type { ContainerRuntime, EngineFeatures, ImageInfo } from '../runtime/container-runtime.js';
import { DockerodeRuntime, type DockerConnection } from '../runtime/dockerode-runtime.js';
import type { Backend, RunEngine } from '../backends/backend.js';
import { createBackend } from '../backends/create-backend.js';
import { reapOrphanContainers, type ReapResult } from '../backends/reap-orphans.js';
import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { registryOf } from '../auth/registry-of.js';
import { selectCredentials } from '../auth/select-credentials.js';
import { DockerConfigAuthenticator } from '../auth/docker-config-authenticator.js';
import { checkCredentials, digestOf, resolveImageEverywhere } from '../image/resolve-image.js';
import { checkDataDirectory } from './check-run-inputs.js';
import { JobFeed, type JobSource } from './job-feed.js';
import { pumpJobs } from './pump-jobs.js';
import { EngineWarnings } from './engine-warnings.js';
import { JobRunner, type JobPlan, type RunContext } from './job-runner.js';
import { RunTally } from './run-tally.js';
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

/** How long a second signal waits for the run's containers to be removed before the process exits. */
const FORCE_EXIT_REMOVAL_MS = 5_000;
/** How many jobs a run reads ahead of its worker slots, per slot: bounded, so memory follows the concurrency. */
const READ_AHEAD_PER_SLOT = 2;

/** What the run learned of each engine after the ping: its size and what it can do (undefined when unknown). */
interface EngineFacts {
  size: { cpus: number; memoryBytes: number } | undefined;
  features: EngineFeatures | undefined;
}

/** Whether a job's `cpus` and `memory` fit an engine's capacity (an unknown capacity fits anything). */
function fitsCapacity(settings: { nanoCpus?: number | undefined; memoryBytes?: number | undefined }, capacity: { cpus: number; memoryBytes: number } | undefined): boolean {
  if (!capacity) return true;
  const { nanoCpus, memoryBytes } = settings;
  return (nanoCpus === undefined || nanoCpus / 1e9 <= capacity.cpus) && (memoryBytes === undefined || memoryBytes <= capacity.memoryBytes);
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
  /** Iterables and async iterables added with addSimJobs, read lazily by the next run. */
  private readonly sources: Array<{ source: JobSource; total: number | undefined }> = [];
  private activeRun: ActiveRun | undefined;
  private readonly engineRecovery = new Map<ContainerRuntime, Promise<boolean>>();
  /** What engines accept but do not do (ignored limits, unreported OOM kills), said once per run. */
  private readonly engineWarnings: EngineWarnings;
  /** Who runs the driver: containers on a local engine run as this uid:gid unless the job names a user. */
  private readonly caller = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

  constructor(options: DockerSimManagerOptions) {
    super();
    this.config = Object.freeze(normalizeManagerOptions(options));
    this.backend = createBackend(this.config, this.config);
    this.engineWarnings = new EngineWarnings((message) => this.safeEmit('run:warning', { message }), this.backend.readsOomFlag);
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

  /**
   * The jobs the manager holds (added with `addSimJob`, or `addSimJobs` with an array), in the order they were
   * added. Jobs of iterable sources are not held: they exist only while they run.
   */
  get simJobs(): readonly SimJob[] {
    return [...this.jobs.values()];
  }

  /** Adds one job (a `SimJob` or its options). Names must be unique within the manager. */
  addSimJob(job: SimJob | SimJobOptions): SimJob {
    this.refuseDuringRun(job instanceof SimJob ? job.name : job?.name);
    const simJob = job instanceof SimJob ? job : new SimJob(job);
    if (this.jobs.has(simJob.name)) {
      throw new ValidationError('name', simJob.name, `A job named '${simJob.name}' was already added to this manager. Job names must be unique: they name the output folders.`);
    }
    this.jobs.set(simJob.name, simJob);
    return simJob;
  }

  /**
   * Adds many jobs. An array is taken at once: its jobs are checked now (nothing is added when one is invalid),
   * held by the manager, and listed in `simJobs` and `summary.results`. Any other iterable, or an async
   * iterable (a generator, rows read from a file...), is a lazy source: the next run reads it one job at a time
   * as worker slots free up, never all at once, and keeps no job once it ended, so a sweep of millions of jobs
   * runs in memory bounded by the concurrency. Its jobs are checked as they are read (names must be unique
   * across the run); a source is read by one run. `total`, when known, is reported in `run:started` for
   * progress displays.
   *
   * @example
   * ```ts
   * function* sweep() {
   *   for (let seed = 1; seed <= 1_000_000; seed++) yield { name: `s${seed}`, command: ['-r', String(seed)] };
   * }
   * manager.addSimJobs(sweep(), { total: 1_000_000 });
   * const summary = await manager.startComputation();
   * console.log(`${summary.succeeded} of ${summary.total} succeeded`);
   * ```
   */
  addSimJobs(jobs: ReadonlyArray<SimJob | SimJobOptions>): SimJob[];
  addSimJobs(jobs: Iterable<SimJob | SimJobOptions> | AsyncIterable<SimJob | SimJobOptions>, options?: { total?: number }): void;
  addSimJobs(jobs: Iterable<SimJob | SimJobOptions> | AsyncIterable<SimJob | SimJobOptions>, options: { total?: number } = {}): SimJob[] | void {
    this.refuseDuringRun(undefined);
    if (Array.isArray(jobs)) {
      const list = (jobs as ReadonlyArray<SimJob | SimJobOptions>).map((job) => (job instanceof SimJob ? job : new SimJob(job)));
      const seen = new Set<string>();
      for (const job of list) {
        if (this.jobs.has(job.name) || seen.has(job.name)) {
          throw new ValidationError('name', job.name, `A job named '${job.name}' appears twice. Job names must be unique: they name the output folders.`);
        }
        seen.add(job.name);
      }
      return list.map((job) => this.addSimJob(job));
    }
    const isSource = jobs !== null && typeof jobs === 'object' && (Symbol.iterator in jobs || Symbol.asyncIterator in jobs);
    if (!isSource) {
      throw new ValidationError('jobs', jobs, `Expected addSimJobs() to get an array, an iterable or an async iterable of jobs (SimJob or its options), got ${describeValue(jobs)}.`);
    }
    const { total } = options;
    if (total !== undefined && !(Number.isInteger(total) && total >= 0)) {
      throw new ValidationError('total', total, `Expected \`total\` (how many jobs the source holds) to be a whole number >= 0, got ${describeValue(total)}; leave it out when it is not known.`);
    }
    this.sources.push({ source: jobs, total });
  }

  private refuseDuringRun(name: string | undefined): void {
    if (this.activeRun) {
      throw new ValidationError('job', name, 'Jobs cannot be added while a run is in progress; add them before startComputation() or after it resolved.');
    }
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
    const held = this.simJobs.filter((job) => job.status === 'pending');
    const sources = this.sources.splice(0);
    const total = sources.every((source) => source.total !== undefined) ? held.length + sources.reduce((sum, source) => sum + (source.total ?? 0), 0) : null;
    const feed = new JobFeed(
      held,
      sources.map((source) => source.source),
      this.jobs.keys(),
    );
    try {
      return await this.runFeed(active, feed, { started, signal, total, held });
    } finally {
      await feed.close().catch(() => undefined);
    }
  }

  private async runFeed(active: ActiveRun, feed: JobFeed, run: { started: number; signal: AbortSignal; total: number | null; held: readonly SimJob[] }): Promise<RunSummary> {
    const { signal } = run;
    const { config, engines } = this;
    // Everything that can be wrong with the input is found before the engine is touched: for the first jobs,
    // as many as can start at once (so the first job starts within moments whatever the size of the sweep);
    // later jobs are checked as they are read.
    await checkDataDirectory(config.dataDirectory);
    this.engineWarnings.reset();
    const localities = [...new Set(engines.map((engine) => engine.runtime.isLocal))];
    const slots = engines.reduce((sum, engine) => sum + engine.maxWorkers, 0);
    const firstPlans: JobPlan[] = [];
    while (firstPlans.length < slots) {
      const job = await feed.next();
      if (job === undefined) break;
      firstPlans.push(await this.plan(job, localities));
    }
    await Promise.all(engines.map((engine) => engine.runtime.ping()));
    await this.backend.checkEngines(engines);
    await Promise.all(engines.map((engine) => this.removeOrphans(engine)));
    const images = await this.resolveImages();
    const image = images[0] as { info: ImageInfo; wasPulled: boolean };
    const facts: EngineFacts[] = await Promise.all(
      engines.map(async (engine) => ({
        size: await engine.runtime.capacity?.().catch(() => undefined),
        features: await engine.runtime.features?.().catch(() => undefined),
      })),
    );
    for (const plan of firstPlans) plan.engines = this.enginesFor(plan, facts);
    const hashOf = (plan: JobPlan): Promise<string> => {
      const { spec, templates } = plan.first;
      return specHash({ imageId: image.info.id, entrypoint: spec.entrypoint, cmd: spec.cmd, env: spec.env, workingDir: spec.workingDir, templates });
    };
    const firstHashes = await Promise.all(firstPlans.map(hashOf));
    const manifestFile = manifestPath(config.dataDirectory);
    // Resume: a job whose newest record succeeded with the same spec is not run again.
    const resume = config.resume ? await ResumeIndex.read(manifestFile) : undefined;
    const isDone = (plan: JobPlan, hash: string): boolean => resume?.isDone(plan.job.name, hash) ?? false;
    const firstToRun = firstPlans.filter((plan, i) => !isDone(plan, firstHashes[i] ?? '')).length;

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
      jobCount: feed.exhausted ? firstToRun : Math.max(firstToRun, 1),
      onWarning: (message, error) => this.safeEmit('run:warning', { message, error }),
    });
    this.safeEmit('run:started', { runId, total: run.total });
    this.safeEmit('image:ready', { image: config.imageReference, id: image.info.id, digest, digests: image.info.repoDigests, wasPulled: images.some((i) => i.wasPulled) });
    const manifest = new ManifestWriter(manifestFile);
    const tally = new RunTally();
    const context: RunContext = {
      runId,
      imageId: image.info.id,
      imageDigest: digest,
      engines,
      mountPath: config.mountPath,
      resume: config.resume,
      signal,
      manifest,
      backend: backendRun,
      scheduler: new EngineScheduler(
        engines.map((engine) => engine.maxWorkers),
        signal,
      ),
      slotOffsets: engines.map((_, i) => engines.slice(0, i).reduce((sum, engine) => sum + engine.maxWorkers, 0)),
      tally,
      engineRecovery: this.engineRecovery,
      emit: (event, payload) => this.safeEmit(event, payload),
      wantsLines: () => this.listenerCount('job:log') > 0,
      onFailed: () => {
        if (config.failFast) this.stopRun(active, 'fail-fast');
        else if (config.maxFailures !== undefined && tally.counts.failed >= config.maxFailures) this.stopRun(active, 'max-failures');
      },
    };
    const runner = new JobRunner(context);

    // Jobs are read as slots free up: at most READ_AHEAD_PER_SLOT per slot are read and not yet ended. They are
    // checked side by side, but queued (and ask for their first slot) in the order they were read.
    let turn = Promise.resolve();
    const sourceError = await pumpJobs<{ plan: JobPlan; hash: string }>({
      feed,
      first: firstPlans.map((plan, i) => ({ job: plan.job, planned: { plan, hash: firstHashes[i] ?? '' } })),
      readAhead: slots * READ_AHEAD_PER_SLOT,
      signal,
      runJob: async (job, planned) => {
        const previous = turn;
        let myTurnDone = (): void => undefined;
        turn = new Promise((resolve) => {
          myTurnDone = resolve;
        });
        try {
          const { plan, hash } = planned ?? (await this.planLater(job, localities, facts, hashOf));
          if (isDone(plan, hash)) {
            await previous;
            runner.skip(plan.first, hash);
            return;
          }
          await previous;
          job.transition('queued');
          this.safeEmit('job:queued', { job });
          const running = runner.runJob(plan, hash); // asks for its slot before it yields
          myTurnDone();
          await running;
        } finally {
          myTurnDone();
        }
      },
    });
    // Jobs the manager holds that a stopped run never got to are cancelled (and recorded); unread jobs of
    // lazy sources are simply not read.
    for (const job of run.held) {
      if (job.status === 'pending' && sourceError === undefined) await runner.cancelUnstarted(this.folders(job), '');
    }
    await manifest.close().catch((error: unknown) => this.safeEmit('run:warning', { message: `The run manifest ${manifestFile} could not be closed: ${(error as Error).message}`, error }));
    await backendRun.close();

    const results = run.held.map((job) => job.result).filter((result): result is NonNullable<typeof result> => result !== undefined && result.finishedAt.getTime() >= run.started);
    const summary: RunSummary = {
      runId,
      ...tally.counts,
      stopReason: active.stopReason,
      durationMs: Date.now() - run.started,
      results,
      failures: tally.failures,
      withoutOutput: tally.withoutOutput,
      withoutOutputCount: tally.withoutOutputCount,
      usage: tally.usage,
      manifestFile,
    };
    // A second signal is removing everything and exiting: the run has no end to report.
    if (active.exiting) await active.exiting;
    this.safeEmit('run:finished', { summary });
    if (sourceError !== undefined) throw new JobSourceError(summary, sourceError.error);
    return summary;
  }

  /** A job read after the run began: checked and hashed as the first ones were before it. */
  private async planLater(job: SimJob, localities: readonly boolean[], facts: readonly EngineFacts[], hashOf: (plan: JobPlan) => Promise<string>): Promise<{ plan: JobPlan; hash: string }> {
    const plan = await this.plan(job, localities);
    plan.engines = this.enginesFor(plan, facts);
    return { plan, hash: await hashOf(plan) };
  }

  /** Where a job's folder and logs are, for a job that never got prepared. */
  private folders(job: SimJob): Pick<PreparedJob, 'job' | 'outputDir' | 'logFiles' | 'outputMode'> {
    const outputDir = path.join(this.config.dataDirectory, `job_${job.name}`);
    const mode = applySecurityPreset(mergeSettings(this.config.defaults, job.settings)).outputMode ?? 'auto';
    return {
      job,
      outputDir,
      logFiles: { combined: path.join(outputDir, 'log.txt'), stdout: path.join(outputDir, 'stdout.log'), stderr: path.join(outputDir, 'stderr.log') },
      outputMode: mode === 'auto' ? (this.runtime.isLocal ? 'bind' : 'copy') : mode,
    };
  }

  /**
   * The engines a job can run on: its output mode fits, its cpus and memory fit (if known), and the engine can
   * give it what it asks (GPUs). None is a ValidationError naming the job and the setting.
   */
  private enginesFor(plan: JobPlan, facts: readonly EngineFacts[]): number[] {
    const { settings } = plan.first;
    const { nanoCpus, memoryBytes, gpus } = settings;
    const fits = (i: number): boolean => fitsCapacity(settings, facts[i]?.size);
    const givesGpus = (i: number): boolean => gpus === undefined || facts[i]?.features?.gpus !== false;
    const usable = this.engines.map((engine, i) => (plan.variants.has(engine.runtime.isLocal) && fits(i) && givesGpus(i) ? i : -1)).filter((i) => i >= 0);
    if (usable.length > 0) {
      this.engineWarnings.check(plan.job.name, settings, usable.map((i) => ({ engine: this.engines[i] as RunEngine, features: facts[i]?.features })));
      return usable;
    }
    const name = plan.job.name;
    if (this.engines.some((engine, i) => plan.variants.has(engine.runtime.isLocal) && fits(i))) {
      if (gpus !== undefined && this.engines.some((_, i) => !givesGpus(i))) {
        const podman = this.engines.filter((_, i) => !givesGpus(i)).map((engine) => engine.name);
        throw new ValidationError(`jobs[${name}].gpus`, gpus, `Job ${name} asks for GPUs, but the engine (${podman.join(', ')}) is Podman, which accepts a GPU request through the Docker API and ignores it. Run GPU jobs on a Docker engine with the NVIDIA container toolkit, or leave gpus out.`);
      }
    }
    const field = this.engines.some((_, i) => fits(i)) ? `jobs[${name}].outputMode` : nanoCpus !== undefined ? `jobs[${name}].cpus` : `jobs[${name}].memory`;
    const sizes = facts.map((c, i) => `${this.engines[i]?.name}: ${c.size ? `${c.size.cpus} CPUs, ${(c.size.memoryBytes / 1024 ** 3).toFixed(1)} GiB` : 'unknown'}`).join('; ');
    throw new ValidationError(field, field.endsWith('outputMode') ? settings.outputMode : field.endsWith('cpus') ? (nanoCpus ?? 0) / 1e9 : memoryBytes, `No engine can run job ${name}: it asks for more CPUs or memory than any engine has, or an output mode no engine supports (${sizes}). Lower its limits or add an engine that fits.`);
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
    const { config, caller } = this;
    const variants = new Map<boolean, PreparedJob>();
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
    // The engines it can run on are known once the engines' capacities are.
    return { job, variants, first, engines: [] };
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
