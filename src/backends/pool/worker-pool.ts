import { ValidationError } from '../../errors/validation-error.js';
import type { ContainerRuntime, ContainerSpec, ExecSpec } from '../../runtime/container-runtime.js';
import { shellQuote } from '../../util/shell-quote-word.js';
import { LABELS } from '../../runtime/labels.js';
import { CgroupUsage } from './cgroup-usage.js';
import { ResidentRunner } from './resident-runner.js';

/** Where a worker sees the run's data directory; each job's mount path is a link into it. */
export const POOL_DATA_MOUNT = '/.docker-sim-manager-data';

/** One long-lived worker container. */
export interface Worker {
  id: string;
  slot: number;
  /** Jobs it ran, for `recycleAfter`. */
  jobsRun: number;
  /** The kernel's count of OOM kills in its memory cgroup when last read; undefined when it cannot be read. */
  oomKills: number | undefined;
  /** Its cgroup counters on this host, to measure each job's usage; undefined where they cannot be read. */
  usage: CgroupUsage | undefined;
  /** Its resident runner, started with the worker as the jobs' default user (or at a job of another user); none: an exec per job. */
  runner?: { user: string | undefined; started: Promise<ResidentRunner | undefined> };
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
  /** Run jobs through a resident runner in each worker (else one exec per job). */
  residentRunner: boolean;
  /** The user jobs run as unless they name one: each worker's runner is started as it, with the worker. */
  runnerUser: string | undefined;
  scheduleRemoval(id: string): void;
}

/** The link the mount path points to in a worker; each job points it at its own folder. */
export const POOL_LINK = '/.docker-sim-manager-link/current';

/**
 * Prints `oom_kill=<n>`: the kernel's count of OOM kills in the container's memory cgroup (cgroup v1
 * memory.oom_control, or v2 memory.events), with the shell's own `read` so the image needs no `cat`.
 */
const OOM_COUNT_SCRIPT =
  'for f in /sys/fs/cgroup/memory/memory.oom_control /sys/fs/cgroup/memory.events; do if [ -r "$f" ]; then while read -r k v; do if [ "$k" = oom_kill ]; then echo "oom_kill=$v"; fi; done < "$f"; break; fi; done';

/** Run once per worker, as root, with the mount path as $1. */
const SETUP_SCRIPT = [
  'set -e',
  'mkdir -p /.docker-sim-manager-link',
  'chmod 777 /.docker-sim-manager-link',
  'rm -rf "$1"',
  'mkdir -p "${1%/*}/"',
  `ln -s ${POOL_LINK} "$1"`,
  OOM_COUNT_SCRIPT,
].join('; ');

function parseOomKills(output: string): number | undefined {
  const match = /oom_kill=(\d+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

/** Points the worker's link at the job folder ($1), then becomes the job's own argv (same pid, same signals). */
const JOB_SCRIPT = `ln -sfn "$1" ${POOL_LINK} || { echo "docker-sim-manager: cannot point the mount path at $1" >&2; exit 125; }; shift; exec "$@"`;

/**
 * The script a resident runner runs for a job: what an exec of jobCommand would do (the link switch, then the
 * job's argv), with the exec's working directory and env, which a runner's child does not get from the engine.
 */
export function runnerJobScript(folderInWorker: string, exec: ExecSpec): string {
  const lines = [`ln -sfn ${shellQuote(folderInWorker)} ${POOL_LINK} || { echo "docker-sim-manager: cannot point the mount path at ${folderInWorker}" >&2; exit 125; }`];
  if (exec.workingDir !== undefined) lines.push(`cd ${shellQuote(exec.workingDir)} || exit 126`);
  for (const [key, value] of Object.entries(exec.env)) lines.push(`export ${key}=${shellQuote(value)}`);
  lines.push(`exec ${exec.cmd.map(shellQuote).join(' ')}`);
  return `${lines.join('\n')}\n`;
}

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
   * Starts every worker, each checked for the mechanism (the keep-alive process stays up, the mount path link
   * can be set up). Resolves as soon as the first one is ready: the image supports pool mode, and jobs can start
   * while the others finish starting. Rejects with a `ValidationError` (and removes what it made) when the
   * first worker to finish failed.
   */
  async start(): Promise<void> {
    // All at once (started one after the other, jobs would compete with the rest for the engine).
    for (let slot = 0; slot < this.options.size; slot++) {
      const worker = this.create(slot);
      worker.catch(() => undefined); // a later failure surfaces when its slot is acquired
      this.workers.set(slot, worker);
    }
    try {
      await Promise.race(this.workers.values());
    } catch (error) {
      await this.close();
      throw error;
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
      const setupOutput = await this.check(id, spec);
      const state = await runtime.inspectContainer(id).catch(() => undefined);
      const worker: Worker = { id, slot, jobsRun: 0, oomKills: parseOomKills(setupOutput), usage: await CgroupUsage.of(state?.pid) };
      // The runner starts with the worker, so that it is ready when the first job comes.
      if (this.options.residentRunner) worker.runner = this.startRunner(worker, this.options.runnerUser);
      return worker;
    } catch (error) {
      this.options.scheduleRemoval(id);
      throw error;
    }
  }

  /**
   * Sets the worker up, as root: `mountPath` becomes a link to POOL_LINK, a link each job repoints at its own
   * folder (see jobCommand). This needs a shell, mkdir, chmod, rm and ln in the image, and a writable root
   * file system; failing that, or a keep-alive process that died, is reported here, before any job.
   */
  private async check(id: string, spec: ContainerSpec): Promise<string> {
    const { mountPath } = this.options;
    let output = '';
    let exitCode: number | null = null;
    try {
      ({ output, exitCode } = await this.rootExec(id, ['/bin/sh', '-c', SETUP_SCRIPT, 'dsim-setup', mountPath]));
    } catch (error) {
      const state = await this.options.runtime.inspectContainer(id).catch(() => undefined);
      if (!state?.isRunning) throw this.keepAliveError(spec, `it exited at once (exit code ${state?.exitCode ?? '?'})`, error);
      output = (error as Error).message;
    }
    if (exitCode === 0) return output;
    const { runtime } = this.options;
    const state = await runtime.inspectContainer(id).catch(() => undefined);
    if (!state?.isRunning) throw this.keepAliveError(spec, `it exited at once (exit code ${state?.exitCode ?? '?'})`);
    throw new ValidationError(
      'executionMode',
      'pool',
      `executionMode 'pool' points ${mountPath} at each job's folder through a link that every job repoints with /bin/sh and ln, but setting that up in a worker of image ${spec.image} failed${exitCode === null ? '' : ` (exit code ${exitCode})`}: ${output.trim() || 'no output'}. The image needs /bin/sh, mkdir, chmod, rm and ln (any busybox, alpine, debian or python image has them) and a writable root file system (not readOnlyRootfs or security: 'strict'); otherwise use executionMode 'container'.`,
    );
  }

  /** Runs a short command as root in a worker; resolves with its output and exit code. */
  private async rootExec(id: string, cmd: string[]): Promise<{ output: string; exitCode: number | null }> {
    const { runtime } = this.options;
    let output = '';
    const execId = await runtime.createExec(id, { cmd, env: {}, user: '0' });
    const stream = await runtime.startExec(execId);
    const collect = (readable: NodeJS.ReadableStream): Promise<void> =>
      new Promise((resolve) => {
        readable.on('data', (chunk: Buffer) => (output += chunk.toString()));
        readable.once('end', resolve);
        readable.once('close', resolve);
        readable.once('error', () => resolve());
      });
    await Promise.all([collect(stream.stdout), collect(stream.stderr)]);
    return { output, exitCode: (await runtime.inspectExec(execId)).exitCode };
  }

  /**
   * Whether the kernel OOM-killed a process in the worker since the count was last read: the count of OOM kills
   * in its memory cgroup went up. The engine's OOMKilled flag cannot tell, since the worker itself lives on.
   */
  async wasOomKilled(worker: Worker): Promise<boolean> {
    if (worker.oomKills === undefined) return false;
    const count = parseOomKills((await this.rootExec(worker.id, ['/bin/sh', '-c', OOM_COUNT_SCRIPT]).catch(() => ({ output: '' }))).output);
    if (count === undefined) return false;
    const isKilled = count > worker.oomKills;
    worker.oomKills = count;
    return isKilled;
  }

  private keepAliveError(spec: ContainerSpec, what: string, cause?: unknown): ValidationError {
    return new ValidationError(
      'executionMode',
      'pool',
      `executionMode 'pool' keeps each worker alive with '${(spec.entrypoint ?? []).join(' ')}', but in image ${spec.image} ${what}. Set \`poolKeepAlive\` to a long-running command the image has (for example ['tail', '-f', '/dev/null']), or use executionMode 'container'.`,
      cause === undefined ? undefined : { cause },
    );
  }

  /** The worker of a slot, once it runs; one that failed to start is tried once more. */
  async acquire(slot: number): Promise<Worker> {
    const current = this.workers.get(slot);
    if (current) {
      try {
        return await current;
      } catch {
        // made again below
      }
    }
    const worker = this.create(slot);
    this.workers.set(slot, worker);
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
    void worker.runner?.started.then((runner) => runner?.close());
    this.options.scheduleRemoval(worker.id);
    const next = this.create(worker.slot);
    next.catch(() => undefined); // a failure surfaces at the next acquire
    this.workers.set(worker.slot, next);
  }

  /**
   * The worker's resident runner for a job of `user`: started at the worker's first job, as that user. Undefined
   * when runners are off, when the runtime cannot attach an exec's stdin, or for a job of another user than the
   * runner's: that job runs as an exec.
   */
  async runnerFor(worker: Worker, user: string | undefined): Promise<ResidentRunner | undefined> {
    if (!this.options.residentRunner) return undefined;
    let runner = await worker.runner?.started;
    // A runner that could not start for one user (one the image lacks) is tried again for the next user.
    if (worker.runner === undefined || (runner === undefined && worker.runner.user !== user)) {
      worker.runner = this.startRunner(worker, user);
      runner = await worker.runner.started;
    }
    return runner !== undefined && runner.user === user && runner.isAlive ? runner : undefined;
  }

  private startRunner(worker: Worker, user: string | undefined): NonNullable<Worker['runner']> {
    return { user, started: ResidentRunner.start(this.options.runtime, worker.id, user).catch(() => undefined) };
  }

  /** Kills a worker at once (its job must stop now); the caller releases it as spent. */
  kill(worker: Worker): Promise<void> {
    return this.options.runtime.remove(worker.id);
  }

  /** Removes every worker. */
  async close(): Promise<void> {
    const workers = await Promise.allSettled(this.workers.values());
    this.workers.clear();
    for (const worker of workers) {
      if (worker.status !== 'fulfilled') continue;
      void worker.value.runner?.started.then((runner) => runner?.close());
      this.options.scheduleRemoval(worker.value.id);
    }
  }
}
