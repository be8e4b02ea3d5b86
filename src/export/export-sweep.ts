import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { ValidationError } from '../errors/validation-error.js';
import { resolveTemplates } from '../job/check-job-inputs.js';
import { applySecurityPreset, mergeSettings, type BackoffOptions, type NormalizedSettings, type RetryReason } from '../job/job-settings.js';
import { SECRET_NAME } from '../job/secret-values.js';
import { checkLabels } from './kubernetes-names.js';
import { SimJob, type SimJobOptions } from '../job/sim-job.js';
import { normalizeManagerOptions, type DockerSimManagerOptions, type NormalizedManagerOptions, type PullPolicy } from '../manager/docker-sim-manager-options.js';

/** What can be exported: a manager with its jobs, or manager options and jobs (a loaded sweep file is both). */
export type ExportSource = { readonly config: Readonly<NormalizedManagerOptions>; readonly simJobs: readonly SimJob[] } | { options: DockerSimManagerOptions; jobs: Iterable<SimJob | SimJobOptions> };

/** The clusters a sweep is exported to. */
export type ExportTarget = 'kubernetes' | 'argo';

const TARGET_NAMES: Record<ExportTarget, string> = { kubernetes: 'Kubernetes', argo: 'Argo Workflows' };

/** A template file as it goes into a ConfigMap. */
export interface ExportTemplate {
  target: string;
  content: Buffer;
  mode: number;
}

/** What varies from job to job: the process and its files. */
export interface ExportJob {
  name: string;
  command: readonly string[] | undefined;
  entrypoint: readonly string[] | undefined;
  env: Readonly<Record<string, string>>;
  templates: readonly ExportTemplate[];
}

/** What every job of an exported sweep shares: what one pod template holds. */
export interface PodSettings {
  workingDir: string | undefined;
  user: { uid: number; gid: number | undefined } | undefined;
  labels: Record<string, string>;
  nanoCpus: number | undefined;
  memoryBytes: number | undefined;
  gpus: number | undefined;
  timeoutMs: number | undefined;
  retries: number;
  retryOn: readonly RetryReason[];
  /** The backoff as given (undefined: the target's own). */
  backoff: BackoffOptions | undefined;
  noNetwork: boolean;
  readOnlyRootfs: boolean;
  capDrop: string[];
  capAdd: string[];
  noNewPrivileges: boolean;
  tmpfs: string[];
  init: boolean;
}

/** A sweep read for export: the image, the run's options, each job's own values and the settings they share. */
export interface ExportSweep {
  image: string;
  pullPolicy: PullPolicy;
  maxWorkers: number;
  mountPath: string;
  stopGracePeriodMs: number;
  failFast: boolean;
  maxFailures: number | undefined;
  jobs: ExportJob[];
  pod: PodSettings;
}

/** A ConfigMap holds at most 1 MiB; a template leaves room for the object around it. */
export const MAX_TEMPLATE_BYTES = 900 * 1024;

/** The settings a pod template holds, as one job has them (compared across jobs). */
const POD_KEYS = ['workingDir', 'user', 'labels', 'nanoCpus', 'memoryBytes', 'gpus', 'network', 'timeoutMs', 'retries', 'retryOn', 'backoff', 'readOnlyRootfs', 'capDrop', 'capAdd', 'noNewPrivileges', 'tmpfs', 'init', 'security'] as const;

/** The sweep-file (and library) name of a normalized setting, for messages. */
const SETTING_NAMES: Partial<Record<string, string>> = { nanoCpus: 'cpus', memoryBytes: 'memory', timeoutMs: 'timeout' };

function refuse(job: string, setting: string, value: unknown, target: ExportTarget, why: string): never {
  throw new ValidationError(`jobs[${job}].${setting}`, value, `Job ${job} sets \`${setting}\`, which ${TARGET_NAMES[target]} cannot express: ${why}`);
}

/** Refuses what a job sets that the target cannot express; nothing is dropped silently. */
function checkExpressible(job: string, own: NormalizedSettings, settings: NormalizedSettings, target: ExportTarget): void {
  if (settings.perAttempt) {
    const growing = (['memory', 'cpus', 'timeoutMs'] as const).find((key) => settings.perAttempt?.[key] !== undefined) ?? 'memory';
    refuse(job, SETTING_NAMES[growing] ?? growing, 'a function', target, 'a retried pod gets the same resources and deadline as the first. Set a fixed value (the largest the job needs), or remove growOnRetry.');
  }
  if (typeof settings.retryOn === 'function') refuse(job, 'retryOn', 'a function', target, "retries are decided by the cluster from the pod's end. Use a list of reasons: 'exit-code', 'oom', 'timeout', 'engine-error'.");
  if (Array.isArray(settings.retryOn) && settings.retryOn.includes('stalled')) refuse(job, 'retryOn', 'stalled', target, "nothing on the cluster watches a job's output for silence. Remove 'stalled'.");
  if (settings.inactivityTimeoutMs !== undefined) refuse(job, 'inactivityTimeout', settings.inactivityTimeoutMs, target, "nothing on the cluster watches a job's output for silence. Remove it, or use timeout.");
  if (settings.collect?.length) refuse(job, 'collect', settings.collect, target, 'no one copies files out of a finished pod. Write them under the mount path instead.');
  if (settings.maxLogBytes !== undefined) refuse(job, 'maxLogBytes', settings.maxLogBytes, target, "a pod's log is kept by the cluster, not cut by this package. Remove maxLogBytes for the export.");
  if (own.pidsLimit !== undefined) refuse(job, 'pidsLimit', own.pidsLimit, target, "a pod's process limit is the node's (the kubelet's podPidsLimit). Remove pidsLimit.");
  if (settings.gpus === 'all') refuse(job, 'gpus', 'all', target, 'a pod asks for a number of GPUs (nvidia.com/gpu). Give the number, e.g. gpus: 1.');
  if (settings.network !== undefined && settings.network !== 'none') refuse(job, 'network', settings.network, target, "pods join the cluster's network; only network 'none' (a NetworkPolicy that denies all traffic) is exported. Remove network.");
  if (settings.user !== undefined && !/^\d+(:\d+)?$/.test(settings.user)) refuse(job, 'user', settings.user, target, "a pod runs as numeric ids (runAsUser, runAsGroup). Use 'uid' or 'uid:gid', e.g. '1000:1000'.");
  for (const [key, value] of Object.entries(settings.env ?? {})) {
    if (SECRET_NAME.test(key)) {
      throw new ValidationError(
        `jobs[${job}].env.${key}`,
        '***',
        `Job ${job} sets env ${key}, which looks like a secret: the ${TARGET_NAMES[target]} export would write its value into the YAML. Keep it in the cluster instead: kubectl create secret generic sim-secrets --from-literal=${key}=..., list the Secret under kubernetes.envFromSecrets, and remove ${key} from env.`,
      );
    }
    if (/\{\{/.test(value) && target === 'argo') refuse(job, `env.${key}`, value, target, "'{{' starts an Argo variable. Remove the braces from the value.");
  }
  for (const word of [...(settings.argv ?? []), ...(settings.entrypoint ?? [])]) {
    if (target === 'argo' && word.includes('{{')) refuse(job, 'command', word, target, "'{{' starts an Argo variable. Remove the braces from the argument.");
  }
}

/** A job's templates read into memory (files a ConfigMap can hold). */
async function readTemplates(job: SimJob, settings: NormalizedSettings, mountPath: string, target: ExportTarget): Promise<ExportTemplate[]> {
  const resolved = await resolveTemplates(job.name, settings.templates ?? [], mountPath);
  return Promise.all(
    resolved.map(async (template, i): Promise<ExportTemplate> => {
      let content: Buffer;
      let mode: number;
      if (template.kind === 'content') {
        ({ content, mode } = template);
      } else {
        if (template.isDirectory) refuse(job.name, `templates[${i}]`, template.source, target, 'a ConfigMap holds files, not folders. List the folder\'s files as templates, or build them into the image.');
        content = await readFile(template.source);
        mode = (await stat(template.source)).mode & 0o777;
      }
      if (content.length > MAX_TEMPLATE_BYTES) {
        refuse(job.name, `templates[${i}]`, template.target, target, `the file is ${content.length} bytes and a ConfigMap holds at most 1 MiB. Build it into the image, or put it on the volume claim and read it from there.`);
      }
      return { target: template.target, content, mode };
    }),
  );
}

function podSettingsOf(settings: NormalizedSettings): PodSettings {
  const user = settings.user === undefined ? undefined : /^(\d+)(?::(\d+))?$/.exec(settings.user);
  return {
    workingDir: settings.workingDir,
    user: user ? { uid: Number(user[1]), gid: user[2] === undefined ? undefined : Number(user[2]) } : undefined,
    labels: settings.labels ?? {},
    nanoCpus: settings.nanoCpus,
    memoryBytes: settings.memoryBytes,
    gpus: typeof settings.gpus === 'number' ? settings.gpus : undefined,
    timeoutMs: settings.timeoutMs,
    retries: settings.retries ?? 0,
    retryOn: Array.isArray(settings.retryOn) ? settings.retryOn : ['engine-error'],
    backoff: settings.backoff,
    noNetwork: settings.network === 'none',
    readOnlyRootfs: settings.readOnlyRootfs ?? false,
    capDrop: settings.capDrop ?? [],
    capAdd: settings.capAdd ?? [],
    noNewPrivileges: settings.noNewPrivileges ?? false,
    tmpfs: settings.tmpfs ?? [],
    init: settings.init ?? false,
  };
}

/** The settings of `settings` one pod template holds. */
function podPart(settings: NormalizedSettings): Record<string, unknown> {
  return Object.fromEntries(POD_KEYS.map((key) => [key, settings[key]]));
}

function configOf(source: ExportSource): { config: Readonly<NormalizedManagerOptions>; jobs: Iterable<SimJob | SimJobOptions> } {
  if ('config' in source) return { config: source.config, jobs: source.simJobs };
  return { config: normalizeManagerOptions(source.options), jobs: source.jobs };
}

/**
 * Reads a sweep for export: every job's settings merged with the defaults and checked for what the target can
 * express, its templates read. What a pod template holds (user, resources, retries, hardening...) must be the
 * same for every job: one pod template runs them all.
 */
export async function readExportSweep(source: ExportSource, target: ExportTarget): Promise<ExportSweep> {
  const { config, jobs: given } = configOf(source);
  if (config.executionMode === 'pool') {
    throw new ValidationError('executionMode', 'pool', `executionMode 'pool' runs jobs in long-lived local containers; on ${TARGET_NAMES[target]} each job is a pod. Remove executionMode for the export.`);
  }
  const jobs: ExportJob[] = [];
  let first: { name: string; pod: Record<string, unknown>; settings: NormalizedSettings } | undefined;
  for (const item of given) {
    const job = item instanceof SimJob ? item : new SimJob(item);
    const own = mergeSettings(config.defaults, job.settings);
    const settings = applySecurityPreset(own);
    checkExpressible(job.name, own, settings, target);
    checkLabels(settings.labels ?? {}, `jobs[${job.name}].labels`);
    const pod = podPart(settings);
    if (first === undefined) {
      first = { name: job.name, pod, settings };
    } else {
      const differs = POD_KEYS.find((key) => !isDeepStrictEqual(pod[key], first?.pod[key]));
      if (differs !== undefined) {
        const setting = SETTING_NAMES[differs] ?? differs;
        refuse(job.name, setting, settings[differs], target, `one pod template runs every job, and job ${first.name} has a different ${setting}. Give all jobs the same ${setting}, or export them as separate sweeps.`);
      }
    }
    jobs.push({ name: job.name, command: settings.argv, entrypoint: settings.entrypoint, env: settings.env ?? {}, templates: await readTemplates(job, settings, config.mountPath, target) });
  }
  if (first === undefined) throw new ValidationError('jobs', [], 'The sweep has no jobs to export.');
  return {
    image: config.imageReference,
    pullPolicy: config.pullPolicy,
    maxWorkers: Math.min(config.maxWorkers, jobs.length),
    mountPath: config.mountPath,
    stopGracePeriodMs: config.stopGracePeriodMs,
    failFast: config.failFast,
    maxFailures: config.maxFailures,
    jobs,
    pod: podSettingsOf(first.settings),
  };
}

