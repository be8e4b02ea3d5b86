import { mkdir, rm, rmdir } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../errors/validation-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { ContainerRuntime, ContainerSummary } from '../../runtime/container-runtime.js';
import { LABELS } from '../../runtime/labels.js';
import { isOwnerGone, ownerLabels } from '../../runtime/owner.js';
import { attemptName } from '../attempt-name.js';
import type { AttemptOutcome, AttemptRequest, Backend, BackendOptions, BackendRun, OpenRunOptions, RunEngine } from '../backend.js';
import { reapOrphanContainers, removeLeftoverContainers } from '../reap-orphans.js';
import { attemptContext, runAttempt } from '../run-attempt.js';
import { slurmCommands, type SlurmJobState } from './slurm-commands.js';
import { slurmAttempt } from './slurm-attempt.js';
import { SlurmQueue, isFinal } from './slurm-queue.js';

/** Where the cluster runs jobs and how its nodes run containers (`DockerSimManagerOptions.slurm`). */
export interface SlurmOptions {
  /** `--partition`. @default the cluster's default partition */
  partition?: string;
  /** `--account`. */
  account?: string;
  /** `--qos`. */
  qos?: string;
  /** More `sbatch` options, added to every job as given (for example `['--constraint=avx2']`). */
  sbatchArgs?: readonly string[];
  /** The container engine on the compute nodes. @default 'docker' */
  nodeEngine?: 'docker' | 'podman';
  /** The command line that calls it on the nodes. @default [nodeEngine] */
  engineCommand?: readonly string[];
}

/** The folder of the run's batch scripts, env files and output on the shared file system. */
export const SLURM_STAGING = '.dsim-slurm';

/** `dsim;run=…;host=…;pid=…;start=…;job=…`: what the orphan sweep and `removeRun` read back from a Slurm job. */
function slurmComment(runId: string, jobName: string): string {
  const owner = ownerLabels();
  return `dsim;run=${runId};host=${owner[LABELS.ownerHost] ?? ''};pid=${owner[LABELS.ownerPid] ?? ''};start=${owner[LABELS.ownerStart] ?? ''};job=${jobName}`;
}

/** The owner labels and run of a Slurm job this package submitted; undefined for anyone else's. */
export function parseSlurmComment(comment: string): { runId: string; labels: Record<string, string> } | undefined {
  if (!comment.startsWith('dsim;')) return undefined;
  const fields = new Map(comment.split(';').slice(1).map((part) => [part.slice(0, part.indexOf('=')), part.slice(part.indexOf('=') + 1)] as const));
  const runId = fields.get('run');
  if (runId === undefined) return undefined;
  return {
    runId,
    labels: {
      [LABELS.ownerHost]: fields.get('host') ?? '',
      [LABELS.ownerPid]: fields.get('pid') ?? '',
      ...(fields.get('start') ? { [LABELS.ownerStart]: fields.get('start') as string } : {}),
    },
  };
}

/** A Slurm job's live state as a summary the orphan sweep reports. */
function asSummary(job: SlurmJobState): ContainerSummary {
  return { id: job.id, name: job.name, state: job.state.toLowerCase(), labels: parseSlurmComment(job.comment)?.labels ?? {}, createdAt: Date.parse(job.submitTime) || 0 };
}

/**
 * `backend: 'slurm'`: each attempt is a Slurm batch job whose script runs the job's container on the node Slurm
 * picks, with the job folder bind-mounted from the data directory (which must be on a file system the login node
 * and the compute nodes share, at the same path). `maxWorkers` bounds how many are submitted at once.
 */
export class SlurmBackend implements Backend {
  readonly kind = 'slurm';
  readonly readsOomFlag = true;

  constructor(
    private readonly options: BackendOptions,
    private readonly slurm: SlurmOptions,
  ) {}

  async checkJob(job: PreparedJob, runtime: ContainerRuntime): Promise<void> {
    const name = job.job.name;
    const { settings } = job;
    if (settings.collect?.length) {
      throw new ValidationError(`jobs[${name}].collect`, settings.collect, `\`collect\` is not available with backend 'slurm': the container runs on a compute node and is removed there. Write the outputs under the mount path (${this.options.mountPath}), which is the job folder on the shared file system.`);
    }
    if (job.outputMode === 'copy') {
      throw new ValidationError(
        `jobs[${name}].outputMode`,
        settings.outputMode ?? 'auto',
        runtime.isLocal
          ? `outputMode 'copy' is not available with backend 'slurm': the job folder is bind-mounted on the compute node from the shared file system.`
          : `backend 'slurm' bind-mounts each job folder on the compute node from the shared file system, but the engine at ${runtime.endpoint} is remote, so the image could not be checked where the driver runs. Run the driver on a login node with a local engine (or DOCKER_HOST unset).`,
      );
    }
    for (const [key, value] of Object.entries(job.spec.env)) {
      if (/[\n\r]/.test(value)) {
        throw new ValidationError(`jobs[${name}].env.${key}`, '(a value with a line break)', `With backend 'slurm' the env reaches the container through an env file, which cannot hold a line break. Encode the value (for example as base64) or pass it in a template.`);
      }
    }
  }

  async checkEngines(): Promise<void> {
    let partitions: string[];
    try {
      partitions = await slurmCommands.partitions();
    } catch (error) {
      throw new ValidationError('backend', 'slurm', `backend 'slurm' submits jobs with sbatch, but Slurm does not answer here: ${(error as Error).message}`, { cause: error });
    }
    const { partition } = this.slurm;
    if (partition !== undefined && !partitions.includes(partition)) {
      throw new ValidationError('slurm.partition', partition, `Partition ${partition} does not exist on this cluster (sinfo lists ${partitions.join(', ') || 'none'}). Name one of those, or leave partition out for the default.`);
    }
  }

  async reapOrphans(runtime: ContainerRuntime): Promise<ContainerSummary[]> {
    const orphans = [...(await slurmCommands.jobs()).values()].filter((job) => !isFinal(job) && isOwnerGone(parseSlurmComment(job.comment)?.labels ?? {}));
    await slurmCommands.cancel(orphans.map((job) => job.id));
    const { removed } = await reapOrphanContainers(runtime);
    return [...orphans.map(asSummary), ...removed];
  }

  async open(run: OpenRunOptions): Promise<BackendRun> {
    const { options, slurm } = this;
    const engine = run.engines[0] as RunEngine;
    // The nodes run the image by digest (the same bytes from a registry) or by id (a local build they loaded).
    const image = options.pinDigest ? (run.imageDigest ?? (run.images[0]?.id as string)) : options.imageReference;
    const staging = path.join(options.dataDirectory, SLURM_STAGING, run.runId);
    await mkdir(staging, { recursive: true });
    const queue = new SlurmQueue((error) => run.onWarning(`Slurm does not answer the job queries of run ${run.runId}: ${error.message}`, error));
    const sbatchArgs = [
      ...(slurm.partition === undefined ? [] : [`--partition=${slurm.partition}`]),
      ...(slurm.account === undefined ? [] : [`--account=${slurm.account}`]),
      ...(slurm.qos === undefined ? [] : [`--qos=${slurm.qos}`]),
      ...(slurm.sbatchArgs ?? []),
    ];
    const engineCommand = slurm.engineCommand ?? [slurm.nodeEngine ?? 'docker'];
    return {
      runAttempt: (request: AttemptRequest): Promise<AttemptOutcome> => {
        const { job } = request;
        const name = attemptName(run.runId, job.job.name, request.attempt);
        const driver = slurmAttempt({
          job: { ...job, spec: { ...job.spec, labels: { ...job.spec.labels, [LABELS.run]: run.runId } } },
          name,
          image,
          engineCommand,
          sbatchArgs,
          stagingDir: path.join(staging, name),
          mountPath: options.mountPath,
          comment: slurmComment(run.runId, job.job.name),
          queue,
          signal: request.signal,
          stopGracePeriodMs: options.stopGracePeriodMs,
        });
        return runAttempt(driver, attemptContext(request, engine.runtime));
      },
      close: async () => {
        try {
          await this.removeRun(engine.runtime, run.runId);
        } catch (error) {
          run.onWarning(`Slurm jobs of run ${run.runId} could not be cancelled: ${(error as Error).message}. Cancel them with: scancel --name=<name> (squeue -o '%i %j %k' lists them by comment dsim;run=${run.runId})`, error);
        }
        await removeLeftoverContainers(run);
        await rm(staging, { recursive: true, force: true });
        await rmdir(path.join(options.dataDirectory, SLURM_STAGING)).catch(() => undefined); // only when no other run uses it
      },
    };
  }

  async removeRun(_runtime: ContainerRuntime, runId: string): Promise<void> {
    const jobs = [...(await slurmCommands.jobs()).values()].filter((job) => !isFinal(job) && parseSlurmComment(job.comment)?.runId === runId);
    await slurmCommands.cancel(jobs.map((job) => job.id));
  }
}
