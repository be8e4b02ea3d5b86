import { ValidationError } from '../../errors/validation-error.js';
import { applySecurityPreset } from '../../job/job-settings.js';
import { containerShape, type PreparedJob } from '../../job/prepared-job.js';
import type { ContainerRuntime, ContainerSummary, ImageInfo } from '../../runtime/container-runtime.js';
import { ownerLabels } from '../../runtime/owner.js';
import type { AttemptOutcome, AttemptRequest, Backend, BackendOptions, BackendRun, OpenRunOptions, RunEngine } from '../backend.js';
import { reapOrphanContainers, removeLeftoverContainers, removeRunContainers } from '../reap-orphans.js';
import { RemovalQueue } from '../removal-queue.js';
import { attemptContext, runAttempt } from '../run-attempt.js';
import { poolAttempt } from './pool-attempt.js';
import { WorkerPool } from './worker-pool.js';

/** Settings that shape a container: in pool mode the workers are the containers, so these are the manager's. */
const WORKER_SETTINGS = ['cpus', 'memory', 'nanoCpus', 'memoryBytes', 'gpus', 'network', 'labels', 'security', 'readOnlyRootfs', 'capDrop', 'capAdd', 'noNewPrivileges', 'pidsLimit', 'init', 'tmpfs'];

/** The argv a fresh container would run: the entrypoint (the job's, else the image's) and the command (the job's, else the image's unless the job replaced the entrypoint). */
function jobArgv(job: PreparedJob, image: ImageInfo): string[] {
  const { spec } = job;
  return [...(spec.entrypoint ?? image.entrypoint ?? []), ...(spec.cmd ?? (spec.entrypoint ? [] : (image.cmd ?? [])))];
}

/**
 * `executionMode: 'pool'`: `maxWorkers` long-lived worker containers per engine, each running one job at a time
 * as a process (`docker exec`) with the job's argv, env, user and working directory.
 */
export class PoolBackend implements Backend {
  readonly kind = 'pool';
  readonly readsOomFlag = false;

  constructor(private readonly options: BackendOptions) {}

  async checkJob(job: PreparedJob, runtime: ContainerRuntime): Promise<void> {
    const name = job.job.name;
    if (!runtime.isLocal) {
      throw new ValidationError('executionMode', 'pool', `executionMode 'pool' mounts the data directory into long-lived workers, which needs a local engine; ${runtime.endpoint} is remote. Use executionMode 'container' (outputs are then copied out).`);
    }
    if (job.settings.collect?.length) {
      throw new ValidationError(`jobs[${name}].collect`, job.settings.collect, `\`collect\` is not available in executionMode 'pool' (files outside the job folder stay in the shared worker). Write the outputs under the mount path, or use executionMode 'container'.`);
    }
    if (job.settings.outputMode === 'copy') {
      throw new ValidationError(`jobs[${name}].outputMode`, 'copy', `outputMode 'copy' is not available in executionMode 'pool': the workers see the job folders through a bind mount.`);
    }
    const growing = (['memory', 'cpus'] as const).find((key) => job.settings.perAttempt?.[key] !== undefined);
    if (growing !== undefined) {
      throw new ValidationError(
        `defaults.${growing}`,
        job.settings.perAttempt?.[growing],
        `\`${growing}\` is given as a function of the attempt, but executionMode 'pool' sizes its workers once, before any job: a retry cannot get more. Give \`${growing}\` as a value, or use executionMode 'container'.`,
      );
    }
    const own = job.job.settings as Record<string, unknown>;
    const key = WORKER_SETTINGS.find((setting) => own[setting] !== undefined);
    if (key !== undefined) {
      const field = key === 'nanoCpus' ? 'cpus' : key === 'memoryBytes' ? 'memory' : key;
      throw new ValidationError(
        `jobs[${name}].${field}`,
        own[key],
        `Job ${name} sets \`${field}\`, but in executionMode 'pool' every job runs in a shared worker container, so container settings (limits, network, hardening, labels) apply to all jobs: set \`${field}\` in the manager's \`defaults\` instead.`,
      );
    }
  }

  async checkEngines(): Promise<void> {}

  async reapOrphans(runtime: ContainerRuntime): Promise<ContainerSummary[]> {
    return (await reapOrphanContainers(runtime)).removed;
  }

  /** Starts every engine's workers (and checks the image supports them) before any job; none when nothing will run. */
  async open(run: OpenRunOptions): Promise<BackendRun> {
    const removals = new RemovalQueue(run.onWarning);
    const pools = run.jobCount === 0 ? [] : run.engines.map((engine, i) => this.workerPool(engine, run, run.images[i] as ImageInfo, removals));
    try {
      await Promise.all(pools.map((pool) => pool.start()));
    } catch (error) {
      await Promise.all(pools.map((pool) => pool.close()));
      await removals.settled();
      throw error;
    }
    const { mountPath } = this.options;
    return {
      runAttempt: (request: AttemptRequest): Promise<AttemptOutcome> => {
        const { runtime } = run.engines[request.engine] as RunEngine;
        const image = run.images[request.engine] as ImageInfo;
        const { spec } = request.job;
        const workingDir = spec.workingDir ?? image.workingDir;
        const driver = poolAttempt({
          job: request.job,
          exec: { cmd: jobArgv(request.job, image), env: spec.env, ...(spec.user === undefined ? {} : { user: spec.user }), ...(workingDir ? { workingDir } : {}) },
          mountPath,
          runtime,
          pool: pools[request.engine] as WorkerPool,
          slot: request.slot,
          signal: request.signal,
          collectUsage: this.options.collectUsage,
          stopGracePeriodMs: this.options.stopGracePeriodMs,
        });
        return runAttempt(driver, attemptContext(request, runtime));
      },
      close: async () => {
        await Promise.all(pools.map((pool) => pool.close()));
        await removals.settled();
        await removeLeftoverContainers(run);
      },
    };
  }

  removeRun(runtime: ContainerRuntime, runId: string): Promise<void> {
    return removeRunContainers(runtime, runId);
  }

  /** The workers of one engine: the manager's defaults (limits, hardening, network) apply to them. */
  private workerPool(engine: RunEngine, run: OpenRunOptions, image: ImageInfo, removals: RemovalQueue): WorkerPool {
    const { options } = this;
    const shared = applySecurityPreset(options.defaults);
    return new WorkerPool({
      runtime: engine.runtime,
      size: engine.maxWorkers,
      runId: run.runId,
      template: {
        name: '',
        image: options.pinDigest ? image.id : options.imageReference,
        entrypoint: [...options.poolKeepAlive],
        cmd: [],
        env: {},
        labels: { ...shared.labels, ...ownerLabels() },
        binds: [],
        ...containerShape(shared),
      },
      dataDirectory: options.dataDirectory,
      mountPath: options.mountPath,
      recycleAfter: options.recycleAfter,
      residentRunner: options.residentRunner,
      // As prepareJob decides a job's user: the defaults', else (local engines) the caller's uid:gid.
      runnerUser: shared.user ?? (engine.runtime.isLocal && process.getuid ? `${process.getuid()}:${process.getgid?.() ?? 0}` : undefined),
      scheduleRemoval: (id) => removals.add(`Worker container ${id.slice(0, 12)}`, () => engine.runtime.remove(id)),
    });
  }
}
