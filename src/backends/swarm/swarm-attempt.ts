import { EngineError } from '../../errors/engine-error.js';
import { JobCancelledError } from '../../errors/job-cancelled-error.js';
import type { PreparedJob } from '../../job/prepared-job.js';
import type { ContainerRuntime, ServiceSpec, SwarmOperations, TaskState } from '../../runtime/container-runtime.js';
import type { AttemptOutcome } from '../backend.js';
import { writeHostTemplates } from '../host-templates.js';
import type { AttemptDriver, AttemptEnd, LaunchedProcess } from '../run-attempt.js';
import { configFiles } from './config-files.js';
import { isUnderMountPath } from '../../util/under-mount-path.js';

/** What one attempt as a swarm service needs. */
export interface SwarmAttemptOptions {
  job: PreparedJob;
  mountPath: string;
  /** The service to create, without its configs (made here from the templates). */
  service: Omit<ServiceSpec, 'configs'>;
  swarm: SwarmOperations;
  /** The manager's engine: it inspects task containers that run on its own node. */
  runtime: ContainerRuntime;
  signal: AbortSignal;
  /** Measure its CPU time and peak memory (when the task runs on the manager's node). */
  collectUsage: boolean;
  /** How long the task may take to start running (its state named in the error past that). */
  startLimitMs: number;
  /** The service and its configs are removed off the job's critical path. */
  scheduleRemoval(serviceId: string | undefined, configIds: readonly string[]): void;
}

const TASK_POLL_MS = 100;
/** Lets lines already in flight on the followed service log arrive before it is closed and read whole. */
const LOG_SETTLE_MS = 100;
const ENDED = new Set(['complete', 'failed', 'rejected', 'shutdown', 'orphaned', 'remove']);

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A task's state as a person reads it: `'pending' (no suitable node …)`. */
function describeTask(task: TaskState | undefined): string {
  if (!task) return 'not yet created';
  return `'${task.state}'${task.error ? ` (${task.error})` : ''}`;
}

/**
 * One attempt as a swarm replicated-job service (one replica, never restarted): templates under the mount path
 * are written to the job folder first (the swarm starts the container itself, so nothing can be put into it
 * before it starts), the others travel as configs; the output streams from the service log, the exit code comes
 * from the task. Stopping it removes the service (the swarm stops its container).
 */
export function swarmAttempt(options: SwarmAttemptOptions): AttemptDriver {
  const { swarm, job, signal } = options;
  const jobName = job.job.name;
  let serviceId: string | undefined;
  const configIds: string[] = [];
  let isStopped = false;
  let lastTask: TaskState | undefined;
  return {
    async launch(stage): Promise<LaunchedProcess> {
      stage('write the templates');
      await writeHostTemplates(job.templates, options.mountPath, job.outputDir);
      const configs: ServiceSpec['configs'] = [];
      for (const template of job.templates.filter((t) => !isUnderMountPath(t.target, options.mountPath))) {
        for (const file of await configFiles(template)) {
          stage('create the configs');
          const configName = `${options.service.name}-c${configs.length + 1}`;
          const configId = await swarm.createConfig(configName, await file.data(), options.service.labels);
          configIds.push(configId);
          configs.push({ configId, configName, target: file.target, mode: file.mode, uid: job.owner.uid, gid: job.owner.gid });
        }
      }
      stage('create the service');
      const id = await swarm.createService({ ...options.service, configs });
      serviceId = id;

      // Wait, within a bound, for the task to run (or to end at once: a rejected image, a bad command).
      stage('wait for the task to start');
      const deadline = Date.now() + options.startLimitMs;
      let task: TaskState | undefined;
      for (;;) {
        if (signal.aborted) throw new JobCancelledError(jobName);
        task = (await swarm.tasks(id))[0];
        if (task && (task.state === 'running' || ENDED.has(task.state))) break;
        if (Date.now() >= deadline) {
          throw new EngineError(
            'wait for the task to start',
            `The swarm task of job ${jobName} did not start within ${options.startLimitMs} ms: it is ${describeTask(task)}. Check that a node can run it (\`docker service ps ${options.service.name} --no-trunc\`): resources, placement, the image on the nodes.`,
          );
        }
        await delay(TASK_POLL_MS);
      }
      const output = await swarm.logs(id);
      const started = task;
      // The task's container, when it runs on the manager's own node, tells its usage.
      const usage = task.containerId === undefined || !options.collectUsage ? undefined : options.runtime.watchUsage?.(task.containerId);
      const ended = (async (): Promise<AttemptEnd> => {
        let last: TaskState = started;
        while (!ENDED.has(last.state)) {
          await delay(TASK_POLL_MS);
          if (isStopped) return { exitCode: last.exitCode };
          try {
            last = (await swarm.tasks(id))[0] ?? last;
          } catch (error) {
            // A stop removes the service: its tasks are gone with it.
            if (isStopped) return { exitCode: last.exitCode };
            throw error;
          }
        }
        lastTask = last;
        if (last.state === 'complete') return { exitCode: last.exitCode ?? 0 };
        if (last.state === 'failed' && last.exitCode !== null && last.exitCode !== 0) return { exitCode: last.exitCode };
        return { exitCode: last.exitCode, lostReason: `The swarm task of job ${jobName} ended as ${describeTask(last)}.` };
      })();
      return {
        id,
        output,
        ended,
        drainMs: LOG_SETTLE_MS,
        // A followed service log never ends on its own: once the task ended it is read whole (not after a stop:
        // the service is gone).
        readLogs: async () => (isStopped ? undefined : swarm.logs(id, { follow: false })),
        usage,
      };
    },
    async explainExit() {
      // The task's container is still there until its service is removed; on this node, it tells an OOM kill.
      const containerId = lastTask?.containerId;
      const state = containerId === undefined ? undefined : await options.runtime.inspectContainer(containerId).catch(() => undefined);
      return { isOomKilled: state?.isOomKilled ?? false };
    },
    stop() {
      isStopped = true;
      if (serviceId !== undefined) swarm.removeService(serviceId).catch(() => undefined);
    },
    release(_outcome: AttemptOutcome) {
      if (serviceId !== undefined || configIds.length > 0) options.scheduleRemoval(serviceId, configIds);
    },
  };
}
