import { isDeepStrictEqual } from 'node:util';
import { ValidationError } from '../errors/validation-error.js';
import { normalizeClusterOptions, type ClusterOptions, type NormalizedClusterOptions } from './cluster-options.js';
import { chunkedConfigMaps, MAX_CONFIG_MAP_DATA } from './config-maps.js';
import { readExportSweep, type ExportJob, type ExportSource, type ExportSweep } from './export-sweep.js';
import { PREPARE_FOLDER } from './prepare-folder.js';
import { shellQuote } from '../util/shell-quote-word.js';
import { jobVariation, type JobVariation, type TemplateSlot } from './job-variation.js';
import type { KubernetesObject } from './kubernetes-object.js';
import { labelValue, literal } from './kubernetes-names.js';
import { LABELS } from '../runtime/labels.js';
import { CLAIM_VOLUME, MAIN_CONTAINER, clusterPodFields, containerSecurity, denyAllNetwork, envEntries, imagePullPolicy, objectMeta, podSecurity, resources, sweepLabels, tmpfsVolumes } from './pod-parts.js';
import { relativeTarget, templateKey, templateVolumeName, templateVolumes, TEMPLATES_DIR } from './template-volumes.js';
import { isUnderMountPath } from '../util/under-mount-path.js';

/** Items written into the Workflow itself up to this size; beyond, they move into ConfigMaps (`withParam`). */
export const MAX_INLINE_ITEMS_BYTES = 256 * 1024;

/** The per-job values the fan-out passes to the job template: argv positions and env values that differ. */
interface ItemFields {
  /** Positions of `command` that differ between jobs. */
  argPositions: number[];
  variedEnv: string[];
}

function itemFields(sweep: ExportSweep, variation: JobVariation): ItemFields {
  const [first, ...rest] = sweep.jobs as [ExportJob, ...ExportJob[]];
  for (const job of rest) {
    if (!isDeepStrictEqual(job.entrypoint, first.entrypoint)) {
      throw new ValidationError(`jobs[${job.name}].entrypoint`, job.entrypoint, `Job ${job.name} has another entrypoint than job ${first.name}: one Argo template runs every job, and only its arguments and env take each job's values. Give all jobs the same entrypoint.`);
    }
    if ((job.command?.length ?? -1) !== (first.command?.length ?? -1)) {
      throw new ValidationError(`jobs[${job.name}].command`, job.command, `Job ${job.name} has ${job.command?.length ?? 0} arguments and job ${first.name} ${first.command?.length ?? 0}: an Argo template has a fixed list of arguments, each of which may take each job's value. Give all jobs as many arguments.`);
    }
  }
  for (const key of variation.variedEnv) {
    const lacking = sweep.jobs.find((job) => job.env[key] === undefined);
    if (lacking) throw new ValidationError(`jobs[${lacking.name}].env.${key}`, undefined, `Job ${lacking.name} has no env ${key}, which other jobs set: an Argo template sets the same env names for every job. Give every job a value for ${key}.`);
  }
  const argPositions = (first.command ?? []).map((_, i) => i).filter((i) => rest.some((job) => job.command?.[i] !== first.command?.[i]));
  return { argPositions, variedEnv: variation.variedEnv };
}

/** One job's item: its position, name, label value, and its own values. */
function itemOf(job: ExportJob, position: number, fields: ItemFields): Record<string, string> {
  return {
    i: String(position),
    name: job.name,
    label: labelValue(job.name),
    // Kubernetes expands $(VAR) in what Argo substitutes into args and env: escaped, as everywhere.
    ...Object.fromEntries(fields.argPositions.map((p) => [`a${p}`, literal(job.command?.[p] ?? '')])),
    ...Object.fromEntries(fields.variedEnv.map((key, k) => [`e${k}`, literal(job.env[key] ?? '')])),
  };
}

/** retryStrategy from `retries`, `retryOn` and `backoff`: Argo's expression says which ends are retried. */
function retryStrategy(sweep: ExportSweep): Record<string, unknown> | undefined {
  const { retries, retryOn, backoff } = sweep.pod;
  if (retries === 0) return undefined;
  const clauses: Record<string, string> = {
    'engine-error': 'lastRetry.status == "Error"',
    timeout: 'lastRetry.message matches "deadline"',
    oom: '(asInt(lastRetry.exitCode) == 137 && !(lastRetry.message matches "deadline"))',
    'exit-code': '(lastRetry.status == "Failed" && asInt(lastRetry.exitCode) != 137 && !(lastRetry.message matches "deadline"))',
  };
  const chosen = Object.keys(clauses).filter((reason) => retryOn.includes(reason as never));
  return {
    limit: retries,
    retryPolicy: 'Always',
    ...(chosen.length === Object.keys(clauses).length ? {} : { expression: chosen.map((reason) => clauses[reason]).join(' || ') }),
    ...(backoff === undefined
      ? {}
      : // `cap` bounds each wait (Argo 3.6+); Argo's maxDuration would bound the whole retry window instead.
        { backoff: { duration: `${Math.round((backoff.initialDelayMs ?? 1000) / 1000)}s`, factor: backoff.factor ?? 2, cap: `${Math.round((backoff.maxDelayMs ?? 60_000) / 1000)}s` } }),
  };
}

/** Every template has one target and mode for all jobs (its file may differ per job). */
function checkTemplateSlots(slots: readonly TemplateSlot[]): void {
  for (const slot of slots) {
    if (slot.target === undefined || slot.mode === undefined) {
      const what = slot.target === undefined ? 'target' : 'mode';
      throw new ValidationError(`templates[${slot.k}].${what}`, what, `Template ${slot.k} has a ${what} that differs between jobs; an Argo template writes or mounts it at one path, with one mode, for every job. Give it the same ${what} in every job.`);
    }
  }
}

/** Templates outside the job folder, mounted read-only at their targets; a file per job is chosen by its position. */
function templateMounts(slots: readonly TemplateSlot[]): unknown[] {
  return slots.map((slot) => ({ name: templateVolumeName(slot), mountPath: slot.target as string, readOnly: true, subPath: slot.shared ? templateKey(slot, 0) : templateKey(slot, '{{inputs.parameters.i}}') }));
}

/**
 * The job template's prepare step (an init container with the sweep's image and its /bin/sh): it sets aside an
 * earlier attempt's files in `.attempt-<n>`, as a local retry does, and writes the templates that go into the
 * job folder. Undefined when there is nothing to do (no retries, no such templates).
 */
function prepareStep(sweep: ExportSweep, inFolder: readonly TemplateSlot[], cluster: NormalizedClusterOptions): Record<string, unknown> | undefined {
  if (sweep.pod.retries === 0 && inFolder.length === 0) return undefined;
  if (!cluster.shell) {
    if (inFolder.length === 0) return undefined;
    const slot = inFolder[0] as TemplateSlot;
    throw new ValidationError(`templates[${slot.k}].target`, slot.target, `Template ${slot.k} goes into the job folder (${slot.target}), and kubernetes.shell is false: without a shell no prepare step can write it there, and a file mounted over the folder would be read-only and empty on the claim. Use a target outside the mount path, or an image with /bin/sh.`);
  }
  const puts = inFolder.map((slot) => `put ${slot.k} ${templateKey(slot, '{{inputs.parameters.i}}')} ${shellQuote(relativeTarget(slot.target as string, sweep.mountPath))} ${(slot.mode as number).toString(8)}`);
  return {
    name: 'prepare',
    image: sweep.image,
    imagePullPolicy: imagePullPolicy(sweep),
    command: ['/bin/sh', '-c', literal(['set -eu', 'folder=/dsim/folder', PREPARE_FOLDER, ...puts, ''].join('\n'))],
    ...(containerSecurity(sweep.pod) ? { securityContext: containerSecurity(sweep.pod) } : {}),
    volumeMounts: [{ name: CLAIM_VOLUME, mountPath: '/dsim/folder', subPath: 'job_{{inputs.parameters.name}}' }, ...inFolder.map((slot) => ({ name: templateVolumeName(slot), mountPath: `${TEMPLATES_DIR}/${slot.k}`, readOnly: true }))],
  };
}

/** The fan-out over the jobs: items in the Workflow, or (when large) in ConfigMaps read by `withParam`. */
function fanOut(name: string, items: Array<Record<string, string>>, fields: ItemFields, metadata: KubernetesObject['metadata']): { steps: unknown[]; parameters: unknown[]; configMaps: KubernetesObject[] } {
  const parameters = ['i', 'name', 'label', ...fields.argPositions.map((p) => `a${p}`), ...fields.variedEnv.map((_, k) => `e${k}`)].map((field) => ({ name: field, value: `{{item.${field}}}` }));
  const step = { name: 'job', template: 'job', arguments: { parameters } };
  if (Buffer.byteLength(JSON.stringify(items)) <= MAX_INLINE_ITEMS_BYTES) return { steps: [{ ...step, withItems: items }], parameters: [], configMaps: [] };
  // Lists of items, each a ConfigMap value below the ConfigMap limit.
  const lists: Array<Array<Record<string, string>>> = [[]];
  let size = 2;
  for (const item of items) {
    // The list is stored as one JSON string value, escaped again: count that size.
    const itemSize = Buffer.byteLength(JSON.stringify(JSON.stringify(item))) - 1;
    if (size + itemSize > MAX_CONFIG_MAP_DATA - 64) {
      lists.push([]);
      size = 2;
    }
    lists[lists.length - 1]?.push(item);
    size += itemSize;
  }
  const configMaps = lists.flatMap((list, n) => chunkedConfigMaps(`${name}-items-${n}`, [['items', JSON.stringify(list)]], metadata));
  return {
    steps: configMaps.map((map, n) => ({ ...step, name: `jobs-${n}`, withParam: `{{workflow.parameters.items-${n}}}` })),
    parameters: configMaps.map((map, n) => ({ name: `items-${n}`, valueFrom: { configMapKeyRef: { name: map.metadata.name, key: 'items' } } })),
    configMaps,
  };
}

/**
 * The sweep as an Argo Workflow: one container template fanned out over the jobs (`withItems`, or `withParam`
 * from ConfigMaps when the list is large), `parallelism` = `maxWorkers`, `retryStrategy` from `retries`,
 * `retryOn` and `backoff`, `activeDeadlineSeconds` from `timeout`, `podGC` and `ttlStrategy` so nothing hangs
 * around; each job's folder `job_<name>` on the claim. Returns the ConfigMaps the Workflow reads, then the
 * Workflow. Whatever a job sets that Argo cannot express is a `ValidationError`. See docs/kubernetes.md.
 *
 * @example
 * ```ts
 * const objects = await toArgoWorkflow({ options: { image: 'sim:1', dataDirectory: 'out', maxWorkers: 8 }, jobs: [{ name: 'a', command: ['-n', '1'] }, { name: 'b', command: ['-n', '2'] }] }, { volumeClaim: 'sim-outputs' });
 * console.log(objects.at(-1)?.kind); // 'Workflow'
 * ```
 */
export async function toArgoWorkflow(source: ExportSource, options: ClusterOptions): Promise<KubernetesObject[]> {
  const cluster: NormalizedClusterOptions = normalizeClusterOptions(options);
  const sweep = await readExportSweep(source, 'argo');
  if (sweep.maxFailures !== undefined) {
    throw new ValidationError('maxFailures', sweep.maxFailures, 'Argo stops a fan-out at its first failure (failFast) or never; it cannot stop after n failures. Use failFast, or remove maxFailures for the Argo export.');
  }
  const variation = jobVariation(sweep);
  const fields = itemFields(sweep, variation);
  checkTemplateSlots(variation.templates);
  const inFolder = variation.templates.filter((slot) => isUnderMountPath(slot.target as string, sweep.mountPath));
  const mounts = templateMounts(variation.templates.filter((slot) => !inFolder.includes(slot)));
  const prepare = prepareStep(sweep, inFolder, cluster);
  const { pod } = sweep;
  const metadata = objectMeta(sweep, cluster, cluster.name);
  const templates = templateVolumes(cluster.name, variation.templates, sweep.jobs, metadata);
  const items = sweep.jobs.map((job, i) => itemOf(job, i, fields));
  const fan = fanOut(cluster.name, items, fields, metadata);
  const tmpfs = tmpfsVolumes(pod);
  const first = sweep.jobs[0] as ExportJob;
  const args = first.command?.map((word, p) => (fields.argPositions.includes(p) ? `{{inputs.parameters.a${p}}}` : literal(word)));
  const envFrom = cluster.envFromSecrets.map((secret) => ({ secretRef: { name: secret } }));
  const strategy = retryStrategy(sweep);
  const workflow: KubernetesObject = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata,
    spec: {
      entrypoint: 'sweep',
      parallelism: sweep.maxWorkers,
      ...(fan.parameters.length > 0 ? { arguments: { parameters: fan.parameters } } : {}),
      // Pods of finished jobs go at once when they succeeded; failed ones stay (with their logs) until the TTL.
      podGC: { strategy: 'OnPodSuccess' },
      ttlStrategy: { secondsAfterCompletion: cluster.ttlSecondsAfterFinished },
      podMetadata: { labels: sweepLabels(sweep, cluster) },
      ...clusterPodFields(cluster),
      ...(podSecurity(pod) ? { securityContext: podSecurity(pod) } : {}),
      volumes: [{ name: CLAIM_VOLUME, persistentVolumeClaim: { claimName: cluster.volumeClaim } }, ...templates.volumes, ...tmpfs.volumes],
      templates: [
        { name: 'sweep', ...(sweep.failFast ? { failFast: true } : {}), steps: [fan.steps] },
        {
          name: 'job',
          inputs: { parameters: [{ name: 'i' }, { name: 'name' }, { name: 'label' }, ...fields.argPositions.map((p) => ({ name: `a${p}` })), ...fields.variedEnv.map((_, k) => ({ name: `e${k}` }))] },
          metadata: { labels: { [LABELS.job]: '{{inputs.parameters.label}}' } },
          ...(pod.timeoutMs === undefined ? {} : { activeDeadlineSeconds: Math.max(1, Math.ceil(pod.timeoutMs / 1000)) }),
          ...(strategy ? { retryStrategy: strategy } : {}),
          // Argo's template has no field for it: the pod spec is patched.
          podSpecPatch: JSON.stringify({ terminationGracePeriodSeconds: Math.ceil(sweep.stopGracePeriodMs / 1000) }),
          ...(prepare ? { initContainers: [prepare] } : {}),
          container: {
            name: MAIN_CONTAINER,
            image: sweep.image,
            imagePullPolicy: imagePullPolicy(sweep),
            ...(first.entrypoint === undefined ? {} : { command: first.entrypoint.map(literal) }),
            ...(args === undefined ? {} : { args }),
            ...(pod.workingDir === undefined ? {} : { workingDir: pod.workingDir }),
            env: [...envEntries(variation.sharedEnv), ...fields.variedEnv.map((key, k) => ({ name: key, value: `{{inputs.parameters.e${k}}}` }))],
            ...(envFrom.length > 0 ? { envFrom } : {}),
            ...(resources(pod) ? { resources: resources(pod) } : {}),
            ...(containerSecurity(pod) ? { securityContext: containerSecurity(pod) } : {}),
            volumeMounts: [{ name: CLAIM_VOLUME, mountPath: sweep.mountPath, subPath: 'job_{{inputs.parameters.name}}' }, ...mounts, ...tmpfs.mounts],
          },
        },
      ],
    },
  };
  return [...denyAllNetwork(sweep, cluster), ...templates.configMaps, ...fan.configMaps, workflow];
}
