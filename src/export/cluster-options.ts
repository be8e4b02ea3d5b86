import { ValidationError, describeValue } from '../errors/validation-error.js';
import { didYouMean } from '../util/closest-name.js';
import { checkLabels, DNS_LABEL, DNS_SUBDOMAIN } from './kubernetes-names.js';

/** A toleration of the pods, as Kubernetes writes it. */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

/**
 * Where and how a sweep runs on a cluster: what a local run does not need. Everything else (image, command,
 * parameters, env, templates, resources, retries, timeouts, security) comes from the sweep as written for a
 * local run.
 */
export interface ClusterOptions {
  /** The PersistentVolumeClaim that receives the outputs: each job's folder is `job_<name>` under it, mounted at `mountPath`. */
  volumeClaim: string;
  /** The Job's or Workflow's name (a DNS label); its ConfigMaps are named after it. @default 'dsim-sweep' */
  name?: string;
  /** @default the namespace of the kubectl context (no `namespace` field is written) */
  namespace?: string;
  serviceAccount?: string;
  /** Secrets holding the registry credentials of the image (`kubectl create secret docker-registry`). */
  imagePullSecrets?: readonly string[];
  nodeSelector?: Readonly<Record<string, string>>;
  tolerations?: readonly Toleration[];
  /** Extra labels on every object and pod. */
  labels?: Readonly<Record<string, string>>;
  /**
   * Secrets whose keys become env variables of every job (`envFrom`): where tokens and passwords go, since an
   * env value of the sweep is written into the exported YAML.
   */
  envFromSecrets?: readonly string[];
  /** How long the finished Job or Workflow (and what it keeps) stays before Kubernetes removes it. @default 86400 (a day) */
  ttlSecondsAfterFinished?: number;
  /**
   * Whether the image has a POSIX `/bin/sh`. With a shell, a small script in each pod makes the job's
   * `job_<name>` folder and passes the job's own arguments and env. Without one, every job must have the same
   * command and env, folders are named by the Kubernetes completion index (`index_<i>`), templates cannot go
   * into the job folder and a retry does not set the earlier attempt aside. Argo passes each job's values
   * itself and uses the shell only for its prepare step (retries, templates in the folder). @default true
   */
  shell?: boolean;
}

/** The options after checks, with defaults. */
export interface NormalizedClusterOptions {
  volumeClaim: string;
  name: string;
  namespace: string | undefined;
  serviceAccount: string | undefined;
  imagePullSecrets: string[];
  nodeSelector: Record<string, string>;
  tolerations: Toleration[];
  labels: Record<string, string>;
  envFromSecrets: string[];
  ttlSecondsAfterFinished: number;
  shell: boolean;
}

const KNOWN = ['volumeClaim', 'name', 'namespace', 'serviceAccount', 'imagePullSecrets', 'nodeSelector', 'tolerations', 'labels', 'envFromSecrets', 'ttlSecondsAfterFinished', 'shell'];
const TOLERATION_KEYS = ['key', 'operator', 'value', 'effect', 'tolerationSeconds'];
/** Room left in a name for the suffixes of the objects made from it (`-jobs-12`, `-t3-12`). */
export const MAX_NAME = 40;

function fail(field: string, value: unknown, expectation: string): never {
  throw new ValidationError(`kubernetes.${field}`, value, `Expected \`kubernetes.${field}\` to be ${expectation}, got ${describeValue(value)}.`);
}

function name(field: string, value: unknown, pattern: RegExp, max: number, what: string): string {
  if (typeof value !== 'string' || value.length > max || !pattern.test(value)) fail(field, value, `${what} of at most ${max} characters (lower-case letters, digits and '-', starting and ending with a letter or digit)`);
  return value;
}

function names(field: string, value: unknown): string[] {
  if (!Array.isArray(value)) fail(field, value, 'a list of names');
  return value.map((entry, i) => name(`${field}[${i}]`, entry, DNS_SUBDOMAIN, 253, 'a Kubernetes object name'));
}

function stringRecord(field: string, value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, value, 'a map of names to strings');
  for (const [key, entry] of Object.entries(value)) if (typeof entry !== 'string') fail(`${field}.${key}`, entry, 'a string');
  return { ...(value as Record<string, string>) };
}

function toleration(value: unknown, i: number): Toleration {
  const field = `tolerations[${i}]`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, value, 'an object { key, operator, value, effect }');
  const t = value as Record<string, unknown>;
  const unknown = Object.keys(t).find((key) => !TOLERATION_KEYS.includes(key));
  if (unknown !== undefined) throw new ValidationError(`kubernetes.${field}.${unknown}`, t[unknown], `Unknown toleration field \`${unknown}\`. ${didYouMean(unknown, TOLERATION_KEYS, `Use ${TOLERATION_KEYS.join(', ')}.`)}`);
  if (t.operator !== undefined && t.operator !== 'Exists' && t.operator !== 'Equal') fail(`${field}.operator`, t.operator, "'Exists' or 'Equal'");
  if (t.effect !== undefined && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect as string)) fail(`${field}.effect`, t.effect, "'NoSchedule', 'PreferNoSchedule' or 'NoExecute'");
  for (const key of ['key', 'value'] as const) if (t[key] !== undefined && typeof t[key] !== 'string') fail(`${field}.${key}`, t[key], 'a string');
  if (t.operator === 'Exists' && t.value !== undefined && t.value !== '') fail(`${field}.value`, t.value, "empty with operator 'Exists' (it matches any value)");
  if (t.tolerationSeconds !== undefined) {
    if (!Number.isInteger(t.tolerationSeconds)) fail(`${field}.tolerationSeconds`, t.tolerationSeconds, 'a whole number of seconds');
    if (t.effect !== 'NoExecute') fail(`${field}.effect`, t.effect, "'NoExecute' when tolerationSeconds is set (only evictions wait)");
  }
  return { ...(t as Toleration) };
}

/** Checks the cluster options field by field; every problem is a `ValidationError` naming `kubernetes.<field>`. */
export function normalizeClusterOptions(options: unknown): NormalizedClusterOptions {
  if (options === undefined) {
    throw new ValidationError('kubernetes', options, 'Exporting to a cluster needs `kubernetes.volumeClaim`: the PersistentVolumeClaim that receives the outputs. Add to the sweep file:\n  kubernetes:\n    volumeClaim: sim-outputs');
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail('', options, 'an object like { volumeClaim: "sim-outputs" }');
  const o = options as Record<string, unknown>;
  const unknown = Object.keys(o).find((key) => !KNOWN.includes(key));
  if (unknown !== undefined) throw new ValidationError(`kubernetes.${unknown}`, o[unknown], `Unknown option \`kubernetes.${unknown}\`. ${didYouMean(unknown, KNOWN, `Use ${KNOWN.join(', ')}.`)}`);
  if (o.volumeClaim === undefined) {
    throw new ValidationError('kubernetes.volumeClaim', undefined, '`kubernetes.volumeClaim` is required: the PersistentVolumeClaim (ReadWriteMany when jobs run on several nodes) that receives each job\'s folder.');
  }
  const labels = o.labels === undefined ? {} : stringRecord('labels', o.labels);
  checkLabels(labels, 'kubernetes.labels');
  const nodeSelector = o.nodeSelector === undefined ? {} : stringRecord('nodeSelector', o.nodeSelector);
  checkLabels(nodeSelector, 'kubernetes.nodeSelector');
  const ttl = o.ttlSecondsAfterFinished ?? 86_400;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0) fail('ttlSecondsAfterFinished', ttl, 'a whole number of seconds >= 0');
  if (o.shell !== undefined && typeof o.shell !== 'boolean') fail('shell', o.shell, 'true or false');
  if (o.tolerations !== undefined && !Array.isArray(o.tolerations)) fail('tolerations', o.tolerations, 'a list of tolerations');
  return {
    volumeClaim: name('volumeClaim', o.volumeClaim, DNS_SUBDOMAIN, 253, 'a PersistentVolumeClaim name'),
    name: name('name', o.name ?? 'dsim-sweep', DNS_LABEL, MAX_NAME, 'a DNS label'),
    namespace: o.namespace === undefined ? undefined : name('namespace', o.namespace, DNS_LABEL, 63, 'a namespace name'),
    serviceAccount: o.serviceAccount === undefined ? undefined : name('serviceAccount', o.serviceAccount, DNS_SUBDOMAIN, 253, 'a ServiceAccount name'),
    imagePullSecrets: o.imagePullSecrets === undefined ? [] : names('imagePullSecrets', o.imagePullSecrets),
    nodeSelector,
    tolerations: ((o.tolerations as unknown[] | undefined) ?? []).map(toleration),
    labels,
    envFromSecrets: o.envFromSecrets === undefined ? [] : names('envFromSecrets', o.envFromSecrets),
    ttlSecondsAfterFinished: ttl,
    shell: (o.shell as boolean | undefined) ?? true,
  };
}
