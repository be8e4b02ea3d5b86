import { mkdir } from 'node:fs/promises';
import { EngineError } from '../errors/engine-error.js';
import { JobCancelledError } from '../errors/job-cancelled-error.js';
import type { DockerSimManagerEvents } from '../events/docker-sim-manager-events.js';
import { limitsForAttempt, type AttemptFailure } from '../job/job-settings.js';
import type { AttemptLimitsRecord, JobResult } from '../job/job-result.js';
import { failureReason, retryDelayMs, shouldRetry } from '../job/retry-policy.js';
import { holdsOutputs, setAsideAttempt } from '../job/attempt-folders.js';
import { limitsRecord, withLimits } from '../job/attempt-limits.js';
import { ownFiles, type PreparedJob } from '../job/prepared-job.js';
import type { SimJob } from '../job/sim-job.js';
import { toRecord, type ManifestRecord, type ManifestWriter } from '../manifest/run-manifest.js';

/** `end` sees jobs that ran or were cancelled; skipped jobs are recorded by `skip`, with no manifest line. */
type ManifestStatus = ManifestRecord['status'];
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import type { AttemptOutcome, BackendRun, RunEngine } from '../backends/backend.js';
import { setLongTimeout } from '../util/long-timeout.js';
import type { EngineScheduler, EngineSlot } from './engine-scheduler.js';
import type { RunTally } from './run-tally.js';

/** A job prepared for each kind of engine it may meet: local (bind mounts) and remote (copy mode). */
export interface JobPlan {
  job: SimJob;
  /** By `runtime.isLocal`; a job that cannot run on one kind has no entry for it. */
  variants: Map<boolean, PreparedJob>;
  /** Any variant, for what they share (settings, spec hash inputs, folders). */
  first: PreparedJob;
  /** The engines (indexes) it can run on: its output mode fits, and its cpus and memory, if known. */
  engines: number[];
}

/** What a job's result names before it ran: the job and its folders. */
type JobFolders = Pick<PreparedJob, 'job' | 'outputDir' | 'logFiles' | 'outputMode'>;

type Emit = <E extends keyof DockerSimManagerEvents>(event: E, payload: Parameters<DockerSimManagerEvents[E]>[0]) => void;

/** What every job of a run shares. */
export interface RunContext {
  runId: string;
  imageId: string;
  imageDigest: string | null;
  engines: readonly RunEngine[];
  mountPath: string;
  resume: boolean;
  signal: AbortSignal;
  manifest: ManifestWriter;
  /** The run as the backend opened it: attempts go through it. */
  backend: BackendRun;
  scheduler: EngineScheduler;
  /** Per engine index, the global number of its slot 0 (for the manifest and the report's lanes). */
  slotOffsets: number[];
  tally: RunTally;
  /** After an engine error, the retries of all jobs on that engine share one wait for it to answer again. */
  engineRecovery: Map<ContainerRuntime, Promise<boolean>>;
  emit: Emit;
  /** Whether someone listens to `job:log` (lines are split only then). */
  wantsLines(): boolean;
  /** A job failed for good (after its retries). */
  onFailed(): void;
}

const DEFAULT_BACKOFF = { initialDelayMs: 1000, factor: 2, maxDelayMs: 60_000, jitter: 0.2 };
/** How long retries after an engine error wait for the engine to answer again, and how often they ask. */
const ENGINE_RECOVERY_MS = 5 * 60_000;
const ENGINE_PING_INTERVAL_MS = 1000;

/** Resolves after `ms`, or at once when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      timer.clear();
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setLongTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** What a job's result says before it ran: its folders, the run's image. */
function baseResult(item: JobFolders, hash: string, imageId: string, imageDigest: string | null): Omit<JobResult, 'status' | 'exitCode' | 'attempts' | 'startedAt' | 'finishedAt' | 'durationMs'> {
  return {
    name: item.job.name,
    specHash: hash,
    containerId: null,
    outputDir: item.outputDir,
    logFile: item.logFiles.combined,
    stdoutFile: item.logFiles.stdout,
    stderrFile: item.logFiles.stderr,
    outputMode: item.outputMode,
    skippedEntries: [],
    imageId,
    imageDigest,
    engine: null,
    usage: {},
    attemptLimits: [],
  };
}

/**
 * Runs the jobs of one run: each job's attempts (one, plus retries) through the backend, the retry policy,
 * moving failed attempts aside, and how each job ended (events, manifest, tally).
 */
export class JobRunner {
  constructor(private readonly run: RunContext) {}

  /** A job a resumed run does not run again: it succeeded earlier with the same spec. */
  skip(item: PreparedJob, hash: string): JobResult {
    const { run } = this;
    const result: JobResult = { ...baseResult(item, hash, run.imageId, run.imageDigest), status: 'skipped', exitCode: 0, attempts: 0, startedAt: null, finishedAt: new Date(), durationMs: 0 };
    item.job.transition('skipped', result);
    run.tally.add(result);
    run.emit('job:skipped', { job: item.job, result });
    return result;
  }

  /** Runs a job's attempts (one, plus retries) and records how it ended in the manifest. Never rejects. */
  async runJob(plan: JobPlan, hash: string): Promise<JobResult> {
    const { run } = this;
    const { job, first } = plan;
    const { settings } = first;
    const times: { firstStartedAt: Date | null } = { firstStartedAt: null };
    let attempt = 0;
    let queuedMs: number | undefined;
    let retriesUsed = 0;
    let outcome: AttemptOutcome | undefined;
    let item = first;
    let place: { engine: RunEngine; globalSlot: number } | undefined;
    // The slot of the last attempt is held until the job's outcome is final (recorded, failFast applied), so a
    // queued job never starts in the gap; a job about to be retried gives its slot back while it waits.
    let held: EngineSlot | undefined;
    // The limits of the next attempt: the job's own for attempt 1, then what its functions give (memory, cpus, timeoutMs).
    let limits = limitsForAttempt(settings, { attempt: 1, previousError: undefined });
    const attemptLimits: AttemptLimitsRecord[] = [];
    for (;;) {
      if (run.signal.aborted) {
        // Cancelled while waiting to be retried: it would have run again, so it is cancelled, not failed.
        if (outcome) outcome = { ...outcome, status: 'cancelled', error: new JobCancelledError(job.name) };
        break;
      }
      const slot = await run.scheduler.acquire(plan.engines);
      if (slot === undefined) {
        if (run.signal.aborted) continue;
        const error = new EngineError('find an engine', `No engine is left that can run job ${job.name}: ${run.engines.filter((_, i) => run.scheduler.isDown(i)).map((e) => e.name).join(', ')} stopped answering.`);
        outcome = { status: 'failed', exitCode: outcome?.exitCode ?? null, containerId: outcome?.containerId ?? null, startedAt: null, finishedAt: new Date(), skippedEntries: [], error };
        break;
      }
      const engine = run.engines[slot.engine] as RunEngine;
      place = { engine, globalSlot: (run.slotOffsets[slot.engine] ?? 0) + slot.slot };
      item = plan.variants.get(engine.runtime.isLocal) ?? first;
      attempt += 1;
      held = slot;
      attemptLimits.push(limitsRecord(attempt, limits));
      outcome = await this.runAttempt(withLimits(item, limits), attempt, slot, (startedAt) => {
        times.firstStartedAt ??= startedAt;
      });
      if (outcome.queuedMs !== undefined) queuedMs = (queuedMs ?? 0) + outcome.queuedMs;
      if (outcome.status !== 'failed' || outcome.error === undefined || run.signal.aborted) break;
      const failure: AttemptFailure = { error: outcome.error, reason: failureReason(outcome.error), attempt, exitCode: outcome.exitCode };
      // An engine that stopped answering takes no more jobs while others can; its jobs go elsewhere.
      let isElsewhere = false;
      if (failure.reason === 'engine-error' && run.engines.length > 1 && !(await engine.runtime.acceptsConnections())) {
        if (!run.scheduler.isDown(slot.engine)) {
          run.scheduler.markDown(slot.engine);
          run.emit('run:warning', { message: `Engine ${engine.name} (${engine.runtime.endpoint}) stopped answering: it gets no more jobs in this run; its jobs are retried on the others.` });
        }
        isElsewhere = run.scheduler.liveEngines.length > 0;
      }
      // An attempt that could not reach the engine at all ran nothing: once an engine answers it is tried again
      // without spending a retry.
      const isFree = outcome.containerId === null && outcome.error.code === 'E_DOCKER_UNAVAILABLE' && (isElsewhere || (await this.engineRecovered(engine.runtime)));
      let isRetried: boolean;
      try {
        isRetried = isFree || shouldRetry(settings, failure, retriesUsed);
      } catch (error) {
        run.emit('run:warning', { message: `The retryOn function of job ${job.name} threw; the job is not retried: ${(error as Error).message}`, error });
        isRetried = false;
      }
      if (!isRetried) break;
      try {
        limits = limitsForAttempt(settings, { attempt: attempt + 1, previousError: outcome.error });
      } catch (error) {
        run.emit('run:warning', { message: `Job ${job.name} is not retried: ${(error as Error).message}`, error });
        break;
      }
      if (!isFree) retriesUsed += 1;
      const delayMs = isFree ? 0 : retryDelayMs(settings.backoff ?? DEFAULT_BACKOFF, retriesUsed);
      let setAsideTo: string | undefined;
      try {
        setAsideTo = await setAsideAttempt(item.outputDir);
      } catch (error) {
        outcome = { ...outcome, error: new EngineError('set the last attempt aside', `The output of attempt ${attempt} of job ${job.name} could not be moved aside, so the job is not retried: ${(error as Error).message}`, { cause: error }) };
        break;
      }
      job.transition('queued');
      run.emit('job:retrying', { job, attempt: attempt + 1, error: outcome.error, delayMs, limits: limitsRecord(attempt + 1, limits), ...(setAsideTo === undefined ? {} : { setAsideTo }) });
      run.scheduler.release(slot);
      held = undefined;
      await sleep(delayMs, run.signal);
      if (failure.reason === 'engine-error' && !isElsewhere) await this.engineRecovered(engine.runtime);
    }

    const finishedAt = outcome?.finishedAt ?? new Date();
    const status = outcome?.status ?? 'cancelled';
    const startedAt = times.firstStartedAt;
    const result: JobResult = {
      ...baseResult(item, hash, run.imageId, run.imageDigest),
      status,
      exitCode: outcome?.exitCode ?? null,
      attempts: attempt,
      containerId: outcome?.containerId ?? null,
      skippedEntries: outcome?.skippedEntries ?? [],
      startedAt,
      finishedAt,
      durationMs: startedAt === null ? 0 : finishedAt.getTime() - startedAt.getTime(),
      engine: attempt === 0 ? null : (place?.engine.name ?? null),
      usage: outcome?.usage ?? {},
      ...(queuedMs === undefined ? {} : { queuedMs }),
      attemptLimits,
      ...(status === 'cancelled' ? { error: outcome?.error ?? new JobCancelledError(job.name) } : outcome?.error ? { error: outcome.error } : {}),
    };
    await this.end(result, item, attempt === 0 ? null : (place?.globalSlot ?? null));
    if (held) run.scheduler.release(held);
    return result;
  }

  /** A job the run never got to (it was stopped first): cancelled, recorded as such. */
  async cancelUnstarted(item: JobFolders, hash: string): Promise<void> {
    const { run } = this;
    const result: JobResult = { ...baseResult(item, hash, run.imageId, run.imageDigest), status: 'cancelled', exitCode: null, attempts: 0, startedAt: null, finishedAt: new Date(), durationMs: 0, error: new JobCancelledError(item.job.name) };
    await this.end(result, item, null);
  }

  /** How a job ended: its status, the manifest line, the tally, the events. */
  private async end(result: JobResult, item: JobFolders | PreparedJob, slot: number | null): Promise<void> {
    const { run } = this;
    const { job } = item;
    const { status } = result;
    if (result.skippedEntries.length > 0) run.emit('job:output-skipped', { job, entries: result.skippedEntries });
    job.transition(status, result);
    run.tally.add(result);
    await run.manifest
      .append(toRecord(run.runId, { ...result, status: status as ManifestStatus }, result.specHash, slot, job.parameters))
      .catch((error: unknown) => run.emit('run:warning', { message: `The outcome of job ${job.name} could not be written to the run manifest: ${(error as Error).message}`, error }));
    if (status === 'succeeded' && 'templates' in item && !(await holdsOutputs(item.outputDir, ownFiles(item, run.mountPath)))) this.noteWithoutOutput(item);
    if (status === 'succeeded') run.emit('job:succeeded', { job, result });
    else if (status === 'cancelled') run.emit('job:cancelled', { job, result });
    else if (result.error) {
      run.emit('job:failed', { job, result, error: result.error });
      run.onFailed();
    }
  }

  /**
   * A job that succeeded with nothing in its folder most likely wrote its results somewhere else in the container,
   * where they were lost with it. The first one of a run is a warning; all are in the summary.
   */
  private noteWithoutOutput(item: PreparedJob): void {
    if (!this.run.tally.addWithoutOutput(item.job.name)) return;
    this.run.emit('run:warning', {
      message: `Job ${item.job.name} succeeded but left nothing in its output folder ${item.outputDir} besides its logs. If it writes results elsewhere in the container, they were lost with it: write them under ${this.run.mountPath} (where the folder is mounted), or list their paths in \`collect\`. Other jobs like it are listed in the run summary (withoutOutput).`,
    });
  }

  /** One attempt through the backend, with a job folder that holds nothing of an earlier attempt. */
  private async runAttempt(item: PreparedJob, attempt: number, place: EngineSlot, onStarted: (at: Date) => void): Promise<AttemptOutcome> {
    const { run } = this;
    const { job, settings } = item;
    const engine = run.engines[place.engine] as RunEngine;
    try {
      // A resumed job's earlier output is set aside, never overwritten (retries set theirs aside before waiting).
      if (attempt === 1 && run.resume) await setAsideAttempt(item.outputDir);
      await mkdir(item.outputDir, { recursive: true });
    } catch (error) {
      return { status: 'failed', exitCode: null, containerId: null, startedAt: null, finishedAt: new Date(), skippedEntries: [], error: new EngineError('prepare the job folder', `Cannot prepare the output folder ${item.outputDir} of job ${job.name}: ${(error as Error).message}`, { cause: error }) };
    }
    job.transition('running');
    return run.backend.runAttempt({
      job: item,
      attempt,
      engine: place.engine,
      slot: place.slot,
      signal: run.signal,
      onStarted: (id) => {
        onStarted(new Date());
        run.emit('job:started', { job, containerId: id, attempt, engine: engine.name });
      },
      onLine: run.wantsLines() ? (stream, line) => run.emit('job:log', { job, stream, line }) : undefined,
      onStalled: (silentMs) => run.emit('job:stalled', { job, attempt, silentMs, inactivityTimeoutMs: settings.inactivityTimeoutMs ?? 0 }),
      onLogTruncated: () => run.emit('job:log-truncated', { job, limitBytes: item.limits.maxLogBytes }),
    });
  }

  /**
   * After an engine error, retries wait until the engine answers again (all jobs share one wait). Gives up after
   * ENGINE_RECOVERY_MS; the retry then fails on its own with the engine's error.
   */
  private engineRecovered(runtime: ContainerRuntime): Promise<boolean> {
    const { engineRecovery, signal } = this.run;
    let recovery = engineRecovery.get(runtime);
    if (!recovery) {
      recovery = (async () => {
        const deadline = Date.now() + ENGINE_RECOVERY_MS;
        while (!signal.aborted && Date.now() < deadline) {
          try {
            // A fresh connection first: a stopping engine still answers on kept-alive ones.
            if (await runtime.acceptsConnections()) {
              await runtime.ping();
              return true;
            }
          } catch {
            // not back yet
          }
          await sleep(ENGINE_PING_INTERVAL_MS, signal);
        }
        return false;
      })().finally(() => engineRecovery.delete(runtime));
      engineRecovery.set(runtime, recovery);
    }
    return recovery;
  }
}
