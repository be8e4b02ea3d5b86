import { PassThrough, Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { EngineError } from '../errors/engine-error.js';
import { ImageNotFoundError } from '../errors/image-not-found-error.js';
import type {
  ContainerOutput,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ContainerSummary,
  ExecSpec,
  ExecState,
  ExitWaiter,
  ImageInfo,
  PullProgress,
  RegistryCredentials,
  ResourceUsage,
  UsageWatch,
} from '../runtime/container-runtime.js';

const WORKER_LABEL = 'docker-sim-manager.worker';

/** What a simulated container does once started. */
export interface InMemoryBehaviour {
  /** @default 0 */
  exitCode?: number;
  stdout?: string;
  stderr?: string;
  /** How long the process runs (after `until` settles, when given). @default 0 */
  durationMs?: number;
  /** The process runs until this settles: lets a test hold jobs running without guessing durations. */
  until?: Promise<unknown>;
  isOomKilled?: boolean;
  /** The engine never answers the wait (the exit is only visible through inspect). */
  isWaitLost?: boolean;
  /** The attach stream delivers nothing and never ends (the output is only in the engine's log). */
  isOutputLost?: boolean;
  /** Files the process leaves behind, by absolute container path, returned by `getArchive`. */
  files?: Record<string, string>;
  /** What `watchUsage` reports for the container (nothing when absent, as for a job shorter than a sample). */
  usage?: ResourceUsage;
}

/** Calls `end` once the behaviour's `until` has settled and its `durationMs` passed; `setTimer` keeps the timer to clear. */
function afterBehaviour(behaviour: InMemoryBehaviour, setTimer: (timer: NodeJS.Timeout) => void, end: () => void): void {
  const arm = (): void => setTimer(setTimeout(end, behaviour.durationMs ?? 0));
  if (behaviour.until === undefined) arm();
  else void behaviour.until.then(arm, arm);
}

/** Options of the in-memory runtime. */
export interface InMemoryRuntimeOptions {
  /** Images present from the start, by reference. @default {} */
  images?: Record<string, Partial<ImageInfo>>;
  /** Images a pull can fetch, by reference. @default {} */
  registry?: Record<string, Partial<ImageInfo>>;
  /** Decides what each container does. @default exit 0 at once */
  behaviour?: (spec: ContainerSpec) => InMemoryBehaviour;
  /** Make an operation fail, e.g. `{ start: (spec) => spec.name.endsWith('-J3') }`. */
  failOn?: Partial<Record<'create' | 'start' | 'putArchive', (spec: ContainerSpec) => boolean>>;
  /**
   * Record every container and call (`created`, `calls`, `execs`, `archivesOf`). Turn it off for long runs,
   * such as benchmarks of 100,000 jobs, where the records would be most of the memory. @default true
   */
  keepHistory?: boolean;
  /** `ping()` rejects with this, to simulate an unreachable engine. */
  unreachable?: Error;
  /** Decides whether the registry accepts credentials (`checkAuth`). @default accept all */
  acceptsCredentials?: (credentials: RegistryCredentials) => boolean;
  /** Pretend to be a remote engine (no bind mounts of host folders: outputs are copied). @default true */
  isLocal?: boolean;
}

interface FakeContainer {
  id: string;
  spec: ContainerSpec;
  state: 'created' | 'running' | 'exited';
  exitCode: number;
  isOomKilled: boolean;
  stdout: PassThrough;
  stderr: PassThrough;
  logs: { stdout: Buffer[]; stderr: Buffer[] };
  archives: Buffer[];
  waiters: Array<(exitCode: number) => void>;
  timer?: NodeJS.Timeout;
  behaviour: InMemoryBehaviour;
  /** Execs running in it, ended when it stops. */
  execs: Set<FakeExec>;
}

interface FakeExec {
  id: string;
  container: FakeContainer;
  spec: ExecSpec;
  state: 'created' | 'running' | 'exited';
  exitCode: number | null;
  stdout: PassThrough;
  stderr: PassThrough;
  timer?: NodeJS.Timeout;
}

/**
 * A container runtime that lives in memory, for fast tests of code built on docker-sim-manager: it records
 * every container and call, honours concurrency and timing (with fake timers too) and never touches an engine.
 *
 * @example
 * ```ts
 * import { InMemoryRuntime } from 'docker-sim-manager/testing';
 * const runtime = new InMemoryRuntime({ images: { 'sim:latest': {} }, behaviour: () => ({ stdout: 'ok\n' }) });
 * const manager = new DockerSimManager({ image: 'sim', dataDirectory: tmp, runtime });
 * ```
 */
export class InMemoryRuntime implements ContainerRuntime {
  readonly endpoint = 'memory://';
  readonly isLocal: boolean;
  /** Every container ever created, removed or not. */
  readonly created: ContainerSpec[] = [];
  /** Names of the operations called, in order (`create`, `start`, `remove`...). */
  readonly calls: string[] = [];
  /** The most containers that were running at the same time. */
  maxRunning = 0;
  /** Every exec created (`executionMode: 'pool'`), in order. */
  readonly execs: ExecSpec[] = [];
  /** The most execs that were running at the same time. */
  maxRunningExecs = 0;
  private runningExecs = 0;
  private readonly execsById = new Map<string, FakeExec>();
  pulls = 0;
  /** The registries credentials were sent to, per pull or check (never the secrets themselves). */
  readonly credentialsSentTo: string[] = [];
  private running = 0;
  private nextId = 1;
  private readonly containers = new Map<string, FakeContainer>();
  private readonly images: Map<string, ImageInfo>;

  constructor(private readonly options: InMemoryRuntimeOptions = {}) {
    this.isLocal = options.isLocal ?? true;
    this.images = new Map(Object.entries(options.images ?? {}).map(([ref, info]) => [ref, fullImage(ref, info)]));
  }

  /** Containers that still exist. */
  get existing(): ContainerSpec[] {
    return [...this.containers.values()].map((c) => c.spec);
  }

  /** The tar bytes sent into the container created for `name`. */
  archivesOf(name: string): Buffer[] {
    return [...this.containers.values(), ...this.removed].find((c) => c.spec.name === name)?.archives ?? [];
  }

  private readonly removed: Array<Pick<FakeContainer, 'spec' | 'archives'>> = [];

  private record(call: string): void {
    if (this.options.keepHistory !== false) this.calls.push(call);
  }

  async ping(): Promise<void> {
    this.record('ping');
    if (this.options.unreachable) throw this.options.unreachable;
  }

  async acceptsConnections(): Promise<boolean> {
    return this.options.unreachable === undefined;
  }

  async inspectImage(reference: string): Promise<ImageInfo | undefined> {
    this.record('inspectImage');
    return this.images.get(reference) ?? [...this.images.values()].find((i) => i.id === reference);
  }

  async pullImage(reference: string, options?: { credentials?: RegistryCredentials; onProgress?: (progress: PullProgress) => void }): Promise<void> {
    this.record('pull');
    this.pulls++;
    if (options?.credentials) this.credentialsSentTo.push(options.credentials.serveraddress);
    const found = this.options.registry?.[reference];
    if (!found) throw new ImageNotFoundError(reference, `Cannot pull image ${reference}: not found in the in-memory registry`);
    options?.onProgress?.({ status: 'Downloaded', layer: 'layer1', current: 1, total: 1 });
    this.images.set(reference, fullImage(reference, found));
  }

  async checkAuth(credentials: RegistryCredentials): Promise<{ isAccepted: true } | { isAccepted: false; message: string }> {
    this.record('checkAuth');
    this.credentialsSentTo.push(credentials.serveraddress);
    return this.options.acceptsCredentials?.(credentials) === false ? { isAccepted: false, message: 'unauthorized: incorrect username or password' } : { isAccepted: true };
  }

  async saveImage(reference: string): Promise<Readable> {
    this.record('saveImage');
    const image = this.images.get(reference);
    if (!image) throw new ImageNotFoundError(reference, `No such image: ${reference}`);
    return Readable.from([Buffer.from(JSON.stringify({ reference, image }))]);
  }

  async loadImage(tar: Readable): Promise<string[]> {
    this.record('loadImage');
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    const { reference, image } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { reference: string; image: ImageInfo };
    this.images.set(reference, image);
    return [image.id, reference];
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    this.record('create');
    if (![...this.images.values()].some((i) => i.id === spec.image) && !this.images.has(spec.image)) {
      throw new ImageNotFoundError(spec.image, `No such image: ${spec.image}`);
    }
    if (this.options.failOn?.create?.(spec)) throw new EngineError('create container', `Docker engine failed to create container ${spec.name}`);
    if ([...this.containers.values()].some((c) => c.spec.name === spec.name)) {
      throw new EngineError('create container', `Conflict: the container name ${spec.name} is already in use`, { statusCode: 409 });
    }
    const id = `fake${String(this.nextId++).padStart(60, '0')}`;
    if (this.options.keepHistory !== false) this.created.push(spec);
    this.containers.set(id, {
      id,
      spec,
      state: 'created',
      exitCode: 0,
      isOomKilled: false,
      stdout: new PassThrough(),
      stderr: new PassThrough(),
      logs: { stdout: [], stderr: [] },
      archives: [],
      waiters: [],
      behaviour: spec.labels[WORKER_LABEL] === undefined ? (this.options.behaviour?.(spec) ?? {}) : {},
      execs: new Set(),
    });
    return id;
  }

  private get(id: string): FakeContainer {
    const container = this.containers.get(id);
    if (!container) throw new EngineError('find container', `No such container: ${id}`, { statusCode: 404 });
    return container;
  }

  async putArchive(containerId: string, _path: string, tar: Readable): Promise<void> {
    this.record('putArchive');
    const container = this.get(containerId);
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    if (this.options.failOn?.putArchive?.(container.spec)) throw new EngineError('copy files into container', 'archive rejected');
    container.archives.push(Buffer.concat(chunks));
  }

  async getArchive(containerId: string, path: string): Promise<Readable | undefined> {
    this.record('getArchive');
    const container = this.get(containerId);
    const prefix = path.replace(/\/+$/, '');
    const files = Object.entries(container.behaviour.files ?? {}).filter(([file]) => file === prefix || file.startsWith(`${prefix}/`));
    if (files.length === 0) return undefined;
    const base = prefix.slice(prefix.lastIndexOf('/') + 1);
    const pack = tarStream.pack();
    if (files.some(([file]) => file !== prefix)) pack.entry({ name: base, type: 'directory', mode: 0o755 });
    for (const [file, content] of files) pack.entry({ name: `${base}${file.slice(prefix.length)}`, mode: 0o644 }, content);
    pack.finalize();
    return pack as unknown as Readable;
  }

  async attach(containerId: string): Promise<ContainerOutput> {
    this.record('attach');
    const container = this.get(containerId);
    return {
      stdout: container.stdout,
      stderr: container.stderr,
      close: () => {
        container.stdout.end();
        container.stderr.end();
      },
    };
  }

  async waitForExit(containerId: string): Promise<ExitWaiter> {
    this.record('wait');
    const container = this.get(containerId);
    let cancel = (): void => undefined;
    const exited = new Promise<{ exitCode: number }>((resolve) => {
      const waiter = (exitCode: number): void => resolve({ exitCode });
      container.waiters.push(waiter);
      cancel = () => {
        container.waiters = container.waiters.filter((w) => w !== waiter);
      };
    });
    return { exited, cancel };
  }

  async start(containerId: string): Promise<void> {
    this.record('start');
    const container = this.get(containerId);
    if (this.options.failOn?.start?.(container.spec)) throw new EngineError('start container', `Docker engine failed to start ${container.spec.name}`);
    container.state = 'running';
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const { behaviour } = container;
    const emit = (name: 'stdout' | 'stderr', text: string | undefined): void => {
      if (!text) return;
      const data = Buffer.from(text);
      container.logs[name].push(data);
      if (!behaviour.isOutputLost) container[name].write(data);
    };
    emit('stdout', behaviour.stdout);
    emit('stderr', behaviour.stderr);
    // A pool worker (executionMode 'pool') runs until it is stopped; its execs follow the behaviour.
    if (container.spec.labels[WORKER_LABEL] !== undefined) return;
    afterBehaviour(behaviour, (timer) => (container.timer = timer), () => this.exit(container, behaviour.exitCode ?? 0, behaviour.isOomKilled ?? false));
  }

  /** Reports the behaviour's `usage` once the container has run. */
  watchUsage(containerId: string): UsageWatch {
    this.record('stats');
    const container = this.containers.get(containerId);
    return { stop: async () => (container?.behaviour.usage ? { ...container.behaviour.usage } : undefined) };
  }

  private exit(container: FakeContainer, exitCode: number, isOomKilled: boolean): void {
    if (container.state !== 'running') return;
    clearTimeout(container.timer);
    container.state = 'exited';
    container.exitCode = exitCode;
    container.isOomKilled = isOomKilled;
    this.running--;
    for (const exec of container.execs) this.endExec(exec, null);
    if (!container.behaviour.isOutputLost) {
      container.stdout.end();
      container.stderr.end();
    }
    if (!container.behaviour.isWaitLost) for (const waiter of container.waiters.splice(0)) waiter(exitCode);
  }

  async readLogs(containerId: string): Promise<{ stdout: Readable; stderr: Readable }> {
    this.record('logs');
    const container = this.get(containerId);
    return { stdout: Readable.from(container.logs.stdout), stderr: Readable.from(container.logs.stderr) };
  }

  async inspectContainer(containerId: string): Promise<ContainerState | undefined> {
    this.record('inspect');
    const container = this.containers.get(containerId);
    if (!container) return undefined;
    return { isRunning: container.state === 'running', status: container.state, exitCode: container.exitCode, isOomKilled: container.isOomKilled };
  }

  async stop(containerId: string, _gracePeriodMs: number): Promise<void> {
    this.record('stop');
    const container = this.containers.get(containerId);
    if (container) this.exit(container, 143, false);
  }

  async remove(containerId: string): Promise<void> {
    this.record('remove');
    const container = this.containers.get(containerId);
    if (!container) return;
    if (container.state === 'running') this.exit(container, 137, false);
    this.containers.delete(containerId);
    // Kept for archivesOf(); its streams and logs are let go, so long runs stay small.
    if (this.options.keepHistory !== false) this.removed.push({ spec: container.spec, archives: container.archives });
  }

  async createExec(containerId: string, spec: ExecSpec): Promise<string> {
    this.record('createExec');
    const container = this.get(containerId);
    if (container.state !== 'running') throw new EngineError('create a process', `Container ${containerId} is not running`, { statusCode: 409 });
    const id = `exec${String(this.nextId++).padStart(60, '0')}`;
    if (this.options.keepHistory !== false) this.execs.push(spec);
    this.execsById.set(id, { id, container, spec, state: 'created', exitCode: null, stdout: new PassThrough(), stderr: new PassThrough() });
    return id;
  }

  async startExec(execId: string): Promise<ContainerOutput> {
    this.record('startExec');
    const exec = this.execsById.get(execId);
    if (!exec) throw new EngineError('start process', `No such exec instance: ${execId}`, { statusCode: 404 });
    const { container } = exec;
    // The behaviour sees the exec as the container a fresh run would have made: its argv, env, user, folder.
    // The manager's own wrappers (see pool/worker-pool.ts): the worker setup always works, a job is its argv.
    const [, , , marker, , ...argv] = exec.spec.cmd;
    const isSetup = marker === 'dsim-setup';
    const behaviour = isSetup
      ? {}
      : this.options.behaviour?.({
        ...container.spec,
        cmd: marker === 'dsim-job' ? argv : exec.spec.cmd,
        env: { ...container.spec.env, ...exec.spec.env },
        ...(exec.spec.user === undefined ? {} : { user: exec.spec.user }),
        ...(exec.spec.workingDir === undefined ? {} : { workingDir: exec.spec.workingDir }),
      }) ?? {};
    exec.state = 'running';
    container.execs.add(exec);
    this.runningExecs++;
    this.maxRunningExecs = Math.max(this.maxRunningExecs, this.runningExecs);
    if (behaviour.stdout) exec.stdout.write(behaviour.stdout);
    if (behaviour.stderr) exec.stderr.write(behaviour.stderr);
    afterBehaviour(behaviour, (timer) => (exec.timer = timer), () => this.endExec(exec, behaviour.exitCode ?? 0));
    return { stdout: exec.stdout, stderr: exec.stderr, close: () => this.endExec(exec, null) };
  }

  private endExec(exec: FakeExec, exitCode: number | null): void {
    if (exec.state !== 'running') return;
    clearTimeout(exec.timer);
    exec.state = 'exited';
    exec.exitCode = exitCode;
    exec.container.execs.delete(exec);
    this.runningExecs--;
    exec.stdout.end();
    exec.stderr.end();
    this.execsById.delete(exec.id);
    this.endedExecs.set(exec.id, exitCode);
    // Only the newest exit codes are kept: inspectExec comes right after the end.
    if (this.endedExecs.size > 1000) this.endedExecs.delete(this.endedExecs.keys().next().value ?? '');
  }

  private readonly endedExecs = new Map<string, number | null>();

  async inspectExec(execId: string): Promise<ExecState> {
    this.record('inspectExec');
    const exec = this.execsById.get(execId);
    if (exec) return { isRunning: exec.state === 'running', exitCode: exec.exitCode };
    if (this.endedExecs.has(execId)) return { isRunning: false, exitCode: this.endedExecs.get(execId) ?? null };
    throw new EngineError('inspect process', `No such exec instance: ${execId}`, { statusCode: 404 });
  }

  async listContainers(labels: Record<string, string | undefined>): Promise<ContainerSummary[]> {
    this.record('list');
    return [...this.containers.values()]
      .filter((c) => Object.entries(labels).every(([k, v]) => (v === undefined ? k in c.spec.labels : c.spec.labels[k] === v)))
      .map((c) => ({ id: c.id, name: c.spec.name, state: c.state, labels: c.spec.labels, createdAt: 0 }));
  }
}

function fullImage(reference: string, info: Partial<ImageInfo>): ImageInfo {
  return {
    id: info.id ?? `sha256:${Buffer.from(reference).toString('hex').padEnd(64, '0').slice(0, 64)}`,
    repoDigests: info.repoDigests ?? [],
    repoTags: info.repoTags ?? [reference],
    entrypoint: info.entrypoint ?? null,
    cmd: info.cmd ?? null,
    workingDir: info.workingDir ?? '',
  };
}
