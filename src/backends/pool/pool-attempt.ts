import path from 'node:path';
import { finished } from 'node:stream/promises';
import { packTemplates } from '../../archive/pack-templates.js';
import { JobCancelledError } from '../../errors/job-cancelled-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { ContainerOutput, ContainerRuntime, ExecSpec } from '../../runtime/container-runtime.js';
import { ProcessNotStartedError } from '../../runtime/process-not-started-error.js';
import type { AttemptOutcome } from '../backend.js';
import { writeHostTemplates } from '../host-templates.js';
import { notStarted } from '../not-started-process.js';
import type { AttemptDriver, AttemptEnd, LaunchedProcess } from '../run-attempt.js';
import type { ResidentRunner } from './resident-runner.js';
import { POOL_DATA_MOUNT, jobCommand, runnerJobScript, type Worker, type WorkerPool } from './worker-pool.js';
import { isUnderMountPath } from '../../util/under-mount-path.js';

/** Failures that are the job's own end, which a runner's worker survives: its exit code, or a limit that stopped it. */
const JOBS_OWN_ENDS = new Set(['E_JOB_EXIT', 'E_JOB_TIMEOUT', 'E_JOB_STALLED']);

/** What one attempt in a warm worker needs. */
export interface PoolAttemptOptions {
  job: PreparedJob;
  /** The argv a fresh container would run, with the job's env, user and working directory. */
  exec: ExecSpec;
  mountPath: string;
  runtime: ContainerRuntime;
  pool: WorkerPool;
  slot: number;
  signal: AbortSignal;
  /** Measure the job's CPU time and peak memory from its worker's cgroup counters. */
  collectUsage: boolean;
  /** Between SIGTERM and SIGKILL when a job in a resident runner is stopped. */
  stopGracePeriodMs: number;
}

/**
 * One attempt as a process in its slot's worker: the mount path becomes a link to the job's folder, templates are
 * placed, the job's argv runs with its env, user and working directory, started by the worker's resident runner
 * (no engine call) or, without one, as an exec. A job in a runner that must stop (timeout, stall, cancellation)
 * gets SIGTERM, then SIGKILL after the grace period, and the worker serves the next job. An exec cannot be
 * signalled reliably, so a stopped exec takes its worker with it: the worker is removed and a fresh one takes the
 * slot. A worker that failed a job for any reason but the job's own end (its runner died, the engine failed) is
 * replaced too.
 */
export function poolAttempt(options: PoolAttemptOptions): AttemptDriver {
  const { runtime, pool, job, signal } = options;
  const jobName = job.job.name;
  let worker: Worker | undefined;
  let runner: ResidentRunner | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  return {
    async launch(stage): Promise<LaunchedProcess> {
      stage('get a worker');
      worker = await pool.acquire(options.slot);
      const current = worker;
      stage('place the templates');
      await writeHostTemplates(job.templates, options.mountPath, job.outputDir);
      const inContainer = job.templates.filter((template) => !isUnderMountPath(template.target, options.mountPath));
      if (inContainer.length > 0) {
        stage('copy templates into the worker');
        await runtime.putArchive(current.id, '/', packTemplates(inContainer, job.owner));
      }
      if (signal.aborted) throw new JobCancelledError(jobName);
      stage('start the job in its worker');
      const folder = `${POOL_DATA_MOUNT}/${path.basename(job.outputDir)}`;
      runner = await pool.runnerFor(current, options.exec.user);
      if (runner) return inRunner(current, runner, folder);
      const execId = await runtime.createExec(current.id, { ...options.exec, cmd: jobCommand(folder, options.exec.cmd) });
      const meter = options.collectUsage ? await current.usage?.begin() : undefined;
      let output: ContainerOutput;
      try {
        output = await runtime.startExec(execId);
      } catch (error) {
        if (!(error instanceof ProcessNotStartedError)) throw error;
        await meter?.end();
        return notStarted(current.id, error.exitCode, error.reason);
      }
      // The exec's streams end when its process exits, or when its worker dies.
      const ended = Promise.all([finished(output.stdout), finished(output.stderr)])
        .catch(() => undefined)
        .then(async (): Promise<AttemptEnd> => {
          const state = await runtime.inspectExec(execId).catch(() => ({ isRunning: false, exitCode: null }));
          if (state.exitCode === null || state.isRunning) {
            return {
              exitCode: null,
              lostReason: `The worker container ${current.id.slice(0, 12)} of job ${jobName} stopped while the job ran (it was killed, ran out of memory, or the engine went away); a fresh worker takes its place.`,
            };
          }
          return { exitCode: state.exitCode };
        });
      return { id: current.id, output, ended, drainMs: Infinity, ...(meter ? { usage: { stop: () => meter.end() } } : {}) };
    },
    async explainExit() {
      return { isOomKilled: worker !== undefined && (await pool.wasOomKilled(worker)) };
    },
    stop() {
      if (runner) {
        const stopped = runner;
        stopped.stop();
        killTimer = setTimeout(() => stopped.kill(), options.stopGracePeriodMs);
        killTimer.unref();
      } else if (worker) {
        pool.kill(worker).catch(() => undefined);
      }
    },
    release(outcome: AttemptOutcome, isStopped: boolean) {
      clearTimeout(killTimer);
      if (!worker) return;
      // A worker that was killed, died, or could not be reached or prepared is not trusted with the next job;
      // one whose runner stopped its job, killed what the job left and lives on is.
      const code = outcome.status === 'failed' ? outcome.error?.code : undefined;
      const isSpent = runner ? !runner.isAlive || (code !== undefined && !JOBS_OWN_ENDS.has(code)) : isStopped || (code !== undefined && code !== 'E_JOB_EXIT');
      pool.release(worker, isSpent);
    },
  };

  /** Starts the job through the worker's runner: its output and end come back on the runner's streams. */
  async function inRunner(current: Worker, resident: ResidentRunner, folder: string): Promise<LaunchedProcess> {
    const meter = options.collectUsage ? await current.usage?.begin() : undefined;
    const started = resident.run(runnerJobScript(folder, options.exec));
    const ended = started.ended.then(
      (exitCode): AttemptEnd =>
        exitCode === null
          ? { exitCode: null, lostReason: `The resident runner in worker ${current.id.slice(0, 12)} of job ${jobName} stopped while the job ran (the worker was killed, ran out of memory, or the engine went away); a fresh worker takes its place.` }
          : { exitCode },
    );
    const output = { stdout: started.stdout, stderr: started.stderr, close: () => undefined };
    return { id: current.id, output, ended, drainMs: Infinity, ...(meter ? { usage: { stop: () => meter.end() } } : {}) };
  }
}
