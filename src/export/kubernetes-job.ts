import { ValidationError } from '../errors/validation-error.js';
import { shellQuote } from '../util/shell-quote-word.js';
import { normalizeClusterOptions, type ClusterOptions, type NormalizedClusterOptions } from './cluster-options.js';
import { chunkedConfigMaps } from './config-maps.js';
import { readExportSweep, type ExportJob, type ExportSource, type ExportSweep } from './export-sweep.js';
import { jobVariation, type JobVariation, type TemplateSlot } from './job-variation.js';
import type { KubernetesObject } from './kubernetes-object.js';
import { literal } from './kubernetes-names.js';
import { CLAIM_VOLUME, MAIN_CONTAINER, clusterPodFields, containerSecurity, denyAllNetwork, envEntries, imagePullPolicy, objectMeta, podSecurity, processFields, resources, sweepLabels, tmpfsVolumes } from './pod-parts.js';
import { PREPARE_FOLDER } from './prepare-folder.js';
import { relativeTarget, templateKey, templateVolumeName, templateVolumes, TEMPLATES_DIR } from './template-volumes.js';
import { isUnderMountPath } from '../util/under-mount-path.js';

/**
 * The most completions one Indexed Job gets: the API server caps `maxFailedIndexes` (and, above it, parallelism)
 * for larger ones (batch/v1 validation: completionsSoftLimit). A larger sweep becomes several Jobs.
 */
export const MAX_COMPLETIONS_PER_JOB = 100_000;

/** The env variable every container of a pod gets with its completion index (from the pod's annotation). */
const INDEX_ENV = 'DSIM_INDEX';
const JOBS_DIR = '/dsim/jobs';
const CLAIM_DIR = '/dsim/claim';

/** Where the prepare step links each index to its job's folder, in the claim. */
function linksDir(jobName: string): string {
  return `.docker-sim-manager/kubernetes/${jobName}`;
}

/**
 * What the prepare step (the pod's init container) runs, the same for every index: it reads its index's file,
 * makes the job's folder `job_<name>` in the claim (an earlier attempt's files set aside in `.attempt-<n>`, as
 * a local retry does), links the index to it (the main container mounts that link), and writes the templates
 * that go into the folder.
 */
function prepareScript(jobName: string): string {
  const links = linksDir(jobName);
  return `set -eu
. "${JOBS_DIR}/$${INDEX_ENV}.sh"
cd ${CLAIM_DIR}
${PREPARE_FOLDER}
mkdir -p ${links}
ln -sfn "../../../$folder" "${links}/$${INDEX_ENV}"
prepare
`;
}

/** The file of one index: its job's folder, the templates to write there, and (when jobs differ) its process. */
function indexFile(job: ExportJob, position: number, sweep: ExportSweep, variation: JobVariation): string {
  const puts = variation.templates
    .filter((slot) => isUnderMountPath(job.templates[slot.k]?.target ?? '', sweep.mountPath))
    .map((slot) => {
      const template = job.templates[slot.k] as ExportJob['templates'][number];
      return `put ${slot.k} ${templateKey(slot, position)} ${shellQuote(relativeTarget(template.target, sweep.mountPath))} ${template.mode.toString(8)}`;
    });
  const lines = [`# job ${job.name}`, `folder=${shellQuote(`job_${job.name}`)}`, `prepare() { ${[...puts, ':'].join('; ')}; }`];
  if (variation.isProcessVaried || variation.variedEnv.length > 0) {
    const exports = variation.variedEnv.filter((key) => job.env[key] !== undefined).map((key) => `export ${key}=${shellQuote(job.env[key] as string)}`);
    const argv = [...(job.entrypoint ?? []), ...(job.command ?? [])].map(shellQuote).join(' ');
    lines.push(`run() { ${[...exports, `exec ${argv}`].join('; ')}; }`);
  }
  return `${lines.join('\n')}\n`;
}

/** A process that differs per index runs through the index's file: its entrypoint must then be known. */
function checkProcess(sweep: ExportSweep, variation: JobVariation, cluster: NormalizedClusterOptions): void {
  const needsScript = variation.isProcessVaried || variation.variedEnv.length > 0;
  if (!needsScript) return;
  const job = sweep.jobs[0] as ExportJob;
  if (!cluster.shell) {
    const what = variation.isProcessVaried ? 'command' : `env.${variation.variedEnv[0]}`;
    throw new ValidationError(
      `jobs[${(sweep.jobs[1] ?? job).name}].${what}`,
      what,
      `The jobs differ in ${what}, and kubernetes.shell is false: without a shell in the image, every index of the Job runs the same command and env. Use an image with /bin/sh (and remove shell: false), or export to Argo (--to argo), which passes each job its own values.`,
    );
  }
  if (job.entrypoint === undefined) {
    throw new ValidationError(
      'entrypoint',
      undefined,
      "The jobs differ in their command or env, so each pod starts them through a small /bin/sh script, which replaces the image's ENTRYPOINT. Set `entrypoint` in the sweep to the image's (see: docker image inspect -f '{{json .Config.Entrypoint}}' IMAGE); when the image has none, make the first word of `command` the entrypoint.",
    );
  }
}

/** Templates mounted on their own, outside the job folder: the same target for every job. */
function mountedTemplates(sweep: ExportSweep, variation: JobVariation, cluster: NormalizedClusterOptions): TemplateSlot[] {
  const mounted = variation.templates.filter((slot) => !cluster.shell || !isUnderMountPath(sweep.jobs[0]?.templates[slot.k]?.target ?? '', sweep.mountPath));
  for (const slot of mounted) {
    const target = sweep.jobs.map((job) => job.templates[slot.k]?.target ?? '').find((t) => isUnderMountPath(t, sweep.mountPath));
    if (target !== undefined) {
      throw new ValidationError(
        `templates[${slot.k}].target`,
        target,
        `Template ${slot.k} goes into the job folder (${target}), and kubernetes.shell is false: without a shell no prepare step can write it there, and a file mounted over the folder would be read-only and empty on the claim. Use a target outside the mount path, or an image with /bin/sh.`,
      );
    }
    if (slot.target === undefined || slot.mode === undefined) {
      const what = slot.target === undefined ? 'target' : 'mode';
      throw new ValidationError(`templates[${slot.k}].${what}`, what, `Template ${slot.k} has a ${what} that differs between jobs; outside the job folder a template is mounted at one path, with one mode, for every index. Give it the same ${what} in every job${cluster.shell ? ', or put it under the mount path' : ''}.`);
    }
  }
  return mounted;
}

/** podFailurePolicy rules for `retryOn`: which failed pods count against an index's retries, and which fail it at once. */
function podFailurePolicy(sweep: ExportSweep): Record<string, unknown> | undefined {
  const { retries, retryOn, timeoutMs } = sweep.pod;
  if (retries === 0) return undefined;
  const has = (reason: string): boolean => retryOn.includes(reason as never);
  if (timeoutMs !== undefined && has('timeout') !== has('exit-code')) {
    throw new ValidationError(
      'retryOn',
      retryOn,
      "On Kubernetes a pod stopped at its deadline (timeout) ends as a failed container, as a non-zero exit does: retries cannot tell them apart. With a timeout, list both 'timeout' and 'exit-code' in retryOn, or neither.",
    );
  }
  const rules: unknown[] = [];
  // Disruptions (node drain, preemption, eviction) are the cluster's failures: the engine errors of a local run.
  // First, so that a disrupted pod's exit code (143, 137) is not taken for the job's own.
  rules.push({ action: has('engine-error') ? 'Count' : 'FailIndex', onPodConditions: [{ type: 'DisruptionTarget' }] });
  // 137 is a SIGKILL: the OOM killer's (or the deadline's, when the process ignores SIGTERM).
  if (has('oom') && !has('exit-code')) rules.push({ action: 'Count', onExitCodes: { containerName: MAIN_CONTAINER, operator: 'In', values: [137] } });
  if (!has('exit-code')) rules.push({ action: 'FailIndex', onExitCodes: { containerName: MAIN_CONTAINER, operator: 'NotIn', values: [0] } });
  return { rules };
}

function checkBackoff(sweep: ExportSweep): void {
  if (sweep.pod.backoff !== undefined) {
    throw new ValidationError('backoff', sweep.pod.backoff, 'Kubernetes waits before a retried pod as it always does (10 s, doubling up to 6 minutes); its backoff cannot be set. Remove backoff for the Kubernetes export, or export to Argo (--to argo), which sets it.');
  }
}

/** What every part of a sweep shares, worked out (and checked) once before any object is built. */
interface SweepPlan {
  sweep: ExportSweep;
  variation: JobVariation;
  cluster: NormalizedClusterOptions;
  /** The templates the main container mounts on their own (not written into the job folder). */
  mounted: TemplateSlot[];
  failurePolicy: Record<string, unknown> | undefined;
}

/** One part of a sweep: its jobs, its Job's name and parallelism, and the prefix of its folders without the shell. */
interface SweepPart {
  jobs: readonly ExportJob[];
  name: string;
  parallelism: number;
  folderPrefix: string;
}

/** One Indexed Job, its ConfigMaps of per-index files and templates, for the jobs of one part of the sweep. */
function indexedJob(plan: SweepPlan, part: SweepPart): KubernetesObject[] {
  const { sweep, variation, cluster, mounted, failurePolicy } = plan;
  const { jobs, name, parallelism, folderPrefix } = part;
  const metadata = objectMeta(sweep, cluster, name);
  const labels = sweepLabels(sweep, cluster);
  const { pod } = sweep;
  const templates = templateVolumes(name, variation.templates, jobs, metadata);
  const isScripted = cluster.shell;
  const needsRun = variation.isProcessVaried || variation.variedEnv.length > 0;
  const indexFiles = isScripted ? chunkedConfigMaps(`${name}-jobs`, jobs.map((job, i) => [`${i}.sh`, indexFile(job, i, sweep, variation)] as const), metadata) : [];
  const tmpfs = tmpfsVolumes(pod);
  const indexEnv = { name: INDEX_ENV, valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } } };
  const jobsMount = { name: 'jobs', mountPath: JOBS_DIR, readOnly: true };
  const templateMounts = mounted.map((slot) => ({
    name: templateVolumeName(slot),
    mountPath: slot.target as string,
    readOnly: true,
    ...(slot.shared ? { subPath: templateKey(slot, 0) } : { subPathExpr: templateKey(slot, `$(${INDEX_ENV})`) }),
  }));
  const envFrom = cluster.envFromSecrets.map((secret) => ({ secretRef: { name: secret } }));
  const main = {
    name: MAIN_CONTAINER,
    image: sweep.image,
    imagePullPolicy: imagePullPolicy(sweep),
    ...(needsRun ? { command: ['/bin/sh', '-c', `. "${JOBS_DIR}/$${INDEX_ENV}.sh" && run`] } : processFields(sweep.jobs[0]?.entrypoint, sweep.jobs[0]?.command)),
    ...(pod.workingDir === undefined ? {} : { workingDir: pod.workingDir }),
    env: [indexEnv, ...envEntries(variation.sharedEnv)],
    ...(envFrom.length > 0 ? { envFrom } : {}),
    ...(resources(pod) ? { resources: resources(pod) } : {}),
    ...(containerSecurity(pod) ? { securityContext: containerSecurity(pod) } : {}),
    volumeMounts: [
      // With the shell, the index's link (made by the prepare step) leads to job_<name>; without, a folder per index.
      { name: CLAIM_VOLUME, mountPath: sweep.mountPath, subPathExpr: isScripted ? `${linksDir(name)}/$(${INDEX_ENV})` : `${folderPrefix}index_$(${INDEX_ENV})` },
      ...(needsRun ? [jobsMount] : []),
      ...templateMounts,
      ...tmpfs.mounts,
    ],
  };
  const prepare = {
    name: 'prepare',
    image: sweep.image,
    imagePullPolicy: imagePullPolicy(sweep),
    command: ['/bin/sh', '-c', literal(prepareScript(name))],
    env: [indexEnv],
    ...(containerSecurity(pod) ? { securityContext: containerSecurity(pod) } : {}),
    volumeMounts: [{ name: CLAIM_VOLUME, mountPath: CLAIM_DIR }, jobsMount, ...variation.templates.map((slot) => ({ name: templateVolumeName(slot), mountPath: `${TEMPLATES_DIR}/${slot.k}`, readOnly: true }))],
  };
  const volumes = [
    { name: CLAIM_VOLUME, persistentVolumeClaim: { claimName: cluster.volumeClaim } },
    ...(indexFiles.length > 0 ? [{ name: 'jobs', projected: { sources: indexFiles.map((map) => ({ configMap: { name: map.metadata.name } })) } }] : []),
    ...templates.volumes,
    ...tmpfs.volumes,
  ];
  const maxFailedIndexes = sweep.failFast ? 0 : sweep.maxFailures === undefined ? undefined : Math.min(sweep.maxFailures - 1, jobs.length);
  const job: KubernetesObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { ...metadata, annotations: { 'docker-sim-manager/jobs': String(jobs.length), 'docker-sim-manager/first-job': jobs[0]?.name ?? '' } },
    spec: {
      completionMode: 'Indexed',
      completions: jobs.length,
      parallelism,
      backoffLimitPerIndex: pod.retries,
      ...(maxFailedIndexes === undefined ? {} : { maxFailedIndexes }),
      ...(failurePolicy ? { podFailurePolicy: failurePolicy } : {}),
      ttlSecondsAfterFinished: cluster.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          ...(pod.timeoutMs === undefined ? {} : { activeDeadlineSeconds: Math.max(1, Math.ceil(pod.timeoutMs / 1000)) }),
          terminationGracePeriodSeconds: Math.ceil(sweep.stopGracePeriodMs / 1000),
          ...(pod.init ? { shareProcessNamespace: true } : {}),
          ...(podSecurity(pod) ? { securityContext: podSecurity(pod) } : {}),
          ...clusterPodFields(cluster),
          ...(isScripted ? { initContainers: [prepare] } : {}),
          containers: [main],
          volumes,
        },
      },
    },
  };
  return [...indexFiles, ...templates.configMaps, job];
}

/**
 * The sweep as Kubernetes objects: one `batch/v1` Job in Indexed completion mode (completions = jobs,
 * parallelism = `maxWorkers`, `backoffLimitPerIndex` = `retries`), with ConfigMaps holding each index's job (its
 * folder, and its command and env when they differ) and the templates. Every object stays below the API's
 * size limits by construction: ConfigMaps are split, and a sweep above `MAX_COMPLETIONS_PER_JOB` jobs becomes
 * several Jobs (`<name>-p<n>`) sharing `maxWorkers`. Whatever a job sets that Kubernetes cannot express is a
 * `ValidationError` naming the job and the setting; nothing is dropped. See docs/kubernetes.md.
 *
 * @example
 * ```ts
 * import { stringify } from 'yaml';
 * const objects = await toKubernetes({ options: { image: 'sim:1', dataDirectory: 'out' }, jobs: [{ name: 'a', command: ['-n', '1'] }] }, { volumeClaim: 'sim-outputs' });
 * console.log(objects.map((o) => stringify(o)).join('---\n'));
 * ```
 */
export async function toKubernetes(source: ExportSource, options: ClusterOptions): Promise<KubernetesObject[]> {
  const cluster = normalizeClusterOptions(options);
  const sweep = await readExportSweep(source, 'kubernetes');
  checkBackoff(sweep);
  const failurePolicy = podFailurePolicy(sweep);
  const variation = jobVariation(sweep);
  checkProcess(sweep, variation, cluster);
  const plan: SweepPlan = { sweep, variation, cluster, mounted: mountedTemplates(sweep, variation, cluster), failurePolicy };
  const parts = Math.ceil(sweep.jobs.length / MAX_COMPLETIONS_PER_JOB);
  const objects: KubernetesObject[] = [...denyAllNetwork(sweep, cluster)];
  for (let p = 0; p < parts; p++) {
    const jobs = sweep.jobs.slice(p * MAX_COMPLETIONS_PER_JOB, (p + 1) * MAX_COMPLETIONS_PER_JOB);
    const name = parts === 1 ? cluster.name : `${cluster.name}-p${p}`;
    const parallelism = Math.min(jobs.length, Math.max(1, Math.floor(sweep.maxWorkers / parts)));
    // Without the shell, folders are named by index: the parts of a big sweep keep theirs apart.
    objects.push(...indexedJob(plan, { jobs, name, parallelism, folderPrefix: parts === 1 ? '' : `p${p}_` }));
  }
  return objects;
}
