import { ValidationError } from '../../errors/validation-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { ContainerRuntime, ContainerSummary, SwarmOperations } from '../../runtime/container-runtime.js';
import { LABELS } from '../../runtime/labels.js';
import { isOwnerGone } from '../../runtime/owner.js';
import type { AttemptOutcome, AttemptRequest, Backend, BackendOptions, BackendRun, OpenRunOptions, RunEngine } from '../backend.js';
import { reapOrphanContainers, removeRunContainers } from '../reap-orphans.js';
import { RemovalQueue } from '../removal-queue.js';
import { attemptContext, runAttempt } from '../run-attempt.js';
import { SWARM_CONFIG_MAX_BYTES, configFiles } from './config-files.js';
import { attemptName } from '../attempt-name.js';
import { swarmAttempt } from './swarm-attempt.js';
import { isUnderMountPath } from '../../util/under-mount-path.js';

/** How long a task may take to start when the job sets no shorter `timeoutMs`. */
const TASK_START_LIMIT_MS = 10 * 60_000;
/** Settings a service spec cannot express on the engine API this package speaks: refused, never dropped. */
const UNSUPPORTED = ['security', 'network', 'pidsLimit', 'tmpfs', 'noNewPrivileges', 'gpus'] as const;

/** A config in use cannot be removed: the swarm lets go of it once the service's task is gone. */
async function removeConfig(swarm: SwarmOperations, configId: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await swarm.removeConfig(configId);
      return;
    } catch (error) {
      if (attempt >= 20) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** The swarm of the manager's engine; `checkEngines` made sure there is one. */
function swarmOf(runtime: ContainerRuntime): SwarmOperations {
  return runtime.swarm as SwarmOperations;
}

/**
 * `backend: 'swarm'`: each attempt is a Docker Swarm replicated-job service (one replica, never restarted) on the
 * swarm whose manager the engine is, with the job folder bind-mounted on the node that runs it.
 */
export class SwarmBackend implements Backend {
  readonly kind = 'swarm';
  readonly readsOomFlag = true;

  constructor(private readonly options: BackendOptions) {}

  async checkJob(job: PreparedJob, runtime: ContainerRuntime): Promise<void> {
    const name = job.job.name;
    const { settings } = job;
    const { mountPath } = this.options;
    if (settings.collect?.length) {
      throw new ValidationError(`jobs[${name}].collect`, settings.collect, `\`collect\` is not available with backend 'swarm': the swarm removes a task's container with its service. Write the outputs under the mount path.`);
    }
    if (settings.outputMode === 'copy') {
      throw new ValidationError(`jobs[${name}].outputMode`, 'copy', `outputMode 'copy' is not available with backend 'swarm': the job folder is mounted into the service (a bind path on single-node or shared-file-system swarms).`);
    }
    if (job.outputMode === 'copy') {
      // outputMode 'auto' on a remote manager: a bind mount would write on whichever node runs the task.
      throw new ValidationError(
        `jobs[${name}].outputMode`,
        settings.outputMode ?? 'auto',
        `backend 'swarm' bind-mounts each job folder on the node that runs its task, but the swarm manager at ${runtime.endpoint} is remote: the outputs would stay on that node. Run the driver on a manager node, or, when ${this.options.dataDirectory} is a shared file system at the same path on every node, set outputMode: 'bind'.`,
      );
    }
    const unsupported = UNSUPPORTED.find((key) => (key === 'security' ? settings.security === 'strict' : settings[key] !== undefined && !(key === 'tmpfs' && settings.tmpfs?.length === 0)));
    if (unsupported !== undefined) {
      throw new ValidationError(
        `jobs[${name}].${unsupported}`,
        settings[unsupported],
        `\`${unsupported}\`${unsupported === 'security' ? " 'strict'" : ''} is not available with backend 'swarm' (services use the swarm's networking and cannot set it). Remove it for this backend, or use backend 'engine'.`,
      );
    }
    for (const [index, template] of job.templates.entries()) {
      if (isUnderMountPath(template.target, mountPath)) continue;
      for (const file of await configFiles(template)) {
        if (file.size <= SWARM_CONFIG_MAX_BYTES) continue;
        throw new ValidationError(
          `jobs[${name}].templates[${index}]`,
          file.source,
          `Template file ${file.source} of job ${name} (${file.size} bytes) is over Swarm's config limit of ${SWARM_CONFIG_MAX_BYTES} bytes; with backend 'swarm', templates outside the mount path travel as configs. Target it under the mount path (${mountPath}) instead.`,
        );
      }
    }
  }

  async checkEngines(engines: readonly RunEngine[]): Promise<void> {
    for (const { runtime } of engines) {
      const features = await runtime.features?.().catch(() => undefined);
      if (features?.swarm === false) {
        throw new ValidationError('backend', 'swarm', `backend 'swarm' needs a Docker Swarm manager, but the engine at ${runtime.endpoint} is ${features.product === 'podman' ? 'Podman' : features.product}, which has no swarm mode. Use backend 'engine' (fresh containers or the pool) on it, or point \`docker\` at a Docker Swarm manager.`);
      }
      if (!runtime.swarm || !(await runtime.swarm.isManager())) {
        throw new ValidationError('backend', 'swarm', `backend 'swarm' needs a Docker Swarm manager, but the engine at ${runtime.endpoint} is not one. Run \`docker swarm init\` there (or point \`docker\` at a manager node), or use backend 'engine'.`);
      }
    }
  }

  async reapOrphans(runtime: ContainerRuntime): Promise<ContainerSummary[]> {
    const { removed } = await reapOrphanContainers(runtime);
    const { swarm } = runtime;
    if (!swarm) return removed;
    for (const service of await swarm.listServices({ [LABELS.ownerPid]: undefined })) {
      if (!isOwnerGone(service.labels)) continue;
      await swarm.removeService(service.id);
      removed.push(service);
    }
    for (const config of await swarm.listConfigs({ [LABELS.ownerPid]: undefined })) {
      if (isOwnerGone(config.labels)) await removeConfig(swarm, config.id);
    }
    return removed;
  }

  async open(run: OpenRunOptions): Promise<BackendRun> {
    const { options } = this;
    const engine = run.engines[0] as RunEngine;
    const swarm = swarmOf(engine.runtime);
    const removals = new RemovalQueue(run.onWarning);
    // A service names its image by reference: pinned, the registry digest (the same bytes on every node), or
    // the image id for a local build (the nodes that hold it); unpinned, the reference as given.
    const image = options.pinDigest ? (run.imageDigest ?? (run.images[0]?.id as string)) : options.imageReference;
    return {
      runAttempt: (request: AttemptRequest): Promise<AttemptOutcome> => {
        const { job } = request;
        const { spec } = job;
        const driver = swarmAttempt({
          job,
          mountPath: options.mountPath,
          service: {
            name: attemptName(run.runId, job.job.name, request.attempt),
            image,
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
          swarm,
          runtime: engine.runtime,
          signal: request.signal,
          collectUsage: options.collectUsage,
          startLimitMs: Math.min(job.settings.timeoutMs ?? TASK_START_LIMIT_MS, TASK_START_LIMIT_MS),
          scheduleRemoval: (serviceId, configIds) =>
            removals.add(`Service ${serviceId?.slice(0, 12) ?? `configs of job ${job.job.name}`}`, async () => {
              if (serviceId !== undefined) await swarm.removeService(serviceId);
              for (const configId of configIds) await removeConfig(swarm, configId);
            }),
        });
        return runAttempt(driver, attemptContext(request, engine.runtime));
      },
      close: async () => {
        await removals.settled();
        try {
          await this.removeRun(engine.runtime, run.runId);
        } catch (error) {
          run.onWarning(`Services of run ${run.runId} could not be removed: ${(error as Error).message}. Remove them with: docker service rm $(docker service ls -q --filter label=${LABELS.run}=${run.runId})`, error);
        }
      },
    };
  }

  async removeRun(runtime: ContainerRuntime, runId: string): Promise<void> {
    const swarm = swarmOf(runtime);
    await Promise.all((await swarm.listServices({ [LABELS.run]: runId })).map((service) => swarm.removeService(service.id)));
    await Promise.all((await swarm.listConfigs({ [LABELS.run]: runId })).map((config) => removeConfig(swarm, config.id)));
    await removeRunContainers(runtime, runId);
  }
}
