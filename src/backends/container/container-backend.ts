import path from 'node:path';
import { ValidationError } from '../../errors/validation-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { ContainerRuntime, ContainerSummary } from '../../runtime/container-runtime.js';
import { LABELS } from '../../runtime/labels.js';
import type { AttemptOutcome, AttemptRequest, Backend, BackendOptions, BackendRun, OpenRunOptions } from '../backend.js';
import { reapOrphanContainers, removeLeftoverContainers, removeRunContainers } from '../reap-orphans.js';
import { RemovalQueue } from '../removal-queue.js';
import { attemptContext, runAttempt } from '../run-attempt.js';
import { containerAttempt } from './container-attempt.js';

/** How long the output streams may take to end after the exit code arrived, before the engine's log is re-read. */
const LOG_GRACE_MS = 2_000;
/** How often a running container is inspected in case the engine never answers its wait. */
const WAIT_CHECK_INTERVAL_MS = 15_000;

/**
 * The name of an attempt's container: `dsim-<runId>-<job>`, and `dsim-<runId>.<attempt>-<job>` for a retry. Any
 * valid job name is a valid container name; the attempt sits right after the fixed-length run id, so job `x`'s
 * second attempt and a job named `x-2` never share a name.
 */
export function containerName(runId: string, jobName: string, attempt: number): string {
  return `dsim-${runId}${attempt > 1 ? `.${attempt}` : ''}-${jobName}`;
}

/** A bind mount needs the host folder on the engine's machine. */
export function refuseRemoteBind(job: PreparedJob, runtime: ContainerRuntime): void {
  if (job.outputMode !== 'bind' || runtime.isLocal) return;
  throw new ValidationError(
    `jobs[${job.job.name}].outputMode`,
    'bind',
    `Job ${job.job.name} asks for outputMode 'bind', but the engine at ${runtime.endpoint} is remote and cannot see host folders. Use 'copy' or 'auto'.`,
  );
}

/**
 * The default backend: each attempt runs in a fresh container on one of the engines, created from the pinned
 * image id, removed once its exit code, logs and outputs are in.
 */
export class ContainerBackend implements Backend {
  readonly kind = 'container';
  readonly readsOomFlag = true;

  constructor(private readonly options: BackendOptions) {}

  async checkJob(job: PreparedJob, runtime: ContainerRuntime): Promise<void> {
    refuseRemoteBind(job, runtime);
  }

  async checkEngines(): Promise<void> {}

  async reapOrphans(runtime: ContainerRuntime): Promise<ContainerSummary[]> {
    return (await reapOrphanContainers(runtime)).removed;
  }

  async open(run: OpenRunOptions): Promise<BackendRun> {
    const { options } = this;
    const removals = new RemovalQueue(run.onWarning);
    // Pinned: every container is created from the image id resolved before the run, so a tag that moves
    // mid-run changes nothing.
    const images = run.images.map((image) => (options.pinDigest ? image.id : options.imageReference));
    return {
      runAttempt: (request: AttemptRequest): Promise<AttemptOutcome> => {
        const { runtime } = run.engines[request.engine] as (typeof run.engines)[number];
        const { job } = request;
        const driver = containerAttempt({
          job,
          spec: { ...job.spec, image: images[request.engine] ?? options.imageReference, name: containerName(run.runId, job.job.name, request.attempt), labels: { ...job.spec.labels, [LABELS.run]: run.runId } },
          runtime,
          signal: request.signal,
          stopGracePeriodMs: options.stopGracePeriodMs,
          stagingRoot: path.join(options.dataDirectory, '.docker-sim-manager', 'staging'),
          logGraceMs: LOG_GRACE_MS,
          waitCheckIntervalMs: WAIT_CHECK_INTERVAL_MS,
          collectUsage: options.collectUsage,
          scheduleRemoval: (id) => removals.add(`Container ${id.slice(0, 12)}`, () => runtime.remove(id)),
        });
        return runAttempt(driver, attemptContext(request, runtime));
      },
      close: async () => {
        await removals.settled();
        await removeLeftoverContainers(run);
      },
    };
  }

  removeRun(runtime: ContainerRuntime, runId: string): Promise<void> {
    return removeRunContainers(runtime, runId);
  }
}
