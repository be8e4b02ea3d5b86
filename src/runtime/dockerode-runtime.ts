import net from 'node:net';
import Docker from 'dockerode';
import type { Duplex, Readable } from 'node:stream';
import { ImageNotFoundError } from '../errors/image-not-found-error.js';
import { ImagePullError } from '../errors/image-pull-error.js';
import { demuxStream } from './demux.js';
import { defaultSocket, describeEndpoint, discoverSocket, labelFilters, type ModemLike } from './docker-endpoint.js';
import { cgroupFiles, watchCgroup } from './cgroup-files.js';
import { featuresFrom, type EngineInfo, type EngineVersion } from './engine-features.js';
import { canReadKernelLog, KernelOomRecords } from './kernel-oom-log.js';
import { watchContainerStats } from './dockerode-stats.js';
import { dockerodeSwarm } from './dockerode-swarm.js';
import { engineMessage, mapEngineError, statusCodeOf } from './map-engine-error.js';
import { splitLines } from '../util/split-lines.js';
import { oneAtATime } from '../util/one-at-a-time.js';
import { containerCreateOptions } from './container-create-options.js';
import { dockerArchiveNames, splitArchiveByMounts } from './podman-archives.js';
import { podmanStartRefusal } from './podman-start-refusal.js';
import { loginVerdict } from './login-verdict.js';
import { pullFailure } from './pull-failure.js';
import { ProcessNotStartedError } from './process-not-started-error.js';
import { redactedSecret } from './redacted-secret.js';
import type {
  ContainerOutput,
  ContainerRuntime,
  ContainerSpec,
  ContainerState,
  ContainerSummary,
  EngineFeatures,
  ExecSpec,
  ExecState,
  ExitWaiter,
  SwarmOperations,
  ImageInfo,
  PullProgress,
  RegistryCredentials,
  UsageWatch,
} from './container-runtime.js';

/** A dockerode instance, or the options to make one (`{ socketPath }`, `{ host, port, protocol }`...). */
export type DockerConnection = Docker | Docker.DockerOptions;

/**
 * The Docker Engine through dockerode. Every failure is mapped to `DockerUnavailableError`,
 * `ImageNotFoundError` or `EngineError`; no dockerode type crosses this class's boundary.
 */
/** The one-at-a-time gate of keep-id creations of each rootless Podman service (by endpoint) in this process. */
const keepIdGates = new Map<string, ReturnType<typeof oneAtATime>>();
function keepIdCreates(endpoint: string): ReturnType<typeof oneAtATime> {
  let gate = keepIdGates.get(endpoint);
  if (gate === undefined) keepIdGates.set(endpoint, (gate = oneAtATime()));
  return gate;
}

export class DockerodeRuntime implements ContainerRuntime {
  readonly endpoint: string;
  readonly isLocal: boolean;
  /** Docker Swarm operations, for `backend: 'swarm'` when the engine is a swarm manager. */
  readonly swarm: SwarmOperations;
  private readonly docker: Docker;
  /** When neither the `docker` option nor DOCKER_HOST said where the engine is: the sockets looked at. */
  private readonly triedSockets: string[] | undefined;
  private featuresOf: Promise<EngineFeatures> | undefined;
  /** The kernel's OOM records, for a local engine (the kernel of this host is its kernel). */
  private readonly kernelOom: KernelOomRecords | undefined;
  private readonly stdinExecs = new Set<string>(); // created with `stdin`, until they start

  constructor(connection?: DockerConnection) {
    if (connection === undefined && !process.env.DOCKER_HOST) {
      // Nothing says where the engine is: the first known socket that exists (Docker's, then Podman's).
      const found = discoverSocket();
      this.triedSockets = found.tried;
      this.docker = new Docker(found.socket === undefined ? undefined : { socketPath: found.socket });
    } else {
      this.docker = connection instanceof Docker ? connection : new Docker(connection);
    }
    const described = describeEndpoint(this.docker.modem as unknown as ModemLike);
    this.endpoint = described.endpoint;
    this.isLocal = described.isLocal;
    this.kernelOom = described.isLocal ? new KernelOomRecords() : undefined;
    this.swarm = dockerodeSwarm(this.docker, (operation, error) => this.fail(operation, error));
  }

  private fail(operation: string, error: unknown): never {
    throw mapEngineError(operation, this.endpoint, error, this.triedSockets);
  }

  async ping(): Promise<void> {
    try {
      await this.docker.ping();
    } catch (error) {
      this.fail('answer a ping', error);
    }
  }

  async acceptsConnections(): Promise<boolean> {
    const modem = this.docker.modem as unknown as ModemLike;
    if (modem.protocol === 'ssh') {
      return this.ping().then(
        () => true,
        () => false,
      );
    }
    const target = modem.socketPath
      ? { path: typeof modem.socketPath === 'function' ? defaultSocket() : String(modem.socketPath) }
      : { host: modem.host ?? 'localhost', port: Number(modem.port ?? (modem.protocol === 'https' ? 2376 : 2375)) };
    return new Promise((resolve) => {
      const socket = net.connect(target);
      socket.setTimeout(5000);
      const done = (isAccepted: boolean): void => {
        socket.destroy();
        resolve(isAccepted);
      };
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
      socket.once('timeout', () => done(false));
    });
  }

  async inspectImage(reference: string): Promise<ImageInfo | undefined> {
    try {
      const info = await this.docker.getImage(reference).inspect();
      return {
        id: info.Id,
        repoDigests: info.RepoDigests ?? [],
        repoTags: info.RepoTags ?? [],
        entrypoint: toArgv(info.Config?.Entrypoint),
        cmd: toArgv(info.Config?.Cmd),
        workingDir: info.Config?.WorkingDir ?? '',
      };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      this.fail(`inspect image ${reference}`, error);
    }
  }

  async pullImage(
    reference: string,
    options: { credentials?: RegistryCredentials; onProgress?: (progress: PullProgress) => void } = {},
  ): Promise<void> {
    let stream: Readable;
    try {
      // Dialed directly so the X-Registry-Auth header is handed over redacted: DEBUG=modem prints request headers.
      const modem = this.docker.modem as unknown as ModemLike;
      const auth = options.credentials
        ? { authconfig: { base64: redactedSecret(registryAuthHeader(options.credentials)) } }
        : {};
      stream = await new Promise<Readable>((resolve, reject) => {
        modem.dial(
          {
            path: '/images/create?',
            method: 'POST',
            options: { fromImage: reference },
            ...auth,
            isStream: true,
            statusCodes: { 200: true, 401: 'unauthorized', 403: 'forbidden', 404: 'repository does not exist or no pull access', 500: 'server error' },
          },
          (error, result) => (error ? reject(error as Error) : resolve(result as Readable)),
        );
      });
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === 404 || status === 401 || status === 403 || status === 500) {
        throw new ImagePullError(reference, `Cannot pull image ${reference}: ${engineMessage(error)}`, { cause: error });
      }
      this.fail(`pull image ${reference}`, error);
    }
    // The engine answers 200 and reports failures as `{ error, errorDetail }` lines: inspect every line.
    let failure: string | undefined;
    try {
      for await (const line of splitLines(stream)) {
        if (line.trim() === '') continue;
        let event: { error?: string; errorDetail?: { message?: string }; status?: string; id?: string; progressDetail?: { current?: number; total?: number } };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          continue; // a non-JSON line is not a failure of the pull and must not crash the process
        }
        if (event.error !== undefined || event.errorDetail !== undefined) {
          failure = event.errorDetail?.message ?? event.error ?? 'unknown pull error';
          continue;
        }
        if (options.onProgress && event.status) {
          options.onProgress({
            status: event.status,
            ...(event.id === undefined ? {} : { layer: event.id }),
            ...(event.progressDetail?.current === undefined ? {} : { current: event.progressDetail.current }),
            ...(event.progressDetail?.total === undefined ? {} : { total: event.progressDetail.total }),
          });
        }
      }
    } catch (error) {
      this.fail(`pull image ${reference}`, error);
    }
    if (failure !== undefined) throw pullFailure(reference, failure, { isPodman: await this.isPodman(), ...(options.credentials ? { credentials: options.credentials } : {}) });
  }

  async checkAuth(credentials: RegistryCredentials): Promise<{ isAccepted: true } | { isAccepted: false; message: string }> {
    try {
      // Credentials travel in the request body here, which the engine client never logs.
      await this.docker.checkAuth(credentials);
      return { isAccepted: true };
    } catch (error) {
      const message = engineMessage(error);
      const verdict = loginVerdict(statusCodeOf(error), message, await this.isPodman());
      if (verdict === 'refused') return { isAccepted: false, message };
      if (verdict === 'no-verdict') return { isAccepted: true }; // not refused: the pull judges them (pullFailure)
      this.fail(`log in to ${credentials.serveraddress}`, error);
    }
  }

  async saveImage(reference: string): Promise<Readable> {
    try {
      return (await this.docker.getImage(reference).get()) as unknown as Readable;
    } catch (error) {
      if (statusCodeOf(error) === 404) throw new ImageNotFoundError(reference, `Cannot save image ${reference}: it is not on the engine at ${this.endpoint}.`, { cause: error });
      this.fail(`save image ${reference}`, error);
    }
  }

  async loadImage(tar: Readable): Promise<string[]> {
    let stream: Readable;
    try {
      stream = (await this.docker.loadImage(tar as unknown as NodeJS.ReadableStream, { quiet: true })) as unknown as Readable;
    } catch (error) {
      this.fail('load an image', error);
    }
    const loaded: string[] = [];
    let failure: string | undefined;
    for await (const line of splitLines(stream)) {
      try {
        const event = JSON.parse(line) as { stream?: string; error?: string; errorDetail?: { message?: string } };
        if (event.error !== undefined || event.errorDetail !== undefined) failure = event.errorDetail?.message ?? event.error;
        const match = /Loaded image(?: ID)?: (\S+)/.exec(event.stream ?? '');
        if (match?.[1]) loaded.push(match[1]);
      } catch {
        // not JSON: ignore
      }
    }
    if (failure !== undefined) this.fail('load an image', new Error(failure));
    return loaded;
  }

  /**
   * Builds an image from an uncompressed tar of a build context (a Dockerfile at its root) and tags it; rejects
   * with an `EngineError` carrying the build's own error line (a failed step, an unreachable base image).
   */
  async buildImage(context: Readable, tag: string): Promise<void> {
    let stream: Readable;
    try {
      stream = (await this.docker.buildImage(context as unknown as NodeJS.ReadableStream, { t: tag, rm: true, forcerm: true })) as unknown as Readable;
    } catch (error) {
      this.fail(`build image ${tag}`, error);
    }
    let failure: string | undefined;
    for await (const line of splitLines(stream)) {
      try {
        const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        if (event.error !== undefined || event.errorDetail !== undefined) failure ??= event.errorDetail?.message ?? event.error;
      } catch {
        // not JSON: ignore
      }
    }
    if (failure !== undefined) this.fail(`build image ${tag}`, new Error(failure));
  }

  async createContainer(spec: ContainerSpec): Promise<string> {
    try {
      // Rootless Podman maps container uids into the user's subordinate range: keep-id maps the caller's uid to
      // itself, so a job running as the caller writes the mounted job folder and leaves files the caller owns.
      const keepsId = (await this.isPodman()) && (await this.features()).rootless;
      const options = containerCreateOptions(spec, { keepsId });
      // Podman 4.x reads keep-id's subordinate ids through libsubid, which is not thread-safe: creations at the
      // same moment fail ("keep-id requires additional UIDs") or crash its service. They go one at a time per
      // service, whichever runtime of this process asks.
      const container = keepsId ? await keepIdCreates(this.endpoint)(() => this.docker.createContainer(options)) : await this.docker.createContainer(options);
      return container.id;
    } catch (error) {
      if (statusCodeOf(error) === 404) {
        throw new ImageNotFoundError(spec.image, `Image ${spec.image} is not on the engine: ${engineMessage(error)}`, {
          cause: error,
        });
      }
      this.fail(`create container ${spec.name}`, error);
    }
  }

  async putArchive(containerId: string, path: string, tar: Readable): Promise<void> {
    const container = this.docker.getContainer(containerId);
    try {
      if (!(await this.isPodman())) {
        // Only ever a stream: dockerode treats a string argument as a host file path to read.
        await container.putArchive(tar, { path });
        return;
      }
      // Podman extracts only into the file system of the path it is given: entries under a mount go to the mount.
      const mounts = ((await container.inspect()).Mounts ?? []).map((mount) => mount.Destination);
      const { parts, done } = splitArchiveByMounts(tar, path, mounts);
      await Promise.all([done, ...parts.map((part) => container.putArchive(part.tar, { path: part.path }))]);
    } catch (error) {
      tar.destroy();
      this.fail(`copy files into container ${containerId.slice(0, 12)}`, error);
    }
  }

  async getArchive(containerId: string, path: string): Promise<Readable | undefined> {
    try {
      const archive = (await this.docker.getContainer(containerId).getArchive({ path })) as unknown as Readable;
      return (await this.isPodman()) ? dockerArchiveNames(archive, path) : archive;
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      this.fail(`copy ${path} out of container ${containerId.slice(0, 12)}`, error);
    }
  }

  async attach(containerId: string): Promise<ContainerOutput> {
    let raw: Readable;
    try {
      raw = (await this.docker
        .getContainer(containerId)
        .attach({ stream: true, stdout: true, stderr: true, logs: false })) as unknown as Readable;
    } catch (error) {
      // Podman prepares the container's process when it attaches: a process it cannot start fails here.
      await this.throwIfPodmanRefused(error);
      this.fail(`attach to container ${containerId.slice(0, 12)}`, error);
    }
    const { stdout, stderr } = demuxStream(raw);
    return {
      stdout,
      stderr,
      close: () => {
        raw.destroy();
      },
    };
  }

  /**
   * Follows the engine's statistics of a running container (one sample a second): the CPU time and the memory
   * high-water mark (cgroup v1 `max_usage`; on cgroup v2 the largest sampled usage) of the last sample. A
   * container that ends before its first sample reports nothing.
   */
  watchUsage(containerId: string): UsageWatch {
    const watch = (async (): Promise<UsageWatch | undefined> => {
      if (!(await this.isPodman())) {
        return watchContainerStats(() => this.docker.getContainer(containerId).stats({ stream: true }) as unknown as Promise<Readable>);
      }
      // Podman's statistics stream sends one sample and no memory high-water mark: on a local engine the
      // container's cgroup counters are read from this host instead; a remote Podman reports no usage.
      if (!this.isLocal) return undefined;
      const pid = (await this.inspectContainer(containerId))?.pid;
      const files = pid === undefined ? undefined : await cgroupFiles(pid);
      return files === undefined ? undefined : watchCgroup(files);
    })().catch(() => undefined);
    return { stop: async () => (await watch)?.stop() };
  }

  async waitForExit(containerId: string): Promise<ExitWaiter> {
    // Dial the wait as a stream so this resolves when the engine has registered it (it sends the headers
    // first): only then is it safe to start the container without missing a fast exit.
    const modem = this.docker.modem as unknown as ModemLike;
    const response = await new Promise<Readable>((resolve, reject) => {
      modem.dial(
        {
          path: `/containers/${containerId}/wait?`,
          method: 'POST',
          options: { condition: 'next-exit' },
          isStream: true,
          statusCodes: { 200: true, 400: 'bad parameter', 404: 'no such container', 500: 'server error' },
        },
        (error, stream) => (error ? reject(error as Error) : resolve(stream as Readable)),
      );
    }).catch((error: unknown) => this.fail(`wait for container ${containerId.slice(0, 12)}`, error));
    const exited = (async () => {
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of response) chunks.push(chunk as Buffer);
      } catch (error) {
        this.fail(`wait for container ${containerId.slice(0, 12)}`, error);
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        StatusCode?: number;
        Error?: { Message?: string } | null;
      };
      if (typeof body.StatusCode !== 'number') {
        this.fail(`wait for container ${containerId.slice(0, 12)}`, new Error(body.Error?.Message ?? 'the wait ended without a status code'));
      }
      return { exitCode: body.StatusCode };
    })();
    exited.catch(() => undefined); // observed by the caller; never an unhandled rejection
    return { exited, cancel: () => response.destroy() };
  }

  async start(containerId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerId).start();
    } catch (error) {
      // The engine answered but could not start the process: Docker records why in the container's state and
      // gives it the exit code; Podman leaves the container 'created' and says why only in its answer.
      const state = await this.inspectContainer(containerId).catch(() => undefined);
      if (state !== undefined && !state.isRunning && state.exitCode !== 0 && state.error !== undefined) {
        throw new ProcessNotStartedError(state.exitCode, state.error, { cause: error });
      }
      if (state?.status === 'created') await this.throwIfPodmanRefused(error);
      this.fail(`start container ${containerId.slice(0, 12)}`, error);
    }
  }

  async readLogs(containerId: string): Promise<{ stdout: Readable; stderr: Readable }> {
    // Dialed as a stream: dockerode's logs({ follow: false }) would buffer the whole log in memory.
    const modem = this.docker.modem as unknown as ModemLike;
    const raw = await new Promise<Readable>((resolve, reject) => {
      modem.dial(
        {
          path: `/containers/${containerId}/logs?`,
          method: 'GET',
          options: { stdout: true, stderr: true, follow: false },
          isStream: true,
          statusCodes: { 200: true, 404: 'no such container', 500: 'server error' },
        },
        (error, stream) => (error ? reject(error as Error) : resolve(stream as Readable)),
      );
    }).catch((error: unknown) => this.fail(`read the logs of container ${containerId.slice(0, 12)}`, error));
    return demuxStream(raw);
  }

  async inspectContainer(containerId: string): Promise<ContainerState | undefined> {
    try {
      const info = await this.docker.getContainer(containerId).inspect();
      return {
        isRunning: info.State.Running,
        status: info.State.Status,
        exitCode: info.State.ExitCode,
        // The engine's flag, or the kernel's own record when the engine lost it (a local engine, root).
        isOomKilled: info.State.OOMKilled || (info.State.ExitCode === 137 && !info.State.Running && (this.kernelOom?.hasKilled(info.Id) ?? false)),
        startedAt: info.State.StartedAt,
        finishedAt: info.State.FinishedAt,
        ...(info.State.Error ? { error: info.State.Error } : {}),
        ...(info.State.Pid ? { pid: info.State.Pid } : {}),
      };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      this.fail(`inspect container ${containerId.slice(0, 12)}`, error);
    }
  }

  async stop(containerId: string, gracePeriodMs: number): Promise<void> {
    try {
      await this.docker.getContainer(containerId).stop({ t: Math.max(0, Math.ceil(gracePeriodMs / 1000)) });
    } catch (error) {
      const status = statusCodeOf(error);
      if (status === 304 || status === 404) return; // already stopped, or gone
      this.fail(`stop container ${containerId.slice(0, 12)}`, error);
    }
  }

  async remove(containerId: string): Promise<void> {
    const container = this.docker.getContainer(containerId);
    for (let attempt = 1; ; attempt++) {
      try {
        await container.remove({ force: true, v: true });
      } catch (error) {
        const status = statusCodeOf(error);
        // 404: already gone; 409: a removal is already in progress, verified below.
        if (status !== 404 && status !== 409 && attempt >= 3) this.fail(`remove container ${containerId.slice(0, 12)}`, error);
      }
      // Verify: a removal can fail silently and leave the container behind.
      if ((await this.inspectContainer(containerId)) === undefined) return;
      if (attempt >= 3) {
        this.fail(`remove container ${containerId.slice(0, 12)}`, new Error('the container still exists after 3 removals'));
      }
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }

  async capacity(): Promise<{ cpus: number; memoryBytes: number } | undefined> {
    try {
      const info = (await this.docker.info()) as { NCPU?: number; MemTotal?: number };
      return typeof info.NCPU === 'number' && typeof info.MemTotal === 'number' ? { cpus: info.NCPU, memoryBytes: info.MemTotal } : undefined;
    } catch (error) {
      this.fail('describe itself (docker info)', error);
    }
  }

  /** Whether the engine is Podman (its differences are handled here); false when it cannot say. */
  private async isPodman(): Promise<boolean> {
    return (await this.features().catch(() => undefined))?.product === 'podman';
  }

  /** Podman answers a process it cannot start (a user the image lacks) with an HTTP error: the job's fault. */
  private async throwIfPodmanRefused(error: unknown): Promise<void> {
    const refusal = (await this.isPodman()) ? podmanStartRefusal(engineMessage(error)) : undefined;
    if (refusal !== undefined) throw new ProcessNotStartedError(refusal.exitCode, refusal.reason, { cause: error });
  }

  features(): Promise<EngineFeatures> {
    this.featuresOf ??= (async () => {
      try {
        const [version, info] = await Promise.all([this.docker.version(), this.docker.info()]);
        return featuresFrom(version as EngineVersion, info as EngineInfo, { readsKernelLog: this.isLocal && canReadKernelLog() });
      } catch (error) {
        this.featuresOf = undefined;
        this.fail('describe itself (version and info)', error);
      }
    })();
    return this.featuresOf;
  }

  async createExec(containerId: string, spec: ExecSpec): Promise<string> {
    try {
      const exec = await this.docker.getContainer(containerId).exec({
        Cmd: spec.cmd,
        Env: Object.entries(spec.env).map(([key, value]) => `${key}=${value}`),
        ...(spec.user === undefined ? {} : { User: spec.user }),
        ...(spec.workingDir === undefined ? {} : { WorkingDir: spec.workingDir }),
        AttachStdin: spec.stdin ?? false, AttachStdout: true, AttachStderr: true, Tty: false,
      });
      if (spec.stdin) this.stdinExecs.add(exec.id);
      return exec.id;
    } catch (error) {
      this.fail(`create a process in container ${containerId.slice(0, 12)}`, error);
    }
  }

  async startExec(execId: string): Promise<ContainerOutput> {
    let raw: Duplex;
    const stdin = this.stdinExecs.delete(execId);
    try {
      raw = (await this.docker.getExec(execId).start({ hijack: true, stdin, Detach: false, Tty: false })) as unknown as Duplex;
    } catch (error) {
      // Docker runs an exec it cannot start and ends it with 126; Podman refuses to start it.
      await this.throwIfPodmanRefused(error);
      this.fail(`start process ${execId.slice(0, 12)}`, error);
    }
    const { stdout, stderr } = demuxStream(raw);
    return { stdout, stderr, ...(stdin ? { stdin: raw } : {}), close: () => raw.destroy() };
  }

  async inspectExec(execId: string): Promise<ExecState> {
    try {
      const info = await this.docker.getExec(execId).inspect();
      return { isRunning: info.Running, exitCode: info.Running ? null : (info.ExitCode ?? null) };
    } catch (error) {
      this.fail(`inspect process ${execId.slice(0, 12)}`, error);
    }
  }

  async listContainers(labels: Record<string, string | undefined>): Promise<ContainerSummary[]> {
    try {
      const filters = labelFilters(labels);
      const list = await this.docker.listContainers({ all: true, filters });
      return list.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        state: c.State,
        labels: c.Labels,
        createdAt: c.Created * 1000,
      }));
    } catch (error) {
      this.fail('list containers', error);
    }
  }
}

/**
 * The X-Registry-Auth value: URL-safe base64 of the JSON WITH its `=` padding. The engine decodes it with Go's
 * padded URL encoding and silently ignores a header it cannot decode (the pull then goes anonymous), so Node's
 * unpadded 'base64url' must not be used.
 */
export function registryAuthHeader(credentials: RegistryCredentials): string {
  return Buffer.from(JSON.stringify(credentials)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

function toArgv(value: unknown): string[] | null {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return [value];
  return null;
}
