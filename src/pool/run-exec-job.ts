import { cp, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EngineError } from '../errors/engine-error.js';
import type { DockerSimError } from '../errors/docker-sim-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { JobExitError } from '../errors/job-exit-error.js';
import { JobStalledError } from '../errors/job-stalled-error.js';
import { JobTimeoutError } from '../errors/job-timeout-error.js';
import { packTemplates, type PackOwner, type ResolvedTemplate } from '../archive/pack-templates.js';
import type { ContainerRuntime, ExecSpec } from '../runtime/container-runtime.js';
import { LogSink, type LogFiles, type OutputStreamName } from '../job/log-sink.js';
import { asJobError, watchLimits, type ContainerJobOutcome } from '../job/run-container-job.js';
import { POOL_DATA_MOUNT, jobCommand, type Worker, type WorkerPool } from './worker-pool.js';

/** Everything one attempt of a job needs in pool mode. */
export interface ExecJobExecution {
  jobName: string;
  /** The job's folder on the host; `<dataDirectory>/job_<name>`. */
  outputDir: string;
  /** The job's folder name under the data directory, as the worker sees it under POOL_DATA_MOUNT. */
  folderName: string;
  mountPath: string;
  /** The argv a fresh container would run, with the job's env, user and working directory. */
  exec: ExecSpec;
  templates: readonly ResolvedTemplate[];
  owner: PackOwner;
  logFiles: LogFiles;
  maxLogBytes: number;
  onLogTruncated?: (() => void) | undefined;
  runtime: ContainerRuntime;
  pool: WorkerPool;
  slot: number;
  signal: AbortSignal;
  timeoutMs?: number | undefined;
  inactivityTimeoutMs?: number | undefined;
  onStalled?: ((silentMs: number) => void) | undefined;
  onStarted(workerId: string): void;
  onLine?: ((stream: OutputStreamName, line: string) => void) | undefined;
}

/** Writes the templates that target the mount path straight into the job folder on the host. */
export async function writeHostTemplates(templates: readonly ResolvedTemplate[], mountPath: string, outputDir: string): Promise<void> {
  for (const template of templates) {
    const target = path.join(outputDir, path.posix.relative(mountPath, template.target));
    await mkdir(path.dirname(target), { recursive: true });
    if (template.kind === 'content') await writeFile(target, template.content, { mode: template.mode });
    else await cp(template.source, target, { recursive: true, verbatimSymlinks: true, errorOnExist: true, force: false, preserveTimestamps: true });
  }
}

export function underMount(template: ResolvedTemplate, mountPath: string): boolean {
  return template.target === mountPath || template.target.startsWith(`${mountPath}/`);
}

/**
 * Runs one attempt of a job as a process in its slot's worker: the mount path becomes a link to the job's
 * folder, templates are placed, the job's argv runs with its env, user and working directory, its output
 * streams to the logs. A job that must be stopped (timeout, stall, cancellation) takes its worker with it: an
 * exec cannot be signalled reliably, so the worker is killed and replaced. Never rejects.
 */
export async function runExecJob(execution: ExecJobExecution): Promise<ContainerJobOutcome & { isWorkerSpent: boolean }> {
  const { runtime, signal, pool } = execution;
  let worker: Worker | undefined;
  let isWorkerSpent = false;
  let exitCode: number | null = null;
  let startedAt: Date | null = null;
  let sink: LogSink | undefined;
  let stage = 'get a worker';
  const outcome = (status: ContainerJobOutcome['status'], error?: DockerSimError): ContainerJobOutcome & { isWorkerSpent: boolean } => ({
    status,
    exitCode,
    containerId: worker?.id ?? null,
    startedAt,
    finishedAt: new Date(),
    skippedEntries: [],
    isWorkerSpent,
    ...(error ? { error } : {}),
  });
  try {
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
    worker = await pool.acquire(execution.slot);
    const current = worker;
    const { onLine } = execution;
    sink = new LogSink(execution.logFiles, { maxBytes: execution.maxLogBytes, onTruncated: execution.onLogTruncated, onLine });

    stage = 'place the templates';
    await writeHostTemplates(execution.templates.filter((t) => underMount(t, execution.mountPath)), execution.mountPath, execution.outputDir);
    const inContainer = execution.templates.filter((t) => !underMount(t, execution.mountPath));
    if (inContainer.length > 0) {
      stage = 'copy templates into the worker';
      await runtime.putArchive(current.id, '/', packTemplates(inContainer, execution.owner));
    }
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));

    stage = 'start the job in its worker';
    const execId = await runtime.createExec(current.id, { ...execution.exec, cmd: jobCommand(`${POOL_DATA_MOUNT}/${execution.folderName}`, execution.exec.cmd) });
    const output = await runtime.startExec(execId);
    startedAt = new Date();
    execution.onStarted(current.id);
    const logSink = sink;
    const followed = Promise.all([logSink.follow('stdout', output.stdout), logSink.follow('stderr', output.stderr)]);
    const kill = (): void => {
      isWorkerSpent = true;
      pool.kill(current).catch(() => undefined);
    };
    const onAbort = (): void => kill();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) kill(); // aborted while it was starting (a listener of job:started may cancel)
    const watch = watchLimits(execution, kill, logSink);
    stage = 'wait for the job to end';
    try {
      await followed; // the streams end when the process exits, or when its worker is killed
    } finally {
      signal.removeEventListener('abort', onAbort);
      watch.clear();
    }
    await logSink.close();
    sink = undefined;
    const state = await runtime.inspectExec(execId).catch(() => ({ isRunning: false, exitCode: null }));
    exitCode = state.exitCode;
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
    if (watch.reason === 'timeout') return outcome('failed', new JobTimeoutError(execution.jobName, execution.timeoutMs ?? 0, exitCode));
    if (watch.reason === 'stalled') return outcome('failed', new JobStalledError(execution.jobName, execution.inactivityTimeoutMs ?? 0, exitCode));
    if (exitCode === null || state.isRunning) {
      isWorkerSpent = true;
      throw new EngineError('wait for the job in its worker', `The worker container ${current.id.slice(0, 12)} of job ${execution.jobName} stopped while the job ran (it was killed, ran out of memory, or the engine went away); a fresh worker takes its place.`);
    }
    if (exitCode === 0) return outcome('succeeded');
    if (!(await runtime.acceptsConnections())) {
      isWorkerSpent = true;
      throw new EngineError('check the engine after the exit', `Job ${execution.jobName} exited with code ${exitCode} while the engine at ${runtime.endpoint} stopped taking connections: the engine was most likely stopped or restarted.`);
    }
    return outcome('failed', new JobExitError(execution.jobName, exitCode, false));
  } catch (error) {
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
    // A worker that could not be reached or prepared is not trusted with the next job.
    if (!(error instanceof JobExitError)) isWorkerSpent = true;
    return outcome('failed', asJobError(error, stage));
  } finally {
    if (sink) await sink.close().catch(() => undefined);
    if (worker) pool.release(worker, isWorkerSpent);
  }
}
