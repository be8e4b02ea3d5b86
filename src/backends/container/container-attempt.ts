import type { SkippedEntry } from '../../archive/extract-output.js';
import { copyOutputs } from '../../archive/copy-outputs.js';
import { packTemplates } from '../../archive/pack-templates.js';
import { EngineError } from '../../errors/engine-error.js';
import { JobCancelledError } from '../../errors/job-cancelled-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { ContainerOutput, ContainerRuntime, ContainerSpec, ExitWaiter } from '../../runtime/container-runtime.js';
import { ProcessNotStartedError } from '../../runtime/process-not-started-error.js';
import type { AttemptOutcome } from '../backend.js';
import { notStarted } from '../not-started-process.js';
import type { AttemptDriver, AttemptEnd, LaunchedProcess } from '../run-attempt.js';

/** What one fresh-container attempt needs. */
export interface ContainerAttemptOptions {
  job: PreparedJob;
  /** The container to create: the job's spec with this attempt's name, image and labels. */
  spec: ContainerSpec;
  runtime: ContainerRuntime;
  signal: AbortSignal;
  stopGracePeriodMs: number;
  /** Where outputs are extracted before they are moved into the job folder (same file system). */
  stagingRoot: string;
  /** How long the output streams may take to end after the exit code arrived, before the logs are re-read. */
  logGraceMs: number;
  /** How often a running container is inspected in case the engine never answers the wait. */
  waitCheckIntervalMs: number;
  /** Measure its CPU time and peak memory from the engine's statistics. */
  collectUsage: boolean;
  /** The container is removed off the job's critical path. */
  scheduleRemoval(containerId: string): void;
}

/** How often the container is inspected once the wait's connection broke. */
const LOST_WAIT_CHECK_MS = 1000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Resolves with the exit code from the engine's wait, or from `inspect` when the wait never answers or its
 * connection breaks (the engine dropped it or restarted): a job can never hang on a lost wait.
 * `isWaitLost` says the exit code came from inspect after the wait's connection broke.
 */
async function guardedExit(
  options: ContainerAttemptOptions,
  containerId: string,
  waiter: ExitWaiter,
): Promise<{ exitCode: number; isWaitLost: boolean }> {
  const { runtime } = options;
  const jobName = options.job.job.name;
  let timer: NodeJS.Timeout | undefined;
  let isDone = false;
  let isWaitLost = false;
  let recheck: () => void = () => undefined;
  const watchdog = new Promise<{ exitCode: number; isWaitLost: boolean }>((resolve, reject) => {
    const check = async (): Promise<void> => {
      clearTimeout(timer);
      try {
        const state = await runtime.inspectContainer(containerId);
        if (isDone) return;
        if (state === undefined) {
          reject(new EngineError('wait for the container', `Container ${containerId.slice(0, 12)} of job ${jobName} disappeared while it ran.`));
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
      if (!isDone) timer = setTimeout(() => void check(), isWaitLost ? LOST_WAIT_CHECK_MS : options.waitCheckIntervalMs);
    };
    recheck = () => void check();
    timer = setTimeout(() => void check(), options.waitCheckIntervalMs);
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
    await delay(100 * attempt);
    const state = await runtime.inspectContainer(containerId).catch(() => undefined);
    if (state?.isOomKilled) return true;
  }
  return false;
}

/**
 * One attempt in a fresh container, in the docker CLI's order: create, copy the templates in, attach, register
 * the wait, start. Stopping it is SIGTERM, then SIGKILL after the grace period; the outputs of copy mode and
 * `collect` are copied out after the exit; the container is then handed to removal.
 */
export function containerAttempt(options: ContainerAttemptOptions): AttemptDriver {
  const { runtime, job, signal } = options;
  const jobName = job.job.name;
  let containerId: string | undefined;
  let isWaitLost = false;
  return {
    async launch(stage): Promise<LaunchedProcess> {
      stage('create the container');
      const id = await runtime.createContainer(options.spec);
      containerId = id;
      if (job.templates.length > 0 || job.ownedDirectories.length > 0) {
        stage('copy templates into the container');
        const tar = packTemplates(job.templates, job.owner, job.ownedDirectories, job.archiveRoot);
        let packError: unknown;
        tar.once('error', (error) => {
          packError = error;
        });
        try {
          await runtime.putArchive(id, job.archiveRoot, tar);
        } catch (error) {
          throw packError ?? error;
        }
      }
      stage('attach to the container');
      let output: ContainerOutput;
      try {
        output = await runtime.attach(id);
      } catch (error) {
        if (error instanceof ProcessNotStartedError) return notStarted(id, error.exitCode, error.reason);
        throw error;
      }
      let waiter: ExitWaiter;
      try {
        waiter = await runtime.waitForExit(id);
      } catch (error) {
        output.close();
        throw error;
      }
      if (signal.aborted) {
        waiter.cancel();
        output.close();
        throw new JobCancelledError(jobName);
      }
      stage('start the container');
      try {
        await runtime.start(id);
      } catch (error) {
        waiter.cancel();
        output.close();
        // The engine answered but could not start the job's process (a user the image lacks, an entrypoint
        // that does not exist): that is the job's failure, with the exit code the engine gives it (126-128), as
        // on every backend, not an engine error to retry.
        if (error instanceof ProcessNotStartedError) return notStarted(id, error.exitCode, error.reason);
        throw error;
      }
      const usage = options.collectUsage ? runtime.watchUsage?.(id) : undefined;
      const ended = guardedExit(options, id, waiter).then((exit): AttemptEnd => {
        isWaitLost = exit.isWaitLost;
        return { exitCode: exit.exitCode };
      });
      return { id, output, ended, drainMs: options.logGraceMs, readLogs: () => runtime.readLogs(id), usage };
    },
    stop() {
      if (containerId !== undefined) runtime.stop(containerId, options.stopGracePeriodMs).catch(() => undefined);
    },
    async collect(): Promise<SkippedEntry[]> {
      if (job.copyOut.length === 0 || containerId === undefined) return [];
      return copyOutputs(runtime, containerId, job.copyOut, {
        outputDir: job.outputDir,
        stagingRoot: options.stagingRoot,
        limits: { maxBytes: job.limits.maxOutputBytes, maxEntries: job.limits.maxOutputEntries },
      });
    },
    async explainExit(exitCode) {
      const id = containerId as string;
      const state = await runtime.inspectContainer(id).catch((error: unknown) => {
        throw new EngineError(
          'inspect the exited container',
          `The engine went away as job ${jobName} exited with code ${exitCode}: it was most likely stopped or restarted, which kills running containers. ${(error as Error).message}`,
          { cause: error },
        );
      });
      if (isWaitLost) {
        throw new EngineError(
          'wait for the container',
          `The connection to the engine broke while job ${jobName} ran, and its container then exited with code ${exitCode}: the engine was most likely restarted, which kills running containers.`,
        );
      }
      return { isOomKilled: await wasOomKilled(runtime, id, exitCode, state?.isOomKilled ?? false) };
    },
    release(_outcome: AttemptOutcome) {
      if (containerId !== undefined) options.scheduleRemoval(containerId);
    },
  };
}
