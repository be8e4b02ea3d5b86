import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { EngineError } from '../errors/engine-error.js';
import type { DockerSimError } from '../errors/docker-sim-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { JobExitError } from '../errors/job-exit-error.js';
import { JobStalledError } from '../errors/job-stalled-error.js';
import { JobTimeoutError } from '../errors/job-timeout-error.js';
import type { PackOwner, ResolvedTemplate } from '../archive/pack-templates.js';
import type { ContainerRuntime, ServiceSpec, SwarmOperations, TaskState } from '../runtime/container-runtime.js';
import { LogSink, type LogFiles, type OutputStreamName } from '../job/log-sink.js';
import { Readable } from 'node:stream';
import { asJobError, skipBytes, watchLimits, type ContainerJobOutcome } from '../job/run-container-job.js';
import { underMount, writeHostTemplates } from '../pool/run-exec-job.js';

/** Swarm refuses configs over 500 KB. */
export const SWARM_CONFIG_MAX_BYTES = 500 * 1024;
const TASK_POLL_MS = 100;
/** Lets lines already in flight on the followed stream arrive before it is closed. */
const LOG_SETTLE_MS = 100;
const ENDED = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

/** Everything one attempt of a job needs on the swarm backend. */
export interface ServiceJobExecution {
  jobName: string;
  outputDir: string;
  mountPath: string;
  service: Omit<ServiceSpec, 'configs'>;
  templates: readonly ResolvedTemplate[];
  owner: PackOwner;
  logFiles: LogFiles;
  maxLogBytes: number;
  onLogTruncated?: (() => void) | undefined;
  runtime: ContainerRuntime;
  swarm: SwarmOperations;
  signal: AbortSignal;
  logGraceMs: number;
  timeoutMs?: number | undefined;
  inactivityTimeoutMs?: number | undefined;
  onStalled?: ((silentMs: number) => void) | undefined;
  onStarted(serviceId: string): void;
  onLine?: ((stream: OutputStreamName, line: string) => void) | undefined;
  /** The service and its configs are removed off the critical path; the run awaits it. */
  scheduleRemoval(serviceId: string, configIds: string[]): void;
}

/** The files a template outside the mount path becomes, one swarm config each (folders are walked). */
export async function configFiles(template: ResolvedTemplate): Promise<Array<{ target: string; data: () => Promise<Buffer>; size: number; mode: number; source: string }>> {
  if (template.kind === 'content') return [{ target: template.target, data: async () => template.content, size: template.content.length, mode: template.mode, source: template.target }];
  const walk = async (source: string, target: string): Promise<Array<{ target: string; data: () => Promise<Buffer>; size: number; mode: number; source: string }>> => {
    const info = await stat(source);
    if (!info.isDirectory()) return [{ target, data: () => readFile(source), size: info.size, mode: info.mode & 0o777, source }];
    const entries = (await readdir(source)).sort();
    return (await Promise.all(entries.map((entry) => walk(path.join(source, entry), path.posix.join(target, entry))))).flat();
  };
  return walk(template.source, template.target);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs one attempt of a job as a swarm replicated-job service (one replica, restart condition none): templates
 * under the mount path are written to the job folder first (Swarm starts the container itself, so nothing can
 * be put into it before it starts), the others travel as configs; output streams through the service logs;
 * the exit code comes from the task status. Never rejects.
 */
export async function runServiceJob(execution: ServiceJobExecution): Promise<ContainerJobOutcome> {
  const { swarm, signal } = execution;
  let serviceId: string | null = null;
  const configIds: string[] = [];
  let exitCode: number | null = null;
  let startedAt: Date | null = null;
  let sink: LogSink | undefined;
  let stage = 'prepare the service';
  const outcome = (status: ContainerJobOutcome['status'], error?: DockerSimError): ContainerJobOutcome => ({
    status,
    exitCode,
    containerId: serviceId,
    startedAt,
    finishedAt: new Date(),
    skippedEntries: [],
    ...(error ? { error } : {}),
  });
  try {
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
    sink = new LogSink(execution.logFiles, { maxBytes: execution.maxLogBytes, onTruncated: execution.onLogTruncated, onLine: execution.onLine });
    stage = 'write the templates';
    await writeHostTemplates(execution.templates.filter((t) => underMount(t, execution.mountPath)), execution.mountPath, execution.outputDir);
    const configs: ServiceSpec['configs'] = [];
    for (const template of execution.templates.filter((t) => !underMount(t, execution.mountPath))) {
      for (const file of await configFiles(template)) {
        const configName = `${execution.service.name}-c${configs.length + 1}`;
        const configId = await swarm.createConfig(configName, await file.data(), execution.service.labels);
        configIds.push(configId);
        configs.push({ configId, configName, target: file.target, mode: file.mode, uid: execution.owner.uid, gid: execution.owner.gid });
      }
    }
    stage = 'create the service';
    serviceId = await swarm.createService({ ...execution.service, configs });
    const id = serviceId;

    // Wait for the task to run (or to end at once: a rejected image, a bad command).
    stage = 'wait for the task to start';
    let task: TaskState | undefined;
    for (;;) {
      if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
      task = (await swarm.tasks(id))[0];
      if (task && (task.state === 'running' || ENDED.has(task.state))) break;
      await delay(TASK_POLL_MS);
    }
    startedAt = new Date();
    execution.onStarted(id);
    const output = await swarm.logs(id);
    const logSink = sink;
    const followed = Promise.all([logSink.follow('stdout', output.stdout), logSink.follow('stderr', output.stderr)]);
    let isStopped = false;
    const stop = (): void => {
      isStopped = true;
      swarm.removeService(id).catch(() => undefined);
    };
    const onAbort = (): void => stop();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) stop();
    const watch = watchLimits(execution, stop, logSink);
    stage = 'wait for the task to end';
    try {
      while (!ENDED.has(task?.state ?? '') && !isStopped) {
        await delay(TASK_POLL_MS);
        task = (await swarm.tasks(id))[0] ?? task;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      watch.clear();
    }
    // A followed service log never ends on its own: stop following, then read the whole log once and append
    // what the live stream had not delivered yet.
    await Promise.race([followed, delay(LOG_SETTLE_MS)]);
    output.close();
    await followed;
    if (!isStopped) {
      const full = await swarm.logs(id, { follow: false });
      await Promise.race([
        Promise.all((['stdout', 'stderr'] as const).map((name) => logSink.follow(name, Readable.from(skipBytes(full[name], logSink.bytes[name]))))),
        delay(execution.logGraceMs).then(() => full.close()),
      ]);
    }
    await logSink.close();
    sink = undefined;
    exitCode = task?.exitCode ?? null;
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
    if (watch.reason === 'timeout') return outcome('failed', new JobTimeoutError(execution.jobName, execution.timeoutMs ?? 0, exitCode));
    if (watch.reason === 'stalled') return outcome('failed', new JobStalledError(execution.jobName, execution.inactivityTimeoutMs ?? 0, exitCode));
    if (task?.state === 'complete') {
      exitCode = exitCode ?? 0;
      return outcome('succeeded');
    }
    if (task?.state === 'failed' && exitCode !== null && exitCode !== 0) return outcome('failed', new JobExitError(execution.jobName, exitCode, false));
    throw new EngineError('run the service', `The swarm task of job ${execution.jobName} ended as '${task?.state ?? 'unknown'}'${task?.error ? `: ${task.error}` : ''}.`);
  } catch (error) {
    if (signal.aborted) return outcome('cancelled', new JobCancelledError(execution.jobName));
    return outcome('failed', asJobError(error, stage));
  } finally {
    if (sink) await sink.close().catch(() => undefined);
    if (serviceId !== null || configIds.length > 0) execution.scheduleRemoval(serviceId ?? '', configIds);
  }
}
