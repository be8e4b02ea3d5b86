import { ValidationError } from '../errors/validation-error.js';
import type { ContainerRuntime, ContainerSpec } from '../runtime/container-runtime.js';
import { LABELS } from '../manager/labels.js';

/** Where a worker sees the run's data directory; each job's mount path is a link into it. */
export const POOL_DATA_MOUNT = '/.docker-sim-manager-data';

/** One long-lived worker container. */
export interface Worker {
  id: string;
  slot: number;
  /** Jobs it ran, for `recycleAfter`. */
  jobsRun: number;
}

export interface WorkerPoolOptions {
  runtime: ContainerRuntime;
  size: number;
  runId: string;
  /** The spec every worker is made from (image, limits, hardening, labels); name and binds are set here. */
  template: ContainerSpec;
  dataDirectory: string;
  mountPath: string;
  /** Replace a worker after this many jobs. */
  recycleAfter: number | undefined;
  scheduleRemoval(id: string): void;
}

/** The link the mount path points to in a worker; each job points it at its own folder. */
export const POOL_LINK = '/.docker-sim-manager-link/current';

/** Run once per worker, as root, with the mount path as $1. */
const SETUP_SCRIPT = [
  'set -e',
  'mkdir -p /.docker-sim-manager-link',
  'chmod 777 /.docker-sim-manager-link',
  'rm -rf "$1"',
  'mkdir -p "${1%/*}/"',
  `ln -s ${POOL_LINK} "$1"`,
].join('; ');

/** Points the worker's link at the job folder ($1), then becomes the job's own argv (same pid, same signals). */
const JOB_SCRIPT = `ln -sfn "$1" ${POOL_LINK} || { echo "docker-sim-manager: cannot point the mount path at $1" >&2; exit 125; }; shift; exec "$@"`;

/** The exec argv of a job in a worker: the link switch, then exactly the argv a fresh container would run. */
export function jobCommand(folderInWorker: string, argv: readonly string[]): string[] {
  return ['/bin/sh', '-c', JOB_SCRIPT, 'dsim-job', folderInWorker, ...argv];
}

/**
 * The worker containers of `executionMode: 'pool'`: one per worker slot, started before the first job, each
 * running a keep-alive process under tini. A worker whose job was stopped (timeout, stall, cancellation), that
 * died, or that reached `recycleAfter` jobs is removed and a fresh one takes its slot.
 */
export class WorkerPool {
  private readonly workers = new Map<number, Promise<Worker>>();
  private generation = 0;

  constructor(private readonly options: WorkerPoolOptions) {}

  /**
   * Starts every worker and checks, on each, that the image supports the mechanism: the keep-alive process
   * stays up, and the mount path can be replaced by a link into the data directory. Rejects with a
   * `ValidationError` (and removes what it made) when it cannot.
   */
  async start(): Promise<void> {
    for (let slot = 0; slot < this.options.size; slot++) this.workers.set(slot, this.create(slot));
    const results = await Promise.allSettled(this.workers.values());
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await this.close();
      throw failure.reason;
    }
  }

  private async create(slot: number): Promise<Worker> {
    const { runtime, template, runId } = this.options;
    const generation = this.generation++;
    const spec: ContainerSpec = {
      ...template,
      name: `dsim-${runId}-worker${slot + 1}-${generation}`,
      labels: { ...template.labels, [LABELS.run]: runId, [LABELS.worker]: String(slot) },
      binds: [{ hostPath: this.options.dataDirectory, containerPath: POOL_DATA_MOUNT }],
      init: true,
    };
    const id = await runtime.createContainer(spec);
    try {
      try {
        await runtime.start(id);
      } catch (error) {
        throw this.keepAliveError(spec, `the engine could not start it: ${(error as Error).message}`, error);
      }
      await this.check(id, spec);
    } catch (error) {
      this.options.scheduleRemoval(id);
      throw error;
    }
    return { id, slot, jobsRun: 0 };
  }

  /**
   * Sets the worker up, as root: `mountPath` becomes a link to POOL_LINK, a link each job repoints at its own
   * folder (see jobCommand). This needs a shell, mkdir, chmod, rm and ln in the image, and a writable root
   * file system; failing that, or a keep-alive process that died, is reported here, before any job.
   */
  private async check(id: string, spec: ContainerSpec): Promise<void> {
    const { runtime, mountPath } = this.options;
    let output = '';
    let exitCode: number | null = null;
    try {
      const execId = await runtime.createExec(id, { cmd: ['/bin/sh', '-c', SETUP_SCRIPT, 'dsim-setup', mountPath], env: {}, user: '0' });
      const stream = await runtime.startExec(execId);
      const collect = (readable: NodeJS.ReadableStream): Promise<void> =>
        new Promise((resolve) => {
          readable.on('data', (chunk: Buffer) => (output += chunk.toString()));
          readable.once('end', resolve);
          readable.once('close', resolve);
          readable.once('error', () => resolve());
        });
      await Promise.all([collect(stream.stdout), collect(stream.stderr)]);
      exitCode = (await runtime.inspectExec(execId)).exitCode;
    } catch (error) {
      const state = await runtime.inspectContainer(id).catch(() => undefined);
      if (!state?.isRunning) throw this.keepAliveError(spec, `it exited at once (exit code ${state?.exitCode ?? '?'})`, error);
      output = (error as Error).message;
    }
    if (exitCode === 0) return;
    const state = await runtime.inspectContainer(id).catch(() => undefined);
    if (!state?.isRunning) throw this.keepAliveError(spec, `it exited at once (exit code ${state?.exitCode ?? '?'})`);
    throw new ValidationError(
      'executionMode',
      'pool',
      `executionMode 'pool' points ${mountPath} at each job's folder through a link that every job repoints with /bin/sh and ln, but setting that up in a worker of image ${spec.image} failed${exitCode === null ? '' : ` (exit code ${exitCode})`}: ${output.trim() || 'no output'}. The image needs /bin/sh, mkdir, chmod, rm and ln (any busybox, alpine, debian or python image has them) and a writable root file system (not readOnlyRootfs or security: 'strict'); otherwise use executionMode 'container'.`,
    );
  }

  private keepAliveError(spec: ContainerSpec, what: string, cause?: unknown): ValidationError {
    return new ValidationError(
      'executionMode',
      'pool',
      `executionMode 'pool' keeps each worker alive with '${(spec.entrypoint ?? []).join(' ')}', but in image ${spec.image} ${what}. Set \`poolKeepAlive\` to a long-running command the image has (for example ['tail', '-f', '/dev/null']), or use executionMode 'container'.`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** The worker of a slot, once it runs. */
  acquire(slot: number): Promise<Worker> {
    let worker = this.workers.get(slot);
    if (!worker) {
      worker = this.create(slot);
      this.workers.set(slot, worker);
    }
    return worker;
  }

  /**
   * Hands a worker back after a job. `isSpent` (its job was stopped, or it died) or reaching `recycleAfter`
   * removes it; a fresh worker is started for the slot in the background.
   */
  release(worker: Worker, isSpent: boolean): void {
    worker.jobsRun += 1;
    const { recycleAfter } = this.options;
    if (!isSpent && (recycleAfter === undefined || worker.jobsRun < recycleAfter)) return;
    this.options.scheduleRemoval(worker.id);
    const next = this.create(worker.slot);
    next.catch(() => undefined); // a failure surfaces at the next acquire
    this.workers.set(worker.slot, next);
  }

  /** Kills a worker at once (its job must stop now); the caller releases it as spent. */
  kill(worker: Worker): Promise<void> {
    return this.options.runtime.remove(worker.id);
  }

  /** Removes every worker. */
  async close(): Promise<void> {
    const workers = await Promise.allSettled(this.workers.values());
    this.workers.clear();
    for (const worker of workers) if (worker.status === 'fulfilled') this.options.scheduleRemoval(worker.value.id);
  }
}
