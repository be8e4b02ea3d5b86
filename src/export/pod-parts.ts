import { LABELS } from '../runtime/labels.js';
import type { NormalizedClusterOptions } from './cluster-options.js';
import type { ExportSweep, PodSettings } from './export-sweep.js';
import type { KubernetesObject, ObjectMeta } from './kubernetes-object.js';
import { literal } from './kubernetes-names.js';

/** The container that runs the job, in every pod. */
export const MAIN_CONTAINER = 'main';
/** The volume of the claim that receives the outputs. */
export const CLAIM_VOLUME = 'outputs';

/** Labels of every exported object and pod: who made it and which sweep it runs, plus the user's own. */
export function sweepLabels(sweep: ExportSweep, cluster: NormalizedClusterOptions): Record<string, string> {
  return { ...sweep.pod.labels, ...cluster.labels, 'app.kubernetes.io/managed-by': 'docker-sim-manager', [LABELS.run]: cluster.name };
}

/** metadata of an exported object. */
export function objectMeta(sweep: ExportSweep, cluster: NormalizedClusterOptions, name: string): ObjectMeta {
  return { name, ...(cluster.namespace === undefined ? {} : { namespace: cluster.namespace }), labels: sweepLabels(sweep, cluster) };
}

/** Kubernetes' quantity of a CPU count: millicores. */
function cpuQuantity(nanoCpus: number): string {
  return `${Math.max(1, Math.round(nanoCpus / 1e6))}m`;
}

/** Requests and limits: the same, so a job gets on the cluster what it got locally (and the scheduler knows it). */
export function resources(pod: PodSettings): Record<string, Record<string, string | number>> | undefined {
  const amounts: Record<string, string | number> = {
    ...(pod.nanoCpus === undefined ? {} : { cpu: cpuQuantity(pod.nanoCpus) }),
    ...(pod.memoryBytes === undefined ? {} : { memory: String(pod.memoryBytes) }),
  };
  const limits = { ...amounts, ...(pod.gpus === undefined ? {} : { 'nvidia.com/gpu': pod.gpus }) };
  if (Object.keys(limits).length === 0) return undefined;
  return { ...(Object.keys(amounts).length > 0 ? { requests: amounts } : {}), limits };
}

/** The main container's securityContext: the hardening a local container gets (`security: 'strict'` and its parts). */
export function containerSecurity(pod: PodSettings): Record<string, unknown> | undefined {
  const capabilities = {
    ...(pod.capDrop.length > 0 ? { drop: pod.capDrop.map((cap) => cap.replace(/^CAP_/, '')) } : {}),
    ...(pod.capAdd.length > 0 ? { add: pod.capAdd.map((cap) => cap.replace(/^CAP_/, '')) } : {}),
  };
  const context = {
    ...(pod.readOnlyRootfs ? { readOnlyRootFilesystem: true } : {}),
    ...(pod.noNewPrivileges ? { allowPrivilegeEscalation: false } : {}),
    ...(Object.keys(capabilities).length > 0 ? { capabilities } : {}),
  };
  return Object.keys(context).length > 0 ? context : undefined;
}

/** The pod's securityContext: the job's user as numeric ids. */
export function podSecurity(pod: PodSettings): Record<string, number> | undefined {
  if (pod.user === undefined) return undefined;
  return { runAsUser: pod.user.uid, ...(pod.user.gid === undefined ? {} : { runAsGroup: pod.user.gid }) };
}

/** Memory-backed volumes for `tmpfs` paths, as a local container gets them. */
export function tmpfsVolumes(pod: PodSettings): { volumes: unknown[]; mounts: unknown[] } {
  return {
    volumes: pod.tmpfs.map((_, i) => ({ name: `tmpfs-${i}`, emptyDir: { medium: 'Memory' } })),
    mounts: pod.tmpfs.map((target, i) => ({ name: `tmpfs-${i}`, mountPath: target })),
  };
}

/** env entries of values every job shares (`$(` escaped: Kubernetes would expand it). */
export function envEntries(env: Readonly<Record<string, string>>): Array<{ name: string; value: string }> {
  return Object.entries(env).map(([name, value]) => ({ name, value: literal(value) }));
}

/** What the pod spec takes from the cluster options: account, pull secrets, placement. */
export function clusterPodFields(cluster: NormalizedClusterOptions): Record<string, unknown> {
  return {
    ...(cluster.serviceAccount === undefined ? {} : { serviceAccountName: cluster.serviceAccount }),
    ...(cluster.imagePullSecrets.length > 0 ? { imagePullSecrets: cluster.imagePullSecrets.map((name) => ({ name })) } : {}),
    ...(Object.keys(cluster.nodeSelector).length > 0 ? { nodeSelector: cluster.nodeSelector } : {}),
    ...(cluster.tolerations.length > 0 ? { tolerations: cluster.tolerations } : {}),
  };
}

/** Kubernetes' imagePullPolicy for the package's pullPolicy. */
export function imagePullPolicy(sweep: ExportSweep): string {
  return { always: 'Always', missing: 'IfNotPresent', never: 'Never' }[sweep.pullPolicy];
}

/** `network: 'none'` as a NetworkPolicy that lets no traffic in or out of the sweep's pods. */
export function denyAllNetwork(sweep: ExportSweep, cluster: NormalizedClusterOptions): KubernetesObject[] {
  if (!sweep.pod.noNetwork) return [];
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: objectMeta(sweep, cluster, `${cluster.name}-no-network`),
      spec: { podSelector: { matchLabels: { [LABELS.run]: cluster.name } }, policyTypes: ['Ingress', 'Egress'] },
    },
  ];
}

/** The job's argv as container fields: `command` replaces the image's entrypoint, `args` its command. */
export function processFields(entrypoint: readonly string[] | undefined, command: readonly string[] | undefined): Record<string, string[]> {
  return {
    ...(entrypoint === undefined ? {} : { command: entrypoint.map(literal) }),
    ...(command === undefined ? {} : { args: command.map(literal) }),
  };
}
