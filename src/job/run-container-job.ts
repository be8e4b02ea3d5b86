import { Readable } from 'node:stream';
import { EngineError } from '../errors/engine-error.js';
import { isDockerSimError, type DockerSimError } from '../errors/docker-sim-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { JobExitError } from '../errors/job-exit-error.js';
import { JobStalledError } from '../errors/job-stalled-error.js';
import { JobTimeoutError } from '../errors/job-timeout-error.js';
import { packTemplates, type PackOwner, type ResolvedTemplate } from '../archive/pack-templates.js';
import type { ContainerRuntime, ContainerSpec, ExitWaiter } from '../runtime/container-runtime.js';
import { copyOutputs, type CopyOutItem } from '../archive/copy-outputs.js';
import type { ExtractLimits, SkippedEntry } from '../archive/extract-output.js';
import { LogSink, type LogFiles, type OutputStreamName } from './log-sink.js';
import { setLongTimeout, type LongTimeout } from '../util/long-timeout.js';

/** Everything one attempt of a job needs. */
export interface ContainerJobExecution {
  jobName: string;
  spec: ContainerSpec;
  templates: readonly ResolvedTemplate[];
  owner: PackOwner;
  logFiles: LogFiles;
  maxLogBytes: number;
  onLogTruncated?: (() => void) | undefined;
  /** Container paths copied into `outputDir` after the exit (copy mode's mount path, `collect`). */
  copyOut: readonly CopyOutItem[];
  outputDir: string;
  /** Where outputs are extracted before they are moved into `outputDir` (same file system). */
  stagingRoot: string;
  outputLimits: ExtractLimits;
  /** Folders created in the container before it starts, owned by `owner` (copy mode's mount path). */
  ownedDirectories: ReadonlyArray<{ path: string; mode: number }>;
  runtime: ContainerRuntime;
  signal: AbortSignal;
  stopGracePeriodMs: number;
  /** How long the output streams may take to end after the exit code arrived, before the logs are re-read. */
  logGraceMs: number;
  /** How often a running container is inspected in case the engine never answers the wait. */
  waitCheckIntervalMs: number;
  /** Where the templates archive is extracted: `/`, or the mount path when the root file system is read-only. */
  archiveRoot: string;
  /** Wall-clock limit of the attempt. */
  timeoutMs?: number | undefined;
  /** Longest silence (no stdout or stderr) before the attempt is stopped as stalled. */
  inactivityTimeoutMs?: number | undefined;
  /** Called once when the attempt is found stalled, before it is stopped. */
  onStalled?: ((silentMs: number) => void) | undefined;
  onStarted(containerId: string): void;
  onLine?: ((stream: OutputStreamName, line: string) => void) | undefined;
  /** Removal happens off the job's critical path; the run awaits it before it ends. */
  scheduleRemoval(containerId: string): void;
}

/** How one attempt ended. */
export interface ContainerJobOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  exitCode: number | null;
  containerId: string | null;
  startedAt: Date | null;
  finishedAt: Date;
  skippedEntries: SkippedEntry[];
  error?: DockerSimError;
}

function delay(ms: number): { promise: Promise<'timeout'>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/** How often the container is inspected once the wait's connection broke. */
const LOST_WAIT_CHECK_MS = 1000;

/**
 * Resolves with the exit code from the engine's wait, or from `inspect` when the wait never answers or its
 * connection breaks (the engine dropped it or restarted): a job can never hang on a lost wait.
 * `isWaitLost` says the exit code came from inspect after the wait's connection broke.
 */
async function guardedExit(
  execution: ContainerJobExecution,
  containerId: string,
  waiter: ExitWaiter,
): Promise<{ exitCode: number; isWaitLost: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  let isDone = false;
  let isWaitLost = false;
  let recheck: () => void = () => undefined;
  const watchdog = new Promise<{ exitCode: number; isWaitLost: boolean }>((resolve, reject) => {
    const check = async (): Promise<void> => {
      clearTimeout(timer);
      try {
        const state = await execution.runtime.inspectContainer(containerId);
        if (isDone) return;
        if (state === undefined) {
          reject(new EngineError('wait for the container', `Container ${containerId.slice(0, 12)} of job ${execution.jobName} disappeared while it ran.`));
          return;
        }
        if (!state.isRunning && state.status !== 'created') {
          resolve({ exitCode: state.exitCode, isWaitLost });
          return;
        }
      } catch (error) {
        if (!isDone) reject(error as Error);
        return;
      }
      if (!isDone) timer = setTimeout(() => void check(), isWaitLost ? LOST_WAIT_CHECK_MS : execution.waitCheckIntervalMs);
    };
    recheck = () => void check();
    timer = setTimeout(() => void check(), execution.waitCheckIntervalMs);
  });
  // A broken wait connection is not the end: the container may still run (a live-restore engine keeps it),
  // so it is then watched through inspect, every second.
  const waited = waiter.exited.then(
    (exit) => ({ ...exit, isWaitLost: false }),
    () => {
      isWaitLost = true;
      recheck();
      return new Promise<never>(() => undefined);
    },
  );
  try {
    return await Promise.race([waited, watchdog]);
  } finally {
    isDone = true;
    clearTimeout(timer);
    waiter.cancel();
  }
}

/**
 * Whether the engine flagged the container as OOM-killed. The engine learns of an OOM kill through a separate
 * event that can arrive just after the exit, so a SIGKILL exit (137) is inspected a few more times.
 */
async function wasOomKilled(runtime: ContainerRuntime, containerId: string, exitCode: number, isFlagged: boolean): Promise<boolean> {
  if (isFlagged) return true;
  const tries = exitCode === 137 ? 5 : 0;
  for (let attempt = 1; attempt <= tries; attempt++) {
    await delay(100 * attempt).promise;
    const state = await runtime.inspectContainer(containerId).catch(() => undefined);
    if (state?.isOomKilled) return true;
  }
  return false;
}

/** The bytes of a stream after its first `count`. */
export async function* skipBytes(stream: Readable, count: number): AsyncGenerator<Buffer> {
  let toSkip = count;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    if (toSkip >= buffer.length) {
      toSkip -= buffer.length;
      continue;
    }
    yield toSkip > 0 ? buffer.subarray(toSkip) : buffer;
    toSkip = 0;
  }
}

/**
 * Stops the container when the attempt passes its wall-clock limit or stays silent too long. The silence is
 * measured from the live output stream (the time of the last chunk), never by polling the engine.
 */
export function watchLimits(
  execution: Pick<ContainerJobExecution, 'signal' | 'timeoutMs' | 'inactivityTimeoutMs' | 'onStalled'>,
  stop: () => void,
  sink: LogSink,
): { reason: 'timeout' | 'stalled' | undefined; clear(): void } {
  const timers: LongTimeout[] = [];
  const state: { reason: 'timeout' | 'stalled' | undefined; clear(): void } = {
    reason: undefined,
    clear: () => timers.forEach((timer) => timer.clear()),
  };
  const stopFor = (reason: 'timeout' | 'stalled'): void => {
    if (state.reason !== undefined || execution.signal.aborted) return;
    state.reason = reason;
    state.clear();
    stop();
  };
  const { timeoutMs, inactivityTimeoutMs } = execution;
  if (timeoutMs !== undefined) timers.push(setLongTimeout(() => stopFor('timeout'), timeoutMs));
  if (inactivityTimeoutMs !== undefined) {
    sink.lastOutputAt = Date.now();
    const check = (): void => {
      const silentMs = Date.now() - sink.lastOutputAt;
      if (silentMs < inactivityTimeoutMs) {
        timers.push(setLongTimeout(check, inactivityTimeoutMs - silentMs));
        return;
      }
      if (state.reason !== undefined || execution.signal.aborted) return;
      execution.onStalled?.(silentMs);
      stopFor('stalled');
    };
    timers.push(setLongTimeout(check, inactivityTimeoutMs));
  }
  return state;
}

export function asJobError(error: unknown, operation: string): DockerSimError {
  if (isDockerSimError(error)) return error;
  return new EngineError(operation, `Job failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/**
 * Runs one attempt of a job in a fresh container: create, copy templates in, attach, register the wait, start,
 * stream the output to the log, collect the exit code, then hand the container to removal. Never rejects: every
 * failure becomes a failed or cancelled outcome.
 */
export async function runContainerJob(execution: ContainerJobExecution): Promise<ContainerJobOutcome> {
  const { runtime, signal, spec } = execution;
  let containerId: string | null = null;
  let startedAt: Date | null = null;
  let exitCode: number | null = null;
  let sink: LogSink | undefined;
  let stage = 'create the container';
  let skippedEntries: SkippedEntry[] = [];
  const outcome = (status: ContainerJobOutcome['status'], error?: DockerSimError): ContainerJobOutcome => ({
    status,
    exitCode,
    containerId,
    startedAt,
    finishedAt: new Date(),
    skippedEntries,
    ...(error ? { error } : {}),
  });
  const cancelled = (): ContainerJobOutcome => outcome('cancelled', new JobCancelledError(execution.jobName));

  try {
    if (signal.aborted) return cancelled();
    // Output can arrive before start() returns; hold its lines so observers always see the start first.
    const { onLine } = execution;
    let heldLines: Array<[OutputStreamName, string]> | undefined = [];
    const releaseLines = (): void => {
      const held = heldLines ?? [];
      heldLines = undefined;
      for (const [stream, line] of held) onLine?.(stream, line);
    };
    sink = new LogSink(execution.logFiles, {
      maxBytes: execution.maxLogBytes,
      onTruncated: execution.onLogTruncated,
      onLine:
        onLine &&
        ((stream, line) => {
          if (heldLines) heldLines.push([stream, line]);
          else onLine(stream, line);
        }),
    });
    containerId = await runtime.createContainer(spec);
    if (execution.templates.length > 0 || execution.ownedDirectories.length > 0) {
      stage = 'copy templates into the container';
      const tar = packTemplates(execution.templates, execution.owner, execution.ownedDirectories, execution.archiveRoot);
      let packError: unknown;
      tar.once('error', (error) => {
        packError = error;
      });
      try {
        await runtime.putArchive(containerId, execution.archiveRoot, tar);
      } catch (error) {
        throw packError ?? error;
      }
    }
    stage = 'attach to the container';
    const output = await runtime.attach(containerId);
    const logSink = sink;
    const followed = Promise.all([logSink.follow('stdout', output.stdout), logSink.follow('stderr', output.stderr)]);
    let waiter: ExitWaiter;
    try {
      waiter = await runtime.waitForExit(containerId);
    } catch (error) {
      output.close();
      throw error;
    }
    if (signal.aborted) {
      waiter.cancel();
      output.close();
      return cancelled();
    }
    stage = 'start the container';
    const id = containerId;
    const stopOnAbort = (): void => {
      runtime.stop(id, execution.stopGracePeriodMs).catch(() => undefined);
    };
    try {
      await runtime.start(id);
    } catch (error) {
      waiter.cancel();
      output.close();
      throw error;
    }
    startedAt = new Date();
    execution.onStarted(id);
    releaseLines();
    signal.addEventListener('abort', stopOnAbort, { once: true });
    if (signal.aborted) stopOnAbort(); // aborted while the engine was starting it
    const watch = watchLimits(execution, () => void runtime.stop(id, execution.stopGracePeriodMs).catch(() => undefined), logSink);
    stage = 'wait for the container to exit';
    let isWaitLost: boolean;
    try {
      ({ exitCode, isWaitLost } = await guardedExit(execution, id, waiter));
    } finally {
      signal.removeEventListener('abort', stopOnAbort);
      watch.clear();
    }

    // The exit code is in; the attach stream should end at once. Bound that wait: after the grace, drop the
    // stream and read whatever it missed from the engine's log.
    stage = 'collect the logs';
    const grace = delay(execution.logGraceMs);
    const drained = await Promise.race([followed.then(() => 'ended' as const), grace.promise]);
    grace.cancel();
    if (drained === 'timeout') {
      output.close();
      await Promise.race([followed, delay(1000).promise]);
      const logs = await runtime.readLogs(id);
      await Promise.all(
        (['stdout', 'stderr'] as const).map((name) => logSink.follow(name, Readable.from(skipBytes(logs[name], logSink.bytes[name])))),
      );
    }
    await logSink.close();
    sink = undefined;

    if (signal.aborted) return cancelled();
    if (execution.copyOut.length > 0) {
      stage = 'copy the outputs out of the container';
      try {
        skippedEntries = await copyOutputs(runtime, id, execution.copyOut, {
          outputDir: execution.outputDir,
          stagingRoot: execution.stagingRoot,
          limits: execution.outputLimits,
        });
      } catch (error) {
        // A failed job keeps its exit code as the reason; a job that exited 0 fails for its outputs.
        if (exitCode === 0) throw error;
      }
    }
    // A stopped attempt did not finish its work, even when it exits 0 on SIGTERM (say, after a checkpoint).
    if (watch.reason === 'timeout') return outcome('failed', new JobTimeoutError(execution.jobName, execution.timeoutMs ?? 0, exitCode));
    if (watch.reason === 'stalled') return outcome('failed', new JobStalledError(execution.jobName, execution.inactivityTimeoutMs ?? 0, exitCode));
    if (exitCode === 0) return outcome('succeeded');
    // An engine that shuts down closes its listener, then stops its containers and still answers their waits
    // on the open connections: a non-zero exit is the job's own only if the engine still takes new connections.
    if (!(await runtime.acceptsConnections())) {
      throw new EngineError(
        'check the engine after the exit',
        `Job ${execution.jobName} exited with code ${exitCode} while the engine at ${runtime.endpoint} stopped taking connections: the engine was most likely stopped or restarted, which stops running containers.`,
      );
    }
    stage = 'inspect the exited container';
    const state = await runtime.inspectContainer(id).catch((error: unknown) => {
      throw new EngineError(
        stage,
        `The engine went away as job ${execution.jobName} exited with code ${exitCode}: it was most likely stopped or restarted, which kills running containers. ${(error as Error).message}`,
        { cause: error },
      );
    });
    if (isWaitLost) {
      throw new EngineError(
        'wait for the container',
        `The connection to the engine broke while job ${execution.jobName} ran, and its container then exited with code ${exitCode}: the engine was most likely restarted, which kills running containers.`,
      );
    }
    return outcome('failed', new JobExitError(execution.jobName, exitCode, await wasOomKilled(runtime, id, exitCode, state?.isOomKilled ?? false)));
  } catch (error) {
    if (signal.aborted) return cancelled();
    return outcome('failed', asJobError(error, stage));
  } finally {
    if (sink) await sink.close().catch(() => undefined);
    if (containerId !== null) execution.scheduleRemoval(containerId);
  }
}
