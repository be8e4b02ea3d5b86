import type { Readable, Writable } from 'node:stream';

/** A bind mount of a host folder into a container. */
export interface BindMount {
  hostPath: string;
  containerPath: string;
  isReadOnly?: boolean;
}

/** Everything needed to create one job container. Plain data: no engine types leak through. */
export interface ContainerSpec {
  name: string;
  /** Image id or reference. */
  image: string;
  /** Arguments appended to the entrypoint (`docker run IMAGE ARGS`). */
  cmd?: string[];
  entrypoint?: string[];
  env: Record<string, string>;
  workingDir?: string;
  user?: string;
  labels: Record<string, string>;
  binds: BindMount[];
  /** Container paths backed by anonymous volumes (removed with the container). */
  volumes?: string[];
  networkMode?: string;
  nanoCpus?: number;
  memoryBytes?: number;
  /** `'all'` or a number of GPUs, passed as a DeviceRequest. */
  gpus?: 'all' | number;
  readOnlyRootfs?: boolean;
  capDrop?: string[];
  capAdd?: string[];
  noNewPrivileges?: boolean;
  pidsLimit?: number;
  /** Run the engine's init (tini) as PID 1. */
  init?: boolean;
  /** Container paths backed by tmpfs mounts. */
  tmpfs?: string[];
}

/** A process to run in a running container (`docker exec`). */
export interface ExecSpec {
  /** The full argv: no entrypoint is prepended. */
  cmd: string[];
  /** Added to the container's environment. */
  env: Record<string, string>;
  user?: string;
  workingDir?: string;
  /** Attach the process's stdin: `startExec` then gives `ContainerOutput.stdin` to write it. */
  stdin?: boolean;
}

/** The state of an exec. */
export interface ExecState {
  isRunning: boolean;
  /** Null while it runs, or when the container died under it. */
  exitCode: number | null;
}

/** What the engine knows about a local image. */
export interface ImageInfo {
  id: string;
  repoDigests: string[];
  repoTags: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  workingDir: string;
}

/** The state of a container, as far as a job cares. */
export interface ContainerState {
  isRunning: boolean;
  status: string;
  exitCode: number;
  isOomKilled: boolean;
  startedAt?: string;
  finishedAt?: string;
  /** Why the engine could not start or run it (`unable to find user …`), when it says. */
  error?: string;
  /** The host pid of its first process while it runs (0 or absent otherwise). */
  pid?: number;
}

/** One progress line of an image pull. */
export interface PullProgress {
  status: string;
  layer?: string;
  current?: number;
  total?: number;
}

/** Credentials sent with a pull; never logged. */
export type RegistryCredentials =
  | { username: string; password: string; serveraddress: string }
  | { identitytoken: string; serveraddress: string };

/**
 * The live output of a container, already demultiplexed. `stdout` and `stderr` end when the container's
 * output ends; `close()` stops reading (and ends both streams).
 */
export interface ContainerOutput {
  stdout: Readable;
  stderr: Readable;
  /** The process's stdin, for an exec created with `stdin: true` (when the runtime can attach it). */
  stdin?: Writable;
  close(): void;
}

/** A registered wait for a container's exit. */
export interface ExitWaiter {
  exited: Promise<{ exitCode: number }>;
  /** Stops waiting (the `exited` promise then never settles). */
  cancel(): void;
}

/** What a job's processes used, as the engine's accounting tells; a field is undefined when it cannot tell. */
export interface ResourceUsage {
  /** CPU time of the job's processes (user + system), in milliseconds. */
  cpuMs?: number;
  /** The job's peak memory (the kernel's high-water mark where the engine reports it), in bytes. */
  peakMemoryBytes?: number;
}

/** Usage being collected while a job runs; `stop()` ends the collection and resolves with what was seen. */
export interface UsageWatch {
  stop(): Promise<ResourceUsage | undefined>;
}

/** A container found by label. */
export interface ContainerSummary {
  id: string;
  name: string;
  state: string;
  labels: Record<string, string>;
  createdAt: number;
}

/**
 * The small set of engine operations docker-sim-manager needs. Implementations map engine failures to the
 * package's typed errors (`DockerUnavailableError`, `ImageNotFoundError`, `EngineError`); callers never see an
 * engine client's own types or errors.
 */
export interface ContainerRuntime {
  /** A human-readable description of the engine endpoint, for messages (`unix:///var/run/docker.sock`). */
  readonly endpoint: string;
  /** True when the engine runs on this machine, so host folders can be bind-mounted. */
  readonly isLocal: boolean;
  ping(): Promise<void>;
  /**
   * Whether the engine accepts a new connection right now. Unlike `ping()` it never reuses a kept-alive
   * connection: an engine that is shutting down closes its listener first but keeps serving open connections.
   */
  acceptsConnections(): Promise<boolean>;
  inspectImage(reference: string): Promise<ImageInfo | undefined>;
  pullImage(
    reference: string,
    options?: { credentials?: RegistryCredentials; onProgress?: (progress: PullProgress) => void },
  ): Promise<void>;
  /**
   * Asks the engine to log in to the credentials' registry; resolves with the registry's refusal, if any. An engine
   * that cannot ask (Podman and a plain-HTTP registry) refuses nothing: the pull then judges the credentials.
   */
  checkAuth(credentials: RegistryCredentials): Promise<{ isAccepted: true } | { isAccepted: false; message: string }>;
  /** The image as a `docker save` tar stream. */
  saveImage(reference: string): Promise<Readable>;
  /** Loads a `docker save` tar stream; resolves with what the engine reports loaded (ids and tags). */
  loadImage(tar: Readable): Promise<string[]>;
  createContainer(spec: ContainerSpec): Promise<string>;
  /** Extracts an uncompressed tar stream into the container at `path` (parents of entries are created). */
  putArchive(containerId: string, path: string, tar: Readable): Promise<void>;
  /** A tar stream of `path` in the container (its entries start with the path's base name); undefined when absent. */
  getArchive(containerId: string, path: string): Promise<Readable | undefined>;
  /**
   * Attaches to stdout/stderr; call before `start` so no output is missed. An engine that prepares the process
   * here (Podman) rejects with `ProcessNotStartedError` when it cannot start it, as `start` does.
   */
  attach(containerId: string): Promise<ContainerOutput>;
  /**
   * Registers a wait for the container's next exit; resolves once the engine has registered it, so the
   * container can then be started without missing a fast exit. `exited` resolves with the exit code.
   */
  waitForExit(containerId: string): Promise<ExitWaiter>;
  /**
   * Starts the container. When the engine cannot start the job's process (a user the image lacks, a missing
   * entrypoint), rejects with `ProcessNotStartedError` carrying the exit code: the job's fault, not the engine's.
   */
  start(containerId: string): Promise<void>;
  /** The container's whole log so far as two streams (not following), to recover output an attach stream missed. */
  readLogs(containerId: string): Promise<{ stdout: Readable; stderr: Readable }>;
  inspectContainer(containerId: string): Promise<ContainerState | undefined>;
  /** SIGTERM, then SIGKILL after `gracePeriodMs`. Resolves when the container has stopped. */
  stop(containerId: string, gracePeriodMs: number): Promise<void>;
  /** Removes the container (and its anonymous volumes); resolves once it is verified gone. */
  remove(containerId: string): Promise<void>;
  listContainers(labels: Record<string, string | undefined>): Promise<ContainerSummary[]>;
  /** Creates a process in a running container; resolves with the exec id. */
  createExec(containerId: string, spec: ExecSpec): Promise<string>;
  /**
   * Starts the exec with its output attached; the streams end when the process exits (or the container dies).
   * Rejects with `ProcessNotStartedError` when the engine refuses to start the process (Podman, for a user the
   * image lacks; Docker runs such an exec and ends it with 126).
   */
  startExec(execId: string): Promise<ContainerOutput>;
  inspectExec(execId: string): Promise<ExecState>;
  /**
   * Starts collecting a running container's CPU time and peak memory from the engine's statistics; optional
   * (a runtime without it reports no usage).
   */
  watchUsage?(containerId: string): UsageWatch;
  /** The engine's CPUs and memory, to place jobs with `cpus` or `memory` where they fit; undefined if unknown. */
  capacity?(): Promise<{ cpus: number; memoryBytes: number } | undefined>;
  /** Which engine answers (Docker or Podman, rootless or not) and what it can do; optional. */
  features?(): Promise<EngineFeatures>;
  /** Docker Swarm operations (`backend: 'swarm'`); absent when the runtime cannot reach a swarm. */
  swarm?: SwarmOperations;
}

/**
 * What an engine is and can do, as far as jobs notice: detected from its `/version` (Podman names itself
 * "Podman Engine" there) and `/info`, never guessed from a version number.
 */
export interface EngineFeatures {
  product: 'docker' | 'podman';
  /** The engine's own version (Podman's, not the Docker API version it serves). */
  version: string;
  /** The engine runs as an unprivileged user. */
  rootless: boolean;
  /** GPUs through the API's DeviceRequests (`gpus`): Podman accepts the request and ignores it. */
  gpus: boolean;
  /** Docker Swarm services (`backend: 'swarm'`): Podman has no swarm mode. */
  swarm: boolean;
  /** `cpus` and `memory` are enforced: rootless Podman on cgroup v1 accepts them and applies nothing. */
  limits: boolean;
  /**
   * The engine flags a container the kernel killed for memory (`OOMKilled`). Podman before 5.0 never does
   * (containers/podman#13102: conmon writes its OOM file where Podman does not read it), so there such a kill
   * looks like a plain SIGKILL, unless this process reads the kernel's log (root, local engine), which records
   * every OOM kill with the container's cgroup.
   */
  oomKills: boolean;
}

/** A one-off job service: one replica, never restarted. */
export interface ServiceSpec {
  name: string;
  image: string;
  /** Replaces the image's entrypoint. */
  entrypoint?: string[];
  /** Arguments (the image's CMD when absent). */
  args?: string[];
  env: Record<string, string>;
  user?: string;
  workingDir?: string;
  labels: Record<string, string>;
  /** Host folders (on the node that runs the task) mounted into it. */
  binds: BindMount[];
  configs: Array<{ configId: string; configName: string; target: string; mode: number; uid: number; gid: number }>;
  nanoCpus?: number;
  memoryBytes?: number;
  init?: boolean;
  readOnlyRootfs?: boolean;
  capDrop?: string[];
  capAdd?: string[];
}

/** The state of a service's task. */
export interface TaskState {
  /** Swarm's task state: 'new', 'pending', 'assigned', 'preparing', 'starting', 'running', 'complete', 'failed', 'rejected', 'shutdown'... */
  state: string;
  exitCode: number | null;
  error?: string;
  /** The task's container, once it has one (on whichever node runs it). */
  containerId?: string;
}

/** What the swarm backend needs from a swarm manager. */
export interface SwarmOperations {
  /** Whether the engine is a swarm manager (it can create services). */
  isManager(): Promise<boolean>;
  createConfig(name: string, data: Buffer, labels: Record<string, string>): Promise<string>;
  removeConfig(id: string): Promise<void>;
  createService(spec: ServiceSpec): Promise<string>;
  /** The tasks of a service, newest first. */
  tasks(serviceId: string): Promise<TaskState[]>;
  /** The service's output (demultiplexed): followed (streams end when closed), or all of it so far. */
  logs(serviceId: string, options?: { follow?: boolean }): Promise<ContainerOutput>;
  /** Removes the service (its task's container is stopped and removed by the swarm). */
  removeService(serviceId: string): Promise<void>;
  listServices(labels: Record<string, string | undefined>): Promise<ContainerSummary[]>;
  listConfigs(labels: Record<string, string | undefined>): Promise<Array<{ id: string; name: string; labels: Record<string, string> }>>;
}
