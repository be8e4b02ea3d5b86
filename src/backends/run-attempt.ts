import { Readable } from 'node:stream';
import type { SkippedEntry } from '../archive/extract-output.js';
import { isDockerSimError, type DockerSimError } from '../errors/docker-sim-error.js';
import { EngineError } from '../errors/engine-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import { JobExitError } from '../errors/job-exit-error.js';
import { JobStalledError } from '../errors/job-stalled-error.js';
import { JobTimeoutError } from '../errors/job-timeout-error.js';
import { LogSink, type LogFiles, type OutputStreamName } from '../job/log-sink.js';
import { secretValues } from '../job/secret-values.js';
import type { ContainerOutput, ContainerRuntime, ResourceUsage, UsageWatch } from '../runtime/container-runtime.js';
import type { AttemptOutcome, AttemptRequest } from './backend.js';
import { watchLimits, type AttemptLimits } from './watch-limits.js';

/** How the process of an attempt ended, as its backend saw it. */
export interface AttemptEnd {
  /** Null when the engine could not tell (the process was stopped with its container or service). */
  exitCode: number | null;
  /** Set when the engine lost the process (its worker died, its task was rejected): the attempt fails with an `EngineError` saying this. */
  lostReason?: string;
  /** Set when the scheduler stopped the process at its own time limit (Slurm's TIMEOUT): a `JobTimeoutError`. */
  isTimedOut?: boolean;
}

/** The process of an attempt, once started. */
export interface LaunchedProcess {
  /** The container, worker or service that runs it. */
  id: string;
  /** Its live output. */
  output: ContainerOutput;
  /** Resolves when the process ended (also after `stop`); never rejects for the process's own failure. */
  ended: Promise<AttemptEnd>;
  /** How long the live output may take to end after the process ended before it is closed and the log re-read. */
  drainMs: number;
  /** The whole output so far, to recover what the live stream missed; undefined when it cannot be read anymore. */
  readLogs?(): Promise<{ stdout: Readable; stderr: Readable; close?(): void } | undefined>;
  /** What the process used, collected while it runs (absent where the backend cannot tell). */
  usage?: UsageWatch | undefined;
  /** How long it waited in a scheduler's queue before it ran (Slurm). */
  queuedMs?: number;
}

/**
 * What a backend does for one attempt; the steps every backend shares (logs, limits, cancellation, draining,
 * failure classification) are `runAttempt`'s. One driver object serves one attempt.
 */
export interface AttemptDriver {
  /** Prepares and starts the process. `stage` names what it is doing, for error messages. What it made is released all the same when it throws. */
  launch(stage: (what: string) => void): Promise<LaunchedProcess>;
  /** Stops the running process (cancellation, timeout, stall); `ended` resolves soon after. */
  stop(): void;
  /** After the logs are in: copies outputs out of the engine; resolves with the entries not extracted. */
  collect?(): Promise<SkippedEntry[]>;
  /** More about a non-zero exit: whether the engine flagged an OOM kill. Throws an `EngineError` when the engine, not the job, ended it. */
  explainExit?(exitCode: number): Promise<{ isOomKilled: boolean }>;
  /** Hands back what the attempt used (removal, a worker). `isStopped`: the process had to be stopped. Never throws. */
  release(outcome: AttemptOutcome, isStopped: boolean): void;
}

/** What `runAttempt` needs besides the driver. */
export interface AttemptContext extends AttemptLimits {
  jobName: string;
  runtime: ContainerRuntime;
  logFiles: LogFiles;
  maxLogBytes: number;
  onLogTruncated?: (() => void) | undefined;
  onLine?: ((stream: OutputStreamName, line: string) => void) | undefined;
  onStarted(id: string): void;
  /** Values never quoted in a message (the job's secret-looking env values): masked as `***`. */
  redact?: readonly string[] | undefined;
}

/** How many lines of stderr a failure quotes. */
const STDERR_TAIL_LINES = 10;

/** How long re-reading a whole log may take before it is given up. */
const READ_LOGS_LIMIT_MS = 30_000;
/** How long a closed live stream may take to let go. */
const CLOSE_GRACE_MS = 1000;

/** Whether `promise` settled within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms === Infinity) return promise.then(() => true);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
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

/** A failure as the package's typed error: engine errors keep theirs, anything else becomes an `EngineError`. */
export function asJobError(error: unknown, jobName: string, operation: string): DockerSimError {
  if (isDockerSimError(error)) return error;
  return new EngineError(operation, `Job ${jobName} failed to ${operation}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
}

/**
 * The live output got `drainMs` to end after the process ended; past that it is closed and whatever it missed is
 * read from the engine's log (the bytes the sink has not seen yet), within a bound.
 */
async function drain(launched: LaunchedProcess, followed: Promise<unknown>, sink: LogSink): Promise<void> {
  if (await settlesWithin(followed, launched.drainMs)) return;
  launched.output.close();
  await settlesWithin(followed, CLOSE_GRACE_MS);
  const logs = await launched.readLogs?.();
  if (!logs) return;
  const appended = Promise.all((['stdout', 'stderr'] as const).map((name) => sink.follow(name, Readable.from(skipBytes(logs[name], sink.bytes[name])))));
  if (!(await settlesWithin(appended, READ_LOGS_LIMIT_MS))) {
    logs.close?.();
    await settlesWithin(appended, CLOSE_GRACE_MS);
  }
}

/**
 * Runs one attempt through a backend's driver, the same way on every backend: the output streams into the job's
 * logs, cancellation and the time limits stop the process, the output is drained within a bound, and the end is
 * classified once for all backends: cancelled; `JobTimeoutError` / `JobStalledError` when a limit stopped it
 * (even if it then exited 0); `EngineError` when the engine lost the process or stopped taking connections;
 * success on exit 0; else `JobExitError` (with the OOM flag the engine gives). Never rejects.
 */
export async function runAttempt(driver: AttemptDriver, context: AttemptContext): Promise<AttemptOutcome> {
  const { signal, jobName, runtime } = context;
  let id: string | null = null;
  let startedAt: Date | null = null;
  let exitCode: number | null = null;
  let skippedEntries: SkippedEntry[] = [];
  let isStopped = false;
  let usage: ResourceUsage | undefined;
  let queuedMs: number | undefined;
  let sink: LogSink | undefined;
  // The launched process's streams until they are let go: an attempt that fails before that closes them here.
  let live: Pick<LaunchedProcess, 'output' | 'usage'> | undefined;
  let stage = 'prepare the job';
  const outcome = (status: AttemptOutcome['status'], error?: DockerSimError): AttemptOutcome => ({
    status,
    exitCode,
    containerId: id,
    startedAt,
    finishedAt: new Date(),
    skippedEntries,
    ...(usage ? { usage } : {}),
    ...(queuedMs === undefined ? {} : { queuedMs }),
    ...(error ? { error } : {}),
  });
  const cancelled = (): AttemptOutcome => outcome('cancelled', new JobCancelledError(jobName));

  const attempt = async (): Promise<AttemptOutcome> => {
    if (signal.aborted) return cancelled();
    const logSink = new LogSink(context.logFiles, { maxBytes: context.maxLogBytes, onTruncated: context.onLogTruncated, onLine: context.onLine });
    sink = logSink;
    const launched = await driver.launch((what) => {
      stage = what;
    });
    live = launched;
    id = launched.id;
    queuedMs = launched.queuedMs;
    startedAt = new Date();
    context.onStarted(launched.id);
    const followed = Promise.all([logSink.follow('stdout', launched.output.stdout), logSink.follow('stderr', launched.output.stderr)]);
    const stop = (): void => {
      if (isStopped) return;
      isStopped = true;
      driver.stop();
    };
    signal.addEventListener('abort', stop, { once: true });
    if (signal.aborted) stop(); // aborted while it started (a job:started listener may cancel)
    const watch = watchLimits(context, stop, logSink);
    stage = 'wait for the job to end';
    let end: AttemptEnd;
    try {
      end = await launched.ended;
    } finally {
      signal.removeEventListener('abort', stop);
      watch.clear();
    }
    exitCode = end.exitCode;
    usage = await launched.usage?.stop().catch(() => undefined);
    live = { output: launched.output };
    stage = 'collect the logs';
    await drain(launched, followed, logSink);
    live = undefined;
    await logSink.close();
    sink = undefined;

    if (signal.aborted) return cancelled();
    if (driver.collect) {
      stage = 'copy the outputs out of the engine';
      try {
        skippedEntries = await driver.collect();
      } catch (error) {
        // A failed job keeps its own reason; a job that exited 0 fails for its outputs.
        if (exitCode === 0 && watch.reason === undefined) throw error;
      }
    }
    // A failure says where the log is and quotes the end of stderr: the reason is usually there.
    const details = { logFile: context.logFiles.combined, stderrTail: logSink.tail('stderr', STDERR_TAIL_LINES, context.redact) };
    // A stopped attempt did not finish its work, even when it exits 0 on SIGTERM (say, after a checkpoint).
    if (watch.reason === 'timeout' || end.isTimedOut) return outcome('failed', new JobTimeoutError(jobName, context.timeoutMs ?? 0, exitCode, { logFile: details.logFile }));
    if (watch.reason === 'stalled') return outcome('failed', new JobStalledError(jobName, context.inactivityTimeoutMs ?? 0, exitCode, { logFile: details.logFile }));
    if (end.lostReason !== undefined) throw new EngineError('wait for the job to end', end.lostReason);
    if (exitCode === 0) return outcome('succeeded');
    if (exitCode === null) throw new EngineError('wait for the job to end', `Job ${jobName} ended without an exit code: the engine lost track of it.`);
    // An engine that shuts down closes its listener, then stops its containers and still answers on open
    // connections: a non-zero exit is the job's own only if the engine still takes new connections.
    stage = 'check the engine after the exit';
    if (!(await runtime.acceptsConnections())) {
      throw new EngineError(
        stage,
        `Job ${jobName} exited with code ${exitCode} while the engine at ${runtime.endpoint} stopped taking connections: the engine was most likely stopped or restarted, which stops running jobs.`,
      );
    }
    stage = 'inspect the exit';
    const explained = (await driver.explainExit?.(exitCode)) ?? { isOomKilled: false };
    return outcome('failed', new JobExitError(jobName, exitCode, explained.isOomKilled, details));
  };

  let result: AttemptOutcome;
  try {
    result = await attempt();
  } catch (error) {
    result = signal.aborted ? cancelled() : outcome('failed', asJobError(error, jobName, stage));
  }
  if (live) {
    // It failed while it ran (say, its service was removed from outside): a followed log or a statistics
    // stream would otherwise stay open, and with it the caller's process.
    live.output.close();
    await live.usage?.stop().catch(() => undefined);
  }
  if (sink) await sink.close().catch(() => undefined);
  try {
    driver.release(result, isStopped);
  } catch {
    // release never throws; a defect there must not lose the outcome
  }
  return result;
}

/** The attempt context of a request, as every backend builds it. */
export function attemptContext(request: AttemptRequest, runtime: ContainerRuntime): AttemptContext {
  const { job, signal } = request;
  return {
    jobName: job.job.name,
    runtime,
    logFiles: job.logFiles,
    maxLogBytes: job.limits.maxLogBytes,
    onLogTruncated: request.onLogTruncated,
    onLine: request.onLine,
    onStarted: request.onStarted,
    signal,
    timeoutMs: job.settings.timeoutMs,
    inactivityTimeoutMs: job.settings.inactivityTimeoutMs,
    onStalled: request.onStalled,
    redact: secretValues(job.spec.env),
  };
}
