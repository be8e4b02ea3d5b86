import { Readable } from 'node:stream';
import { EngineError } from '../errors/engine-error.js';
import { isDockerSimError, type DockerSimError } from '../errors/docker-sim-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { JobExitError } from '../errors/job-exit-error.js';
import { packTemplates, type PackOwner, type ResolvedTemplate } from '../archive/pack-templates.js';
import type { ContainerRuntime, ContainerSpec, ExitWaiter } from '../runtime/container-runtime.js';
import { copyOutputs, type CopyOutItem } from '../archive/copy-outputs.js';
import type { ExtractLimits, SkippedEntry } from '../archive/extract-output.js';
import { LogSink, type LogFiles, type OutputStreamName } from './log-sink.js';

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

/**
 * Resolves with the exit code from the engine's wait, or from `inspect` when the wait never answers (the
 * engine dropped the connection): a job can never hang on a lost wait.
 */
async function guardedExit(
  execution: ContainerJobExecution,
  containerId: string,
  waiter: ExitWaiter,
): Promise<{ exitCode: number }> {
  let timer: NodeJS.Timeout | undefined;
  let isDone = false;
  const watchdog = new Promise<{ exitCode: number }>((resolve, reject) => {
    const check = async (): Promise<void> => {
      try {
        const state = await execution.runtime.inspectContainer(containerId);
        if (isDone) return;
        if (state === undefined) {
          reject(new EngineError('wait for the container', `Container ${containerId.slice(0, 12)} of job ${execution.jobName} disappeared while it ran.`));
          return;
        }
        if (!state.isRunning && state.status !== 'created') {
          resolve({ exitCode: state.exitCode });
          return;
        }
      } catch (error) {
        if (!isDone) reject(error as Error);
        return;
      }
      if (!isDone) timer = setTimeout(() => void check(), execution.waitCheckIntervalMs);
    };
    timer = setTimeout(() => void check(), execution.waitCheckIntervalMs);
  });
  try {
    return await Promise.race([waiter.exited, watchdog]);
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
async function wasOomKilled(runtime: ContainerRuntime, containerId: string, exitCode: number): Promise<boolean> {
  const tries = exitCode === 137 ? 6 : 1;
  for (let attempt = 1; attempt <= tries; attempt++) {
    const state = await runtime.inspectContainer(containerId).catch(() => undefined);
    if (state?.isOomKilled) return true;
    if (attempt < tries) await delay(100 * attempt).promise;
  }
  return false;
}

/** The bytes of a stream after its first `count`. */
async function* skipBytes(stream: Readable, count: number): AsyncGenerator<Buffer> {
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

function asJobError(error: unknown, operation: string): DockerSimError {
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
      const tar = packTemplates(execution.templates, execution.owner, execution.ownedDirectories);
      let packError: unknown;
      tar.once('error', (error) => {
        packError = error;
      });
      try {
        await runtime.putArchive(containerId, '/', tar);
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
    stage = 'wait for the container to exit';
    try {
      exitCode = (await guardedExit(execution, id, waiter)).exitCode;
    } finally {
      signal.removeEventListener('abort', stopOnAbort);
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
    if (exitCode === 0) return outcome('succeeded');
    return outcome('failed', new JobExitError(execution.jobName, exitCode, await wasOomKilled(runtime, id, exitCode)));
  } catch (error) {
    if (signal.aborted) return cancelled();
    return outcome('failed', asJobError(error, stage));
  } finally {
    if (sink) await sink.close().catch(() => undefined);
    if (containerId !== null) execution.scheduleRemoval(containerId);
  }
}
