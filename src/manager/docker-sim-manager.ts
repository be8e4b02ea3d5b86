import { randomUUID } from 'node:crypto';
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
import { mergeSettings } from '../job/job-settings.js';
import type { JobResult, RunSummary } from '../job/job-result.js';
import { runContainerJob } from '../job/run-container-job.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import type { ResolvedTemplate } from '../archive/pack-templates.js';
import type { CopyOutItem } from '../archive/copy-outputs.js';
import type { LogFiles } from '../job/log-sink.js';
import type { ContainerRuntime, ContainerSpec, ImageInfo, RegistryCredentials } from '../runtime/container-runtime.js';
import { DockerodeRuntime } from '../runtime/dockerode-runtime.js';
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
  private readonly runtime: ContainerRuntime;
  private readonly authenticators: readonly RegistryAuthenticator[];
  private readonly jobs = new Map<string, SimJob>();
  private activeRun: AbortController | undefined;

  constructor(options: DockerSimManagerOptions) {
    super();
    this.config = Object.freeze(normalizeManagerOptions(options));
    // Without an `auth` option, whatever `docker login` stored is used, as the docker CLI would.
    this.authenticators = this.config.authenticators ?? [new DockerConfigAuthenticator()];
    try {
      this.runtime = options.runtime ?? new DockerodeRuntime(options.docker);
    } catch (error) {
      const where = options.docker === undefined ? `DOCKER_HOST (${describeValue(process.env.DOCKER_HOST)})` : 'the `docker` option';
      throw new ValidationError('docker', options.docker ?? process.env.DOCKER_HOST, `Cannot use ${where}: ${(error as Error).message}. Use unix:///path/to/docker.sock, tcp://host:2376 or ssh://user@host.`, { cause: error });
    }
  }

  /** Where the engine is, e.g. `unix:///var/run/docker.sock`. */
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
  private async checkCredentials(registry: string, credentials: RegistryCredentials): Promise<void> {
    const answer = await this.runtime.checkAuth(credentials);
    if (!answer.isAccepted) {
      throw new RegistryAuthError(
        registry,
        `The registry ${registry} refused the credentials for ${this.config.imageReference}: ${answer.message}. Check the user name and token (and that the token may read packages).`,
      );
    }
  }

  /** Cancels the run in progress, as aborting its signal would. */
  cancel(): void {
    this.activeRun?.abort();
  }

  /**
   * Runs every job that has not run yet and resolves with a summary once all of them ended, failed or not.
   * Rejects only for problems of the whole run (`ValidationError`, `DockerUnavailableError`, `ImageNotFoundError`,
   * `EngineError` when the engine fails a check or the pull, `RunInProgressError`), always before any container
   * is created.
   */
  async startComputation(options: StartComputationOptions = {}): Promise<RunSummary> {
    if (this.activeRun) throw new RunInProgressError();
    const controller = new AbortController();
    this.activeRun = controller;
    const onAbort = (): void => controller.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) controller.abort();
    try {
      return await this.run(controller.signal);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      this.activeRun = undefined;
    }
  }

  private async run(signal: AbortSignal): Promise<RunSummary> {
    const started = Date.now();
    const jobs = this.simJobs.filter((job) => job.status === 'pending');
    const { config, runtime } = this;

    // Everything that can be wrong with the input is found before the engine is touched.
    await checkDataDirectory(config.dataDirectory);
    const owner = this.containerOwner();
    const prepared = await Promise.all(jobs.map((job) => this.prepare(job, owner)));
    await runtime.ping();
    const image = await this.resolveImage();

    const runId = randomUUID().replace(/-/g, '').slice(0, 12);
    const digest = this.digestOf(image.info);
    this.safeEmit('run:started', { runId, jobs });
    this.safeEmit('image:ready', { image: config.imageReference, id: image.info.id, digest, digests: image.info.repoDigests, wasPulled: image.wasPulled });
    // Pinned: every container is created from the image id resolved above, so a tag that moves mid-run changes nothing.
    const runImage = config.pinDigest ? image.info.id : config.imageReference;
    await mkdir(config.dataDirectory, { recursive: true });

    const removals = new Set<Promise<void>>();
    const scheduleRemoval = (containerId: string): void => {
      const removal = runtime
        .remove(containerId)
        .catch((error: unknown) => this.safeEmit('run:warning', { message: `Container ${containerId.slice(0, 12)} could not be removed: ${(error as Error).message}`, error }))
        .finally(() => removals.delete(removal));
      removals.add(removal);
    };

    const limit = pLimit(config.maxWorkers);
    for (const item of prepared) {
      item.job.transition('queued');
      this.safeEmit('job:queued', { job: item.job });
    }
    const results = await Promise.all(
      prepared.map((item) =>
        limit(() => this.runJob(item, { runId, image: runImage, imageId: image.info.id, imageDigest: digest, owner, signal, scheduleRemoval })),
      ),
    );
    while (removals.size > 0) await Promise.all(removals);

    const summary: RunSummary = {
      runId,
      total: results.length,
      succeeded: results.filter((r) => r.status === 'succeeded').length,
      failed: results.filter((r) => r.status === 'failed').length,
      cancelled: results.filter((r) => r.status === 'cancelled').length,
      durationMs: Date.now() - started,
      results,
    };
    this.safeEmit('run:finished', { summary });
    return summary;
  }

  private async runJob(
    item: PreparedJob,
    run: {
      runId: string;
      image: string;
      imageId: string;
      imageDigest: string | null;
      owner: { uid: number; gid: number };
      signal: AbortSignal;
      scheduleRemoval(id: string): void;
    },
  ): Promise<JobResult> {
    const { job } = item;
    let startedAt: Date | null = null;
    const outcome = run.signal.aborted
      ? undefined
      : await (async () => {
          try {
            await mkdir(item.outputDir, { recursive: true });
          } catch (error) {
            return { status: 'failed' as const, exitCode: null, containerId: null, startedAt: null, finishedAt: new Date(), skippedEntries: [], error: new EngineError('create the job folder', `Cannot create the output folder ${item.outputDir} of job ${job.name}: ${(error as Error).message}`, { cause: error }) };
          }
          job.transition('running');
          return runContainerJob({
            jobName: job.name,
            spec: { ...item.spec, image: run.image, name: `dsim-${run.runId}-${job.name}`, labels: { ...item.spec.labels, [LABELS.run]: run.runId } },
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
            runtime: this.runtime,
            signal: run.signal,
            stopGracePeriodMs: this.config.stopGracePeriodMs,
            logGraceMs: LOG_GRACE_MS,
            waitCheckIntervalMs: WAIT_CHECK_INTERVAL_MS,
            onStarted: (containerId) => {
              startedAt = new Date();
              this.safeEmit('job:started', { job, containerId, attempt: 1 });
            },
            onLine: this.listenerCount('job:log') > 0 ? (stream, line) => this.safeEmit('job:log', { job, stream, line }) : undefined,
            scheduleRemoval: run.scheduleRemoval,
          });
        })();
    const finishedAt = outcome?.finishedAt ?? new Date();
    const status = outcome?.status ?? 'cancelled';
    const result: JobResult = {
      name: job.name,
      status,
      exitCode: outcome?.exitCode ?? null,
      attempts: outcome?.containerId ? 1 : 0,
      containerId: outcome?.containerId ?? null,
      outputDir: item.outputDir,
      logFile: item.logFiles.combined,
      stdoutFile: item.logFiles.stdout,
      stderrFile: item.logFiles.stderr,
      outputMode: item.outputMode,
      skippedEntries: outcome?.skippedEntries ?? [],
      startedAt,
      finishedAt,
      durationMs: startedAt === null ? 0 : finishedAt.getTime() - (startedAt as Date).getTime(),
      imageId: run.imageId,
      imageDigest: run.imageDigest,
      ...(outcome?.error ? { error: outcome.error } : outcome ? {} : { error: new JobCancelledError(job.name) }),
    };
    if (result.skippedEntries.length > 0) this.safeEmit('job:output-skipped', { job, entries: result.skippedEntries });
    job.transition(status, result);
    if (status === 'succeeded') this.safeEmit('job:succeeded', { job, result });
    else if (status === 'cancelled') this.safeEmit('job:cancelled', { job, result });
    else if (result.error) this.safeEmit('job:failed', { job, result, error: result.error });
    return result;
  }

  private async prepare(job: SimJob, owner: { uid: number; gid: number }): Promise<PreparedJob> {
    const { config } = this;
    const settings = mergeSettings(config.defaults, job.settings);
    const outputDir = path.join(config.dataDirectory, `job_${job.name}`);
    await checkOutputDirIsFree(job.name, outputDir);
    const templates = await resolveTemplates(job.name, settings.templates ?? [], config.mountPath);
    const user = settings.user ?? (this.runtime.isLocal && process.getuid ? `${owner.uid}:${owner.gid}` : undefined);
    const numericUser = settings.user === undefined ? undefined : /^(\d+)(?::(\d+))?$/.exec(settings.user);
    const fileOwner = numericUser ? { uid: Number(numericUser[1]), gid: Number(numericUser[2] ?? 0) } : undefined;
    const requested = settings.outputMode ?? 'auto';
    const outputMode = requested === 'auto' ? (this.runtime.isLocal ? 'bind' : 'copy') : requested;
    if (outputMode === 'bind' && !this.runtime.isLocal) {
      throw new ValidationError(
        `jobs[${job.name}].outputMode`,
        'bind',
        `Job ${job.name} asks for outputMode 'bind', but the engine at ${this.runtime.endpoint} is remote and cannot see host folders. Use 'copy' or 'auto'.`,
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
      },
      binds: outputMode === 'bind' ? [{ hostPath: outputDir, containerPath: config.mountPath }] : [],
      ...(outputMode === 'copy' ? { volumes: [config.mountPath] } : {}),
      ...(settings.network === undefined ? {} : { networkMode: settings.network }),
      ...(settings.nanoCpus === undefined ? {} : { nanoCpus: settings.nanoCpus }),
      ...(settings.memoryBytes === undefined ? {} : { memoryBytes: settings.memoryBytes }),
      ...(settings.gpus === undefined ? {} : { gpus: settings.gpus }),
    };
    return {
      job,
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

  /** The uid:gid containers run as (and templates are owned by): the calling user's on POSIX systems. */
  private containerOwner(): { uid: number; gid: number } {
    return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  private async resolveImage(): Promise<{ info: ImageInfo; wasPulled: boolean }> {
    const { imageReference: reference, pullPolicy } = this.config;
    if (pullPolicy !== 'always') {
      const info = await this.runtime.inspectImage(reference);
      if (info) return { info, wasPulled: false };
      if (pullPolicy === 'never') {
        throw new ImageNotFoundError(
          reference,
          `Image ${reference} is not on the engine at ${this.runtime.endpoint} and pullPolicy is 'never'. Build it (docker build -t ${reference} .), load it (docker load), or set pullPolicy: 'missing'.`,
        );
      }
    }
    // A pull is about to happen: credentials are checked first, so a wrong token fails before any container.
    const registry = registryOf(reference);
    const credentials = await selectCredentials(this.authenticators, registry);
    if (credentials !== undefined) await this.checkCredentials(registry, credentials);
    const lastEmitted = new Map<string, { status: string; at: number }>();
    await this.runtime.pullImage(reference, {
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
    const info = await this.runtime.inspectImage(reference);
    if (!info) throw new ImageNotFoundError(reference, `Image ${reference} was pulled but the engine at ${this.runtime.endpoint} does not list it.`);
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
