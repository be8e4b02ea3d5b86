/**
 * An emulation of the kubelet, for the pods of an exported sweep (`toKubernetes`, `toArgoWorkflow`): their
 * containers run on the real Docker engine the way a node would run them. No Kubernetes cluster can run on the
 * test machines; this is the next best proof that each pod does what the same job does in a local run.
 *
 * It follows the kubelet's documented behaviour, and only that:
 *  - Pods of an Indexed Job (the Job controller's part): the completion index as the annotation and label
 *    `batch.kubernetes.io/job-completion-index`, the env `JOB_COMPLETION_INDEX` added to every container, the
 *    hostname `<job>-<index>`. Whether a failed pod's index gets another pod follows `podFailurePolicy` and
 *    `backoffLimitPerIndex`.
 *    https://kubernetes.io/docs/concepts/workloads/controllers/job/#completion-mode
 *    https://kubernetes.io/docs/concepts/workloads/controllers/job/#pod-failure-policy
 *    https://kubernetes.io/docs/concepts/workloads/controllers/job/#backoff-limit-per-index
 *  - Init containers run to completion, one after the other, before the main container; with
 *    `restartPolicy: Never` a failed one fails the pod.  https://kubernetes.io/docs/concepts/workloads/pods/init-containers/
 *  - `command` replaces the image's ENTRYPOINT (and drops its CMD), `args` its CMD.
 *    https://kubernetes.io/docs/tasks/inject-data-application/define-command-argument-container/#notes
 *  - `$(VAR)` expansion: `$$` is one `$`; in an env value, `$(NAME)` is the value of an env variable defined
 *    earlier in the list; in command and args, of any env variable of the container; an unresolved reference is
 *    left as it is. In `subPathExpr` every reference must resolve to a non-empty value, or the container cannot start.
 *    https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/
 *    https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#entrypoint
 *    https://kubernetes.io/docs/concepts/storage/volumes/#using-subpath-expanded-environment
 *  - env `valueFrom.fieldRef` of `metadata.annotations['…']` / `metadata.labels['…']` (the downward API).
 *    https://kubernetes.io/docs/concepts/workloads/pods/downward-api/
 *  - ConfigMaps projected into a volume: a folder with one file per key (`data` as UTF-8, `binaryData`
 *    base64-decoded) with the projected `defaultMode` (0644 when unset), always mounted read-only.
 *    https://kubernetes.io/docs/concepts/storage/projected-volumes/
 *    https://kubernetes.io/docs/concepts/configuration/configmap/#using-configmaps-as-files-from-a-pod
 *  - A PersistentVolumeClaim: a host folder the test gives for the claim's name.
 *  - emptyDir: a folder of the pod (mode 0777); with `medium: Memory`, a tmpfs shared by the pod's containers.
 *    https://kubernetes.io/docs/concepts/storage/volumes/#emptydir
 *  - `subPath` / `subPathExpr`: refused when absolute or with a `..` component; created when missing (with the
 *    volume's mode); then the host path with its symlinks evaluated, refused when it leaves the volume (as the
 *    kubelet's doBindSubPath does), is what gets mounted.  https://kubernetes.io/docs/concepts/storage/volumes/#using-subpath
 *  - securityContext: `runAsUser`/`runAsGroup` (the container's over the pod's) as `--user`,
 *    `readOnlyRootFilesystem` as `--read-only`, `allowPrivilegeEscalation: false` as no-new-privileges,
 *    `capabilities` as `--cap-add`/`--cap-drop`; `workingDir` as `--workdir`.
 *    https://kubernetes.io/docs/tasks/configure-pod-container/security-context/
 *  - Argo Workflows (the workflow controller's part): a steps template fanned out `withItems` makes one pod per
 *    item, `{{item.x}}` substituted into the step's arguments, then `{{inputs.parameters.x}}` into the template
 *    (values JSON-escaped into the template's JSON, as Argo does); a template's `podSpecPatch` (a strategic merge
 *    patch of the pod spec) when it only sets scalar fields, which such a patch replaces.
 *    https://argo-workflows.readthedocs.io/en/latest/walk-through/loops/
 *    https://argo-workflows.readthedocs.io/en/latest/variables/
 *    https://argo-workflows.readthedocs.io/en/latest/fields/#template
 *
 * Not emulated (none of it changes what these jobs compute): scheduling and resources, retries' timing, the
 * service env variables (`KUBERNETES_SERVICE_HOST`…), the kubelet's own /etc/hosts and /etc/resolv.conf,
 * the ConfigMap volume's `..data` symlink layout, NetworkPolicies, Argo's executor (its `init`/`wait`
 * containers and the `argoexec emissary` wrapper around the main process), deadlines.
 *
 * Anything in a pod the emulation does not understand is refused with an error naming it, so a test can never
 * silently pass over a field it ignored. Each container runs with `docker run --rm` (the docker CLI), labelled
 * for `removeEmulatedContainers()`.
 */
import { spawn } from 'node:child_process';
import { chmod, lstat, mkdir, mkdtemp, realpath, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { KubernetesObject } from '../../src/index.js';

/** The label on every container and volume the emulation makes; the value is the test process's pid. */
const LABEL = 'docker-sim-manager.test.pod-emulation';
const INDEX_KEY = 'batch.kubernetes.io/job-completion-index';
/** No container of these tests runs longer; one that does is removed and reported. */
const CONTAINER_BOUND_MS = 120_000;

type Json = Record<string, unknown>;

/** A pod as the kubelet gets it: what `fieldRef` reads, and the spec. */
export interface Pod {
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: Json;
}

/** How one container of a pod ended. */
export interface ContainerRun {
  name: string;
  isInit: boolean;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** How a pod ended: `Failed` when a container exited non-zero (a failed init container stops the pod there). */
export interface PodRun {
  pod: string;
  phase: 'Succeeded' | 'Failed';
  containers: ContainerRun[];
}

/** The node: where each claim's data lives, and where pod volumes (ConfigMap files, emptyDirs) go. */
export interface EmulatedNode {
  /** Host folder of each PersistentVolumeClaim, by claim name. */
  claims: Readonly<Record<string, string>>;
  /** A host folder for the pods' own volumes; each pod gets a folder below it. */
  podsDir: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Field checks: everything not listed is refused.
// ---------------------------------------------------------------------------------------------------------------

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function refuse(where: string, value: unknown, why = 'is not emulated'): never {
  throw new Error(`pod emulation: ${where} ${why} (${JSON.stringify(value)}). Teach __tests__/helpers/pod-emulation.ts what the kubelet does with it, or keep it out of the export.`);
}

/** The object at `where`, refusing any key not in `known`. */
function fields(value: unknown, where: string, known: readonly string[]): Json {
  if (!isObject(value)) refuse(where, value, 'is not an object');
  for (const [key, entry] of Object.entries(value)) if (!known.includes(key)) refuse(`${where}.${key}`, entry);
  return value;
}

function list(value: unknown, where: string): unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) refuse(where, value, 'is not a list');
  return value;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string') refuse(where, value, 'is not a string');
  return value;
}

function strings(value: unknown, where: string): string[] | undefined {
  return value === undefined ? undefined : list(value, where).map((entry, i) => text(entry, `${where}[${i}]`));
}

const POD_SPEC = ['restartPolicy', 'terminationGracePeriodSeconds', 'hostname', 'securityContext', 'initContainers', 'containers', 'volumes'];
const POD_SECURITY = ['runAsUser', 'runAsGroup'];
const CONTAINER = ['name', 'image', 'imagePullPolicy', 'command', 'args', 'workingDir', 'env', 'securityContext', 'volumeMounts'];
const CONTAINER_SECURITY = ['runAsUser', 'runAsGroup', 'readOnlyRootFilesystem', 'allowPrivilegeEscalation', 'capabilities'];
const VOLUME_MOUNT = ['name', 'mountPath', 'readOnly', 'subPath', 'subPathExpr'];

/** Checks a whole pod before anything runs: a refusal never comes after a container has run. */
function checkPod(pod: Pod): void {
  const spec = fields(pod.spec, 'pod.spec', POD_SPEC);
  if (spec.restartPolicy !== 'Never') refuse('pod.spec.restartPolicy', spec.restartPolicy, "other than 'Never' is not emulated");
  if (spec.securityContext !== undefined) fields(spec.securityContext, 'pod.spec.securityContext', POD_SECURITY);
  if (list(spec.containers, 'pod.spec.containers').length !== 1) refuse('pod.spec.containers', spec.containers, 'with other than one container is not emulated');
  const containers = [...list(spec.initContainers, 'pod.spec.initContainers'), ...list(spec.containers, 'pod.spec.containers')];
  for (const [i, value] of containers.entries()) {
    const container = fields(value, `container[${i}]`, CONTAINER);
    const where = `container ${text(container.name, `container[${i}].name`)}`;
    text(container.image, `${where}.image`);
    if (!['IfNotPresent', 'Never', undefined].includes(container.imagePullPolicy as string)) refuse(`${where}.imagePullPolicy`, container.imagePullPolicy, '(no registry here) is not emulated');
    strings(container.command, `${where}.command`);
    strings(container.args, `${where}.args`);
    if (container.workingDir !== undefined) text(container.workingDir, `${where}.workingDir`);
    for (const [k, env] of list(container.env, `${where}.env`).entries()) {
      const entry = fields(env, `${where}.env[${k}]`, ['name', 'value', 'valueFrom']);
      if (entry.valueFrom !== undefined) {
        if (entry.value !== undefined) refuse(`${where}.env[${k}]`, entry, 'sets both value and valueFrom, which');
        const ref = fields(fields(entry.valueFrom, `${where}.env[${k}].valueFrom`, ['fieldRef']).fieldRef, `${where}.env[${k}].valueFrom.fieldRef`, ['fieldPath', 'apiVersion']);
        metadataField(text(ref.fieldPath, `${where}.env[${k}].valueFrom.fieldRef.fieldPath`), pod);
      }
    }
    if (container.securityContext !== undefined) {
      const security = fields(container.securityContext, `${where}.securityContext`, CONTAINER_SECURITY);
      if (security.capabilities !== undefined) fields(security.capabilities, `${where}.securityContext.capabilities`, ['add', 'drop']);
      if (security.allowPrivilegeEscalation === true) refuse(`${where}.securityContext.allowPrivilegeEscalation`, true);
    }
    for (const [k, mount] of list(container.volumeMounts, `${where}.volumeMounts`).entries()) {
      const entry = fields(mount, `${where}.volumeMounts[${k}]`, VOLUME_MOUNT);
      if (entry.subPath !== undefined && entry.subPathExpr !== undefined) refuse(`${where}.volumeMounts[${k}]`, entry, 'sets both subPath and subPathExpr, which');
      for (const key of ['name', 'mountPath'] as const) if (/[,=]/.test(text(entry[key], `${where}.volumeMounts[${k}].${key}`))) refuse(`${where}.volumeMounts[${k}].${key}`, entry[key], "with ',' or '=' is not emulated");
    }
  }
  for (const [k, value] of list(spec.volumes, 'pod.spec.volumes').entries()) {
    const volume = fields(value, `pod.spec.volumes[${k}]`, ['name', 'persistentVolumeClaim', 'projected', 'emptyDir']);
    const where = `volume ${text(volume.name, `pod.spec.volumes[${k}].name`)}`;
    if (Object.keys(volume).length !== 2) refuse(where, volume, 'needs exactly one source; this');
    if (volume.persistentVolumeClaim !== undefined) fields(volume.persistentVolumeClaim, `${where}.persistentVolumeClaim`, ['claimName']);
    if (volume.emptyDir !== undefined) {
      const medium = fields(volume.emptyDir, `${where}.emptyDir`, ['medium']).medium;
      if (medium !== undefined && medium !== '' && medium !== 'Memory') refuse(`${where}.emptyDir.medium`, medium);
    }
    if (volume.projected !== undefined) {
      const projected = fields(volume.projected, `${where}.projected`, ['sources', 'defaultMode']);
      for (const [s, source] of list(projected.sources, `${where}.projected.sources`).entries()) {
        fields(fields(source, `${where}.projected.sources[${s}]`, ['configMap']).configMap, `${where}.projected.sources[${s}].configMap`, ['name']);
      }
    }
  }
}

/** The value of a downward-API field of the pod: only its annotations and labels are emulated. */
function metadataField(fieldPath: string, pod: Pod): string {
  const match = /^metadata\.(annotations|labels)\['([^']+)'\]$/.exec(fieldPath);
  if (!match) refuse('env valueFrom.fieldRef.fieldPath', fieldPath);
  const [, kind, key] = match as unknown as [string, 'annotations' | 'labels', string];
  return pod.metadata[kind][key] ?? '';
}

// ---------------------------------------------------------------------------------------------------------------
// $(VAR) expansion.
// ---------------------------------------------------------------------------------------------------------------

/**
 * Kubernetes' expansion of `$(NAME)` references: `$$` is a `$`, `$(NAME)` is `mapping(NAME)`, and any other `$`
 * (an unclosed `$(` included) stays as written.
 */
export function expandReferences(input: string, mapping: (name: string) => string): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i] as string;
    const next = input[i + 1];
    if (ch !== '$' || next === undefined) {
      out += ch;
    } else if (next === '$') {
      out += '$';
      i += 1;
    } else if (next === '(' && input.indexOf(')', i + 2) !== -1) {
      const close = input.indexOf(')', i + 2);
      out += mapping(input.slice(i + 2, close));
      i = close;
    } else {
      out += ch + next;
      i += 1;
    }
  }
  return out;
}

/** Unresolved references stay as written (command, args, env values). */
function leaveUnresolved(env: ReadonlyMap<string, string>): (name: string) => string {
  return (name) => env.get(name) ?? `$(${name})`;
}

/** The container's env in order, each `value` expanded against the variables before it, each `fieldRef` read. */
function resolveEnv(container: Json, pod: Pod): Map<string, string> {
  const env = new Map<string, string>();
  for (const value of list(container.env, 'env')) {
    const entry = value as { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } };
    const resolved = entry.valueFrom ? metadataField(entry.valueFrom.fieldRef.fieldPath, pod) : expandReferences(entry.value ?? '', leaveUnresolved(env));
    env.set(entry.name, resolved);
  }
  return env;
}

// ---------------------------------------------------------------------------------------------------------------
// Volumes.
// ---------------------------------------------------------------------------------------------------------------

type PodVolume = { kind: 'folder'; hostPath: string; isReadOnly: boolean } | { kind: 'tmpfs'; dockerVolume: string };

let counter = 0;
function uniqueName(base: string): string {
  counter += 1;
  return `${base}-${process.pid}-${counter}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** The ConfigMaps among the exported objects, by name. */
function configMaps(objects: readonly KubernetesObject[]): Map<string, { data: Json; binaryData: Json }> {
  const maps = new Map<string, { data: Json; binaryData: Json }>();
  for (const object of objects.filter((o) => o.kind === 'ConfigMap')) {
    const map = fields(object, `ConfigMap ${object.metadata.name}`, ['apiVersion', 'kind', 'metadata', 'data', 'binaryData']);
    maps.set(object.metadata.name ?? '', { data: (map.data as Json | undefined) ?? {}, binaryData: (map.binaryData as Json | undefined) ?? {} });
  }
  return maps;
}

/** Writes a projected volume's files: one per key of each ConfigMap, with the volume's mode. */
async function writeProjected(projected: Json, folder: string, objects: readonly KubernetesObject[]): Promise<void> {
  const maps = configMaps(objects);
  const mode = projected.defaultMode === undefined ? 0o644 : (projected.defaultMode as number);
  const written = new Set<string>();
  for (const source of list(projected.sources, 'projected.sources')) {
    const name = ((source as Json).configMap as { name: string }).name;
    const map = maps.get(name);
    if (!map) throw new Error(`pod emulation: the pod projects ConfigMap ${name}, which the export does not contain (the kubelet would keep the pod in ContainerCreating).`);
    const entries: Array<[string, Buffer]> = [
      ...Object.entries(map.data).map(([key, value]): [string, Buffer] => [key, Buffer.from(text(value, `ConfigMap ${name}.data.${key}`), 'utf8')]),
      ...Object.entries(map.binaryData).map(([key, value]): [string, Buffer] => [key, Buffer.from(text(value, `ConfigMap ${name}.binaryData.${key}`), 'base64')]),
    ];
    for (const [key, content] of entries) {
      if (written.has(key)) throw new Error(`pod emulation: key ${key} appears twice in a projected volume (the kubelet refuses conflicting paths).`);
      written.add(key);
      const file = path.join(folder, key);
      await writeFile(file, content);
      await chmod(file, mode);
    }
  }
}

async function dockerVolume(name: string): Promise<string> {
  await docker(['volume', 'create', '--driver', 'local', '--opt', 'type=tmpfs', '--opt', 'device=tmpfs', '--label', `${LABEL}=${process.pid}`, name]);
  return name;
}

async function prepareVolumes(pod: Pod, podDir: string, objects: readonly KubernetesObject[], node: EmulatedNode): Promise<Map<string, PodVolume>> {
  const volumes = new Map<string, PodVolume>();
  for (const value of list(pod.spec.volumes, 'volumes')) {
    const volume = value as Json & { name: string };
    if (volume.persistentVolumeClaim) {
      const claim = (volume.persistentVolumeClaim as { claimName: string }).claimName;
      const hostPath = node.claims[claim];
      if (hostPath === undefined) throw new Error(`pod emulation: no folder is given for claim ${claim} (the pod would stay Pending).`);
      volumes.set(volume.name, { kind: 'folder', hostPath, isReadOnly: false });
    } else if (volume.emptyDir) {
      if ((volume.emptyDir as Json).medium === 'Memory') {
        volumes.set(volume.name, { kind: 'tmpfs', dockerVolume: await dockerVolume(uniqueName(`pod-emulation-${pod.metadata.name}-${volume.name}`)) });
      } else {
        const hostPath = path.join(podDir, 'empty-dir', volume.name);
        await mkdir(hostPath, { recursive: true });
        await chmod(hostPath, 0o777);
        volumes.set(volume.name, { kind: 'folder', hostPath, isReadOnly: false });
      }
    } else {
      const hostPath = path.join(podDir, 'projected', volume.name);
      await mkdir(hostPath, { recursive: true });
      await writeProjected(volume.projected as Json, hostPath, objects);
      volumes.set(volume.name, { kind: 'folder', hostPath, isReadOnly: true });
    }
  }
  return volumes;
}

function isWithin(child: string, base: string): boolean {
  return child === base || child.startsWith(`${base}/`);
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * Makes the missing folders of `subPath` below `volumePath` with the volume's mode; the part that exists must
 * resolve inside the volume (the kubelet's SafeMakeDir).
 */
async function safeMakeDir(volumePath: string, subPath: string): Promise<void> {
  const base = await realpath(volumePath);
  const mode = (await stat(volumePath)).mode & 0o7777;
  const parts = subPath.split('/').filter((part) => part !== '' && part !== '.');
  // The part that exists, its symlinks followed; it must resolve inside the volume.
  let existing = 0;
  while (existing < parts.length && (await exists(path.join(volumePath, ...parts.slice(0, existing + 1))))) existing += 1;
  let current = await realpath(path.join(volumePath, ...parts.slice(0, existing)));
  if (!isWithin(current, base)) throw new Error(`pod emulation: subPath ${subPath} leads out of the volume (${current} is not within ${base}); the kubelet refuses to start the container.`);
  for (const part of parts.slice(existing)) {
    current = path.join(current, part);
    const isDangling = await lstat(current).then(() => true, () => false);
    if (isDangling) throw new Error(`pod emulation: subPath ${subPath}: ${current} is a symlink to nothing; the kubelet cannot create the subPath and refuses to start the container.`);
    await mkdir(current);
    await chmod(current, mode);
  }
}

/** The host path a subPath mounts: created when missing, symlinks evaluated, never outside the volume. */
async function bindSubPath(volumePath: string, subPath: string): Promise<string> {
  if (path.posix.isAbsolute(subPath) || subPath.split('/').includes('..')) throw new Error(`pod emulation: subPath ${JSON.stringify(subPath)} must be relative, without '..' (the API server or the kubelet refuses it).`);
  const hostPath = path.join(volumePath, subPath);
  if (!(await exists(hostPath))) await safeMakeDir(volumePath, subPath);
  const base = await realpath(volumePath);
  const resolved = await realpath(hostPath);
  if (!isWithin(resolved, base)) throw new Error(`pod emulation: subpath ${hostPath} resolves to ${resolved}, not within volume path ${base}; the kubelet refuses to start the container.`);
  return resolved;
}

/** A volumeMount as a `docker run --mount` value. */
async function mountOption(value: unknown, volumes: ReadonlyMap<string, PodVolume>, env: ReadonlyMap<string, string>, where: string): Promise<string> {
  const mount = value as { name: string; mountPath: string; readOnly?: boolean; subPath?: string; subPathExpr?: string };
  const volume = volumes.get(mount.name);
  if (!volume) throw new Error(`pod emulation: ${where} mounts volume ${mount.name}, which the pod does not have.`);
  let subPath = mount.subPath ?? '';
  if (mount.subPathExpr !== undefined) {
    const missing = new Set<string>();
    subPath = expandReferences(mount.subPathExpr, (name) => {
      const found = env.get(name);
      if (found === undefined || found === '') missing.add(name);
      return found ?? '';
    });
    if (missing.size > 0) throw new Error(`pod emulation: ${where}: subPathExpr ${mount.subPathExpr}: missing value for ${[...missing].sort().join(', ')} (CreateContainerConfigError).`);
  }
  const readOnly = mount.readOnly === true ? ',readonly' : '';
  if (volume.kind === 'tmpfs') {
    if (subPath !== '') refuse(`${where} volumeMount ${mount.name}.subPath`, subPath, 'on a Memory emptyDir is not emulated');
    return `type=volume,src=${volume.dockerVolume},dst=${mount.mountPath}${readOnly}`;
  }
  const source = subPath === '' ? volume.hostPath : await bindSubPath(volume.hostPath, subPath);
  if (/[,=]/.test(source)) refuse(`${where} mount source`, source, "with ',' or '=' is not emulated");
  return `type=bind,src=${source},dst=${mount.mountPath}${readOnly || (volume.isReadOnly ? ',readonly' : '')}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Containers.
// ---------------------------------------------------------------------------------------------------------------

function docker(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** The `docker run` arguments of a container, resolved at its start (after the init containers before it ran). */
async function runArguments(container: Json, pod: Pod, volumes: ReadonlyMap<string, PodVolume>, name: string): Promise<string[]> {
  const where = `container ${container.name as string}`;
  const env = resolveEnv(container, pod);
  const command = (container.command as string[] | undefined)?.map((word) => expandReferences(word, leaveUnresolved(env)));
  const args = (container.args as string[] | undefined)?.map((word) => expandReferences(word, leaveUnresolved(env)));
  const security = { ...((pod.spec.securityContext as Json | undefined) ?? {}), ...((container.securityContext as Json | undefined) ?? {}) };
  const options = ['run', '--rm', '--name', name, '--label', `${LABEL}=${process.pid}`, '--pull', 'never'];
  if (typeof pod.spec.hostname === 'string') options.push('--hostname', pod.spec.hostname);
  if (security.runAsUser !== undefined) options.push('--user', security.runAsGroup === undefined ? String(security.runAsUser) : `${String(security.runAsUser)}:${String(security.runAsGroup)}`);
  else if (security.runAsGroup !== undefined) refuse(`${where} runAsGroup without runAsUser`, security.runAsGroup);
  if (security.readOnlyRootFilesystem === true) options.push('--read-only');
  if (security.allowPrivilegeEscalation === false) options.push('--security-opt', 'no-new-privileges');
  const capabilities = (security.capabilities as { add?: string[]; drop?: string[] } | undefined) ?? {};
  for (const cap of capabilities.drop ?? []) options.push('--cap-drop', cap);
  for (const cap of capabilities.add ?? []) options.push('--cap-add', cap);
  if (typeof container.workingDir === 'string') options.push('--workdir', container.workingDir);
  for (const [key, value] of env) options.push('--env', `${key}=${value}`);
  for (const mount of list(container.volumeMounts, 'volumeMounts')) options.push('--mount', await mountOption(mount, volumes, env, where));
  // command replaces the ENTRYPOINT (and the image's CMD with it); args replace the CMD.
  const [entrypoint, ...rest] = command ?? [];
  if (command !== undefined) {
    if (entrypoint === undefined || entrypoint === '') refuse(`${where}.command`, command, 'empty');
    options.push('--entrypoint', entrypoint);
  }
  options.push(container.image as string, ...rest, ...(args ?? []));
  return options;
}

async function runContainer(container: Json, pod: Pod, volumes: ReadonlyMap<string, PodVolume>, isInit: boolean): Promise<ContainerRun> {
  const name = uniqueName(`pod-emulation-${pod.metadata.name}-${container.name as string}`);
  const options = await runArguments(container, pod, volumes, name);
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`pod emulation: container ${name} ran longer than ${CONTAINER_BOUND_MS} ms; removed.`)), CONTAINER_BOUND_MS);
  });
  try {
    const result = await Promise.race([docker(options), bound]);
    // 125: the docker CLI or the engine refused the container; the kubelet would report a start error instead.
    if (result.code === 125) throw new Error(`pod emulation: docker could not run container ${container.name as string} of pod ${pod.metadata.name}: ${result.stderr.trim()}`);
    return { name: container.name as string, isInit, exitCode: result.code, stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    await docker(['rm', '--force', name]);
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs a pod as the kubelet would: its volumes made, its init containers one after the other (the first failure
 * fails the pod), then its container. Claims are the node's folders; everything else is made under `podsDir`.
 */
export async function runPod(pod: Pod, objects: readonly KubernetesObject[], node: EmulatedNode): Promise<PodRun> {
  // A NetworkPolicy (network: 'none'), for one, would change what the pod can do: nothing unknown passes silently.
  for (const object of objects) if (!['ConfigMap', 'Job', 'Workflow'].includes(object.kind)) refuse(`${object.kind} ${object.metadata.name ?? ''}`, object.spec);
  checkPod(pod);
  const podDir = await mkdtemp(path.join(node.podsDir, `${pod.metadata.name}-`));
  const volumes = await prepareVolumes(pod, podDir, objects, node);
  const run: PodRun = { pod: pod.metadata.name, phase: 'Succeeded', containers: [] };
  try {
    const steps = [...list(pod.spec.initContainers, 'initContainers').map((c) => [c, true] as const), ...list(pod.spec.containers, 'containers').map((c) => [c, false] as const)];
    for (const [container, isInit] of steps) {
      const result = await runContainer(container as Json, pod, volumes, isInit);
      run.containers.push(result);
      if (result.exitCode !== 0) {
        run.phase = 'Failed';
        break;
      }
    }
  } finally {
    for (const volume of volumes.values()) if (volume.kind === 'tmpfs') await docker(['volume', 'rm', '--force', volume.dockerVolume]);
  }
  return run;
}

/** Removes whatever containers and volumes of this process a failed or interrupted test left behind. */
export async function removeEmulatedContainers(): Promise<void> {
  const filter = `label=${LABEL}=${process.pid}`;
  const containers = (await docker(['ps', '--all', '--quiet', '--filter', filter])).stdout.split('\n').filter(Boolean);
  if (containers.length > 0) await docker(['rm', '--force', ...containers]);
  const volumes = (await docker(['volume', 'ls', '--quiet', '--filter', filter])).stdout.split('\n').filter(Boolean);
  if (volumes.length > 0) await docker(['volume', 'rm', '--force', ...volumes]);
}

// ---------------------------------------------------------------------------------------------------------------
// The controllers' part: pods of an Indexed Job, pods of an Argo Workflow.
// ---------------------------------------------------------------------------------------------------------------

const JOB_SPEC = ['completionMode', 'completions', 'parallelism', 'backoffLimitPerIndex', 'maxFailedIndexes', 'podFailurePolicy', 'ttlSecondsAfterFinished', 'template'];

function theOne(objects: readonly KubernetesObject[], kind: string, name?: string): KubernetesObject {
  const found = objects.filter((object) => object.kind === kind && (name === undefined || object.metadata.name === name));
  if (found.length !== 1) throw new Error(`pod emulation: expected one ${kind}${name === undefined ? '' : ` named ${name}`} among the objects, found ${found.length}.`);
  return found[0] as KubernetesObject;
}

/** The Indexed Job's spec, checked: only what the Job controller's fields listed in JOB_SPEC say is understood. */
function indexedJobSpec(job: KubernetesObject): Json & { completions: number; template: { metadata?: { labels?: Record<string, string> }; spec: Json } } {
  const spec = fields(job.spec, `Job ${job.metadata.name}.spec`, JOB_SPEC);
  if (spec.completionMode !== 'Indexed') refuse(`Job ${job.metadata.name}.spec.completionMode`, spec.completionMode, "other than 'Indexed' is not emulated");
  fields(spec.template, `Job ${job.metadata.name}.spec.template`, ['metadata', 'spec']);
  return spec as ReturnType<typeof indexedJobSpec>;
}

/**
 * The pod the Job controller makes for completion index `index` of the Indexed Job (`name`, or the only Job):
 * the template with the index annotation and label, `JOB_COMPLETION_INDEX` added to every container that lacks
 * it, and the hostname `<job>-<index>`.
 */
export function indexedJobPod(objects: readonly KubernetesObject[], index: number, name?: string): Pod {
  const job = theOne(objects, 'Job', name);
  const spec = indexedJobSpec(job);
  if (!Number.isInteger(index) || index < 0 || index >= spec.completions) throw new Error(`pod emulation: Job ${job.metadata.name} has completions 0..${spec.completions - 1}, not ${index}.`);
  const podSpec = structuredClone(spec.template.spec);
  for (const container of [...list(podSpec.initContainers, 'initContainers'), ...list(podSpec.containers, 'containers')] as Json[]) {
    const env = list(container.env, 'env') as Array<{ name?: string }>;
    if (!env.some((entry) => entry.name === 'JOB_COMPLETION_INDEX')) {
      container.env = [...env, { name: 'JOB_COMPLETION_INDEX', valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${INDEX_KEY}']` } } }];
    }
  }
  podSpec.hostname = `${job.metadata.name}-${index}`;
  return {
    metadata: {
      name: `${job.metadata.name}-${index}`,
      labels: { ...(spec.template.metadata?.labels ?? {}), 'job-name': job.metadata.name ?? '', [INDEX_KEY]: String(index) },
      annotations: { [INDEX_KEY]: String(index) },
    },
    spec: podSpec,
  };
}

/**
 * What the Job controller does after the failed pods of one index (in order): `'retry'` (another pod for the
 * index), `'fail-index'`, `'fail-job'`. The first podFailurePolicy rule that matches the last failure decides
 * (an `Ignore`d failure is not counted); with no match it counts, and the index fails once more failures count
 * than `backoffLimitPerIndex` allows. Only `onExitCodes` rules can match here: emulated pods are never disrupted.
 */
export function jobControllerOutcome(objects: readonly KubernetesObject[], failures: readonly PodRun[], name?: string): 'retry' | 'fail-index' | 'fail-job' {
  const job = theOne(objects, 'Job', name);
  const spec = indexedJobSpec(job);
  if (typeof spec.backoffLimitPerIndex !== 'number') refuse(`Job ${job.metadata.name}.spec.backoffLimitPerIndex`, spec.backoffLimitPerIndex, 'missing');
  const rules = list((spec.podFailurePolicy as Json | undefined)?.rules, 'podFailurePolicy.rules') as Array<{ action: string; onExitCodes?: { containerName?: string; operator: 'In' | 'NotIn'; values: number[] }; onPodConditions?: unknown[] }>;
  const actionOf = (run: PodRun): string => {
    for (const rule of rules) {
      if (rule.onPodConditions) continue;
      const codes = rule.onExitCodes;
      if (!codes) refuse('podFailurePolicy rule', rule);
      const matches = run.containers.some((c) => (codes.containerName === undefined || codes.containerName === c.name) && c.exitCode !== 0 && (codes.operator === 'In') === codes.values.includes(c.exitCode));
      if (matches) return rule.action;
    }
    return 'Count';
  };
  const actions = failures.map(actionOf);
  const last = actions.at(-1);
  if (last === 'FailJob') return 'fail-job';
  if (last === 'FailIndex') return 'fail-index';
  return actions.filter((action) => action === 'Count').length > spec.backoffLimitPerIndex ? 'fail-index' : 'retry';
}

/** Argo's substitution: `{{tag}}` in the JSON of `value` replaced by JSON-escaped values; an unknown tag is refused. */
function substitute<T>(value: T, replacements: Readonly<Record<string, string>>, where: string): T {
  const json = JSON.stringify(value).replace(/\{\{([^{}]*)\}\}/g, (_, tag: string) => {
    const replacement = replacements[tag.trim()];
    if (replacement === undefined) refuse(`Argo variable {{${tag}}} in ${where}`, tag);
    return JSON.stringify(replacement).slice(1, -1);
  });
  return JSON.parse(json) as T;
}

/** A podSpecPatch (JSON or YAML) that only sets scalar pod spec fields: strategic merge replaces those. */
function scalarPatch(patch: unknown): Json {
  if (patch === undefined) return {};
  const parsed: unknown = parseYaml(text(patch, 'podSpecPatch'));
  if (!isObject(parsed)) refuse('podSpecPatch', patch, 'other than an object is not emulated');
  for (const [key, value] of Object.entries(parsed)) if (typeof value === 'object' && value !== null) refuse(`podSpecPatch.${key}`, value, '(a nested strategic merge) is not emulated');
  return parsed;
}

const WORKFLOW_SPEC = ['entrypoint', 'parallelism', 'podGC', 'ttlStrategy', 'podMetadata', 'securityContext', 'volumes', 'templates'];

/**
 * The pods Argo's controller makes for the Workflow: one per item of each `withItems` step of the entrypoint's
 * steps, each the step's container template with its parameters substituted, the Workflow's volumes, pod
 * metadata and securityContext.
 */
export function argoWorkflowPods(objects: readonly KubernetesObject[]): Array<{ item: Record<string, string>; pod: Pod }> {
  const workflow = theOne(objects, 'Workflow');
  const spec = fields(workflow.spec, 'Workflow.spec', WORKFLOW_SPEC);
  const templates = new Map(list(spec.templates, 'Workflow.spec.templates').map((t) => [text((t as Json).name, 'template name'), t as Json]));
  const entry = fields(templates.get(text(spec.entrypoint, 'Workflow.spec.entrypoint')), `template ${spec.entrypoint as string}`, ['name', 'steps', 'failFast']);
  const podMetadata = fields(spec.podMetadata ?? {}, 'Workflow.spec.podMetadata', ['labels']);
  const pods: Array<{ item: Record<string, string>; pod: Pod }> = [];
  for (const group of list(entry.steps, 'steps')) {
    for (const value of list(group, 'steps[]')) {
      const step = fields(value, 'step', ['name', 'template', 'arguments', 'withItems']);
      const template = fields(templates.get(text(step.template, 'step.template')), `template ${step.template as string}`, ['name', 'inputs', 'metadata', 'podSpecPatch', 'initContainers', 'container', 'retryStrategy']);
      // retryStrategy is the controller's: a test that retries runs the pod again itself.
      const inputs = list(fields(template.inputs, 'inputs', ['parameters']).parameters, 'inputs.parameters').map((p) => text(fields(p, 'inputs.parameters[]', ['name']).name, 'parameter name'));
      for (const [n, rawItem] of list(step.withItems, `step ${step.name as string}.withItems`).entries()) {
        if (!isObject(rawItem)) refuse(`withItems[${n}]`, rawItem, 'other than an object of strings is not emulated');
        const item = Object.fromEntries(Object.entries(rawItem).map(([key, v]) => [key, text(v, `withItems[${n}].${key}`)]));
        const args = substitute(fields(step.arguments, 'step.arguments', ['parameters']), Object.fromEntries(Object.entries(item).map(([key, v]) => [`item.${key}`, v])), `step ${step.name as string}`);
        const parameters = Object.fromEntries(
          list(args.parameters, 'arguments.parameters').map((p) => {
            const parameter = fields(p, 'arguments.parameters[]', ['name', 'value']);
            return [text(parameter.name, 'parameter name'), text(parameter.value, 'parameter value')];
          }),
        );
        const missing = inputs.find((input) => parameters[input] === undefined);
        if (missing !== undefined) throw new Error(`pod emulation: step ${step.name as string} gives no value for input ${missing} (Argo fails the step).`);
        const resolved = substitute({ metadata: template.metadata, podSpecPatch: template.podSpecPatch, initContainers: template.initContainers ?? [], container: template.container }, Object.fromEntries(Object.entries(parameters).map(([key, v]) => [`inputs.parameters.${key}`, v])), `template ${template.name as string}`);
        const metadata = fields(resolved.metadata ?? {}, 'template.metadata', ['labels']);
        const container = resolved.container as Json;
        // Argo runs a template's initContainers after its own init container, before the main one, in the same pod.
        const initContainers = list(resolved.initContainers, 'template.initContainers') as Json[];
        const used = new Set([container, ...initContainers].flatMap((c) => list(c.volumeMounts, 'volumeMounts').map((m) => (m as { name: string }).name)));
        const volumes = list(spec.volumes, 'Workflow.spec.volumes').filter((v) => used.has((v as { name: string }).name));
        pods.push({
          item,
          pod: {
            metadata: { name: `${workflow.metadata.name ?? 'workflow'}-${step.name as string}-${n}`, labels: { ...(podMetadata.labels as Record<string, string> | undefined), ...(metadata.labels as Record<string, string> | undefined) }, annotations: {} },
            spec: { restartPolicy: 'Never', ...(spec.securityContext === undefined ? {} : { securityContext: spec.securityContext }), ...(initContainers.length > 0 ? { initContainers } : {}), containers: [container], volumes, ...scalarPatch(resolved.podSpecPatch) },
          },
        });
      }
    }
  }
  return pods;
}
