import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { JobCancelledError } from '../../errors/job-cancelled-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { AttemptOutcome } from '../backend.js';
import { writeHostTemplates, writeTemplate } from '../host-templates.js';
import type { AttemptDriver, AttemptEnd, LaunchedProcess } from '../run-attempt.js';
import { parseStatus, slurmAttemptEnd, type AttemptStatus } from './attempt-end.js';
import { batchScript, envFileText, runArgs, type AttemptFiles } from './batch-script.js';
import { slurmCommands, type SlurmJobState } from './slurm-commands.js';
import { isFinal, type SlurmQueue } from './slurm-queue.js';
import { followFile } from './follow-file.js';
import { isUnderMountPath } from '../../util/under-mount-path.js';

/** What one attempt as a Slurm job needs. */
export interface SlurmAttemptOptions {
  job: PreparedJob;
  /** The attempt's Slurm job and container name. */
  name: string;
  /** The image as the nodes run it (pinned by digest or id). */
  image: string;
  /** The node's container engine command (`['docker']`, `['podman']`, `['sudo', '-n', 'docker']`...). */
  engineCommand: readonly string[];
  /** sbatch options of the run (partition, account, QoS, extra flags); the job's own resources are added here. */
  sbatchArgs: readonly string[];
  /** The attempt's own folder on the shared file system (script, env file, output, status). */
  stagingDir: string;
  mountPath: string;
  comment: string;
  queue: SlurmQueue;
  signal: AbortSignal;
  stopGracePeriodMs: number;
}

/** How long a status file may take to appear on a shared file system after Slurm says the job ended. */
const STATUS_FILE_WAIT_MS = 5000;

/** Slurm options for a job's own resources: `cpus` as CPUs per task, `memory` (with room for the engine's client), `gpus` as a GRES, `timeoutMs` as a time limit. */
function resourceArgs(job: PreparedJob): string[] {
  const { spec, settings } = job;
  const args: string[] = [];
  if (spec.nanoCpus !== undefined) args.push(`--cpus-per-task=${Math.max(1, Math.ceil(spec.nanoCpus / 1e9))}`);
  // The container's limit is the job's; Slurm's covers the batch script and the engine client too.
  if (spec.memoryBytes !== undefined) args.push(`--mem=${Math.ceil(spec.memoryBytes / 1024 ** 2) + 64}M`);
  if (spec.gpus !== undefined) args.push(spec.gpus === 'all' ? '--exclusive' : `--gres=gpu:${spec.gpus}`);
  // Slurm's limit is the backstop: the manager stops the job at timeoutMs itself, gracefully.
  if (settings.timeoutMs !== undefined) args.push(`--time=${Math.ceil(settings.timeoutMs / 60_000) + 1}`);
  return args;
}

/**
 * One attempt as a Slurm job whose batch script runs the job's container on the node Slurm picks: templates and
 * the env file are staged on the shared file system, the job is submitted, its output files are followed while
 * it runs, and its end comes from the status file the script writes (exit code, OOM flag) or, when the script
 * could not write one, from Slurm's own state (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL...).
 */
export function slurmAttempt(options: SlurmAttemptOptions): AttemptDriver {
  const { job, signal, queue } = options;
  const jobName = job.job.name;
  const files: AttemptFiles = {
    stdout: path.join(options.stagingDir, 'stdout'),
    stderr: path.join(options.stagingDir, 'stderr'),
    status: path.join(options.stagingDir, 'status'),
    envFile: path.join(options.stagingDir, 'env'),
  };
  let slurmId: string | undefined;
  let unwatch: (() => void) | undefined;
  let isOomKilled = false;
  let killTimer: NodeJS.Timeout | undefined;
  let isStopRequested = false;

  const readStatus = async (): Promise<AttemptStatus | undefined> => parseStatus(await readFile(files.status, 'utf8').catch(() => ''));

  return {
    async launch(stage): Promise<LaunchedProcess> {
      stage('stage the job on the shared file system');
      await mkdir(options.stagingDir, { recursive: true });
      await writeHostTemplates(job.templates, options.mountPath, job.outputDir);
      // Templates outside the mount path are bind-mounted read-only from a staged copy.
      const outside = job.templates.filter((template) => !isUnderMountPath(template.target, options.mountPath));
      const rootCopy = path.join(options.stagingDir, 'templates');
      const extraBinds = outside.map((template, index) => ({ hostPath: path.join(rootCopy, String(index), path.posix.basename(template.target)), containerPath: template.target }));
      for (const [index, template] of outside.entries()) await writeTemplate(template, extraBinds[index]?.hostPath as string);
      // Mode 600 from its creation: the attempt's staging folder is new, so the file is too.
      await writeFile(files.envFile, envFileText(job.spec.env), { mode: 0o600 });
      const run = runArgs(job.spec, { image: options.image, containerName: options.name, envFile: files.envFile, extraBinds });
      const script = path.join(options.stagingDir, 'job.sh');
      await writeFile(script, batchScript({ engineCommand: options.engineCommand, run, containerName: options.name, files, stopGraceSeconds: Math.ceil(options.stopGracePeriodMs / 1000), comment: options.comment }), { mode: 0o700 });
      if (signal.aborted) throw new JobCancelledError(jobName);

      stage('submit the job to Slurm');
      const submittedAt = Date.now();
      const id = await slurmCommands.submit(
        [`--job-name=${options.name}`, `--comment=${options.comment}`, `--output=${path.join(options.stagingDir, 'slurm.out')}`, `--chdir=${options.stagingDir}`, ...options.sbatchArgs, ...resourceArgs(job)],
        script,
      );
      slurmId = id;

      stage('wait for Slurm to start the job');
      let resolveEnd: (state: SlurmJobState | undefined) => void = () => undefined;
      const finalState = new Promise<SlurmJobState | undefined>((resolve) => {
        resolveEnd = resolve;
      });
      const running = new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          slurmCommands.cancel([id]).catch(() => undefined);
          reject(new JobCancelledError(jobName));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        if (signal.aborted) onAbort(); // cancelled while sbatch ran
        unwatch = queue.watch(id, (state) => {
          if (state !== undefined && state.state !== 'PENDING' && state.state !== 'CONFIGURING') {
            signal.removeEventListener('abort', onAbort);
            resolve();
          }
          if (isFinal(state)) {
            signal.removeEventListener('abort', onAbort);
            resolve();
            resolveEnd(state);
          }
        });
      });
      await running;
      const queuedMs = Date.now() - submittedAt;

      const stdout = followFile(files.stdout);
      const stderr = followFile(files.stderr);
      const ended = (async (): Promise<AttemptEnd> => {
        const state = await finalState;
        clearTimeout(killTimer);
        let status = await readStatus();
        for (let waited = 0; status === undefined && waited < STATUS_FILE_WAIT_MS && state?.state === 'COMPLETED'; waited += 250) {
          await new Promise((resolve) => setTimeout(resolve, 250));
          status = await readStatus();
        }
        await Promise.all([stdout.finish(), stderr.finish()]);
        const ending = slurmAttemptEnd({ state, status, isStopRequested, slurmId: id, jobName, logFile: path.join(job.outputDir, 'log.txt') });
        isOomKilled = ending.isOomKilled;
        return ending.end;
      })();
      return {
        id,
        output: {
          stdout: stdout.stream,
          stderr: stderr.stream,
          close: () => {
            stdout.close();
            stderr.close();
          },
        },
        ended,
        drainMs: 2000,
        queuedMs,
      };
    },
    stop() {
      if (slurmId === undefined || isStopRequested) return;
      isStopRequested = true;
      const id = slurmId;
      // The batch script stops the container (SIGTERM, then SIGKILL after the grace period) and records the exit;
      // should it not end, the job is cancelled outright after the grace period and some margin.
      slurmCommands.cancel([id], { signal: 'TERM', batchOnly: true }).catch(() => undefined);
      killTimer = setTimeout(() => void slurmCommands.cancel([id]).catch(() => undefined), options.stopGracePeriodMs + 15_000);
      killTimer.unref();
    },
    async explainExit() {
      return { isOomKilled };
    },
    release(_outcome: AttemptOutcome) {
      clearTimeout(killTimer);
      unwatch?.();
      void rm(options.stagingDir, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}
