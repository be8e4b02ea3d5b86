import { appendFileSync, chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { LABELS, type ContainerSpec, type ExecSpec } from '../../src/index.js';
import { InMemoryRuntime, type InMemoryBehaviour, type InMemoryRuntimeOptions } from '../../src/testing.js';
import { runScript, type ShellFileSystem, type ShellOutcome } from './fake-shell.js';

/** Options of {@link ScriptedRuntime}. */
export interface ScriptedRuntimeOptions extends Omit<InMemoryRuntimeOptions, 'behaviour' | 'images'> {
  /** The image reference the runtime holds. */
  image: string;
  /** The image's entrypoint: jobs are `sh -c` scripts. @default ['/bin/sh', '-c'] */
  entrypoint?: string[];
  /** The manager's mount path (pool mode: each job's mount path is its folder). @default '/mnt/data' */
  mountPath?: string;
}

/** A container's private files (what is not in a bind mount): templates put into it, files its scripts wrote. */
class PrivateFiles {
  readonly files = new Map<string, Buffer>();
  readonly directories = new Set<string>(['/', '/tmp', '/etc', '/bin']);

  write(file: string, data: Buffer, isAppend: boolean): void {
    this.makeDirectory(path.posix.dirname(file));
    this.files.set(file, isAppend ? Buffer.concat([this.files.get(file) ?? Buffer.alloc(0), data]) : data);
  }

  makeDirectory(dir: string): void {
    for (let d = dir; d !== '/'; d = path.posix.dirname(d)) this.directories.add(d);
  }

  isDirectory(dir: string): boolean {
    return this.directories.has(dir) || [...this.files.keys()].some((file) => file.startsWith(`${dir}/`));
  }
}

interface ContainerRecord {
  spec: ContainerSpec;
  files: PrivateFiles;
  hasStarted: boolean;
  outcome?: ShellOutcome;
}

const within = (file: string, dir: string): boolean => file === dir || file.startsWith(`${dir}/`);

function hostFileSystem(resolve: (file: string) => string | undefined, own: PrivateFiles): ShellFileSystem {
  return {
    readFile: (file) => {
      const host = resolve(file);
      if (host === undefined) return own.files.get(file);
      try {
        return statSync(host).isFile() ? readFileSync(host) : undefined;
      } catch {
        return undefined;
      }
    },
    isDirectory: (file) => {
      const host = resolve(file);
      if (host === undefined) return own.isDirectory(file);
      try {
        return statSync(host).isDirectory();
      } catch {
        return false;
      }
    },
    writeFile: (file, data, isAppend) => {
      const host = resolve(file);
      if (host === undefined) return own.write(file, data, isAppend);
      try {
        if (isAppend) appendFileSync(host, data);
        else writeFileSync(host, data);
      } catch (error) {
        throw new Error((error as NodeJS.ErrnoException).code === 'ENOENT' ? 'nonexistent directory' : (error as Error).message);
      }
    },
    makeDirectory: (dir) => {
      const host = resolve(dir);
      if (host === undefined) own.makeDirectory(dir);
      else mkdirSync(host, { recursive: true });
    },
  };
}

function ids(user: string | undefined): { uid: number; gid: number } {
  if (user === undefined || user === 'root') return { uid: 0, gid: 0 };
  const match = /^(\d+)(?::(\d+))?$/.exec(user);
  if (!match) throw new Error(`The conformance fake shell knows numeric users and root only, got ${JSON.stringify(user)}.`);
  return { uid: Number(match[1]), gid: Number(match[2] ?? 0) };
}

/**
 * An `InMemoryRuntime` whose containers run their `sh -c` script with the fake shell of
 * `__tests__/helpers/fake-shell.ts`, as the real engine would run it with busybox: a bind-mounted folder is the
 * host folder, templates put into a container land in it (through its bind mounts, as on the engine), `collect`
 * and copy mode read what the script wrote, and in pool mode each job sees its own folder at the mount path.
 *
 * It only adds bookkeeping around the public `InMemoryRuntime` methods; the behaviour it hands the runtime is
 * read when the container starts (after its templates are in), which is when the script runs.
 */
export class ScriptedRuntime extends InMemoryRuntime {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly bySpec = new WeakMap<ContainerSpec, ContainerRecord>();
  private readonly execSpecs = new Map<string, { containerId: string; spec: ExecSpec }>();
  private pendingExec: { containerId: string; spec: ExecSpec } | undefined;
  private readonly entrypoint: string[];
  private readonly mountPath: string;

  constructor(options: ScriptedRuntimeOptions, holder: { runtime?: ScriptedRuntime } = {}) {
    const { image, entrypoint = ['/bin/sh', '-c'], mountPath = '/mnt/data', ...rest } = options;
    super({
      ...rest,
      images: { [image]: { entrypoint, cmd: null, workingDir: '' } },
      behaviour: (spec) => (holder.runtime as ScriptedRuntime).behaviourOf(spec),
    });
    holder.runtime = this;
    this.entrypoint = entrypoint;
    this.mountPath = mountPath;
  }

  override async createContainer(spec: ContainerSpec): Promise<string> {
    const record = this.recordOf(spec);
    const id = await super.createContainer(spec);
    this.records.set(id, record);
    return id;
  }

  override async putArchive(containerId: string, archivePath: string, tar: Readable): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of tar) chunks.push(chunk as Buffer);
    const data = Buffer.concat(chunks);
    await super.putArchive(containerId, archivePath, Readable.from([data]));
    const record = this.records.get(containerId);
    if (record) await this.extract(record, archivePath, data);
  }

  override async start(containerId: string): Promise<void> {
    const record = this.records.get(containerId);
    if (record) record.hasStarted = true;
    return super.start(containerId);
  }

  override async createExec(containerId: string, spec: ExecSpec): Promise<string> {
    const id = await super.createExec(containerId, spec);
    this.execSpecs.set(id, { containerId, spec });
    return id;
  }

  override startExec(execId: string): ReturnType<InMemoryRuntime['startExec']> {
    // The runtime asks for the behaviour synchronously, as the exec starts: the script runs then.
    this.pendingExec = this.execSpecs.get(execId);
    try {
      return super.startExec(execId);
    } finally {
      this.pendingExec = undefined;
      this.execSpecs.delete(execId);
    }
  }

  private recordOf(spec: ContainerSpec): ContainerRecord {
    let record = this.bySpec.get(spec);
    if (!record) {
      record = { spec, files: new PrivateFiles(), hasStarted: false };
      this.bySpec.set(spec, record);
    }
    return record;
  }

  /** Places an archive's files and folders: through the container's bind mounts onto the host, else privately. */
  private async extract(record: ContainerRecord, archivePath: string, data: Buffer): Promise<void> {
    const fs = hostFileSystem((file) => this.bindTarget(record.spec, file), record.files);
    const extract = tarStream.extract();
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
        stream.on('end', () => {
          const target = path.posix.join(archivePath, header.name);
          const host = this.bindTarget(record.spec, target);
          try {
            if (header.type === 'directory') fs.makeDirectory(target);
            else if (header.type === 'file' && host === undefined) record.files.write(target, Buffer.concat(chunks), false);
            else if (header.type === 'file' && host !== undefined) {
              // As the engine extracts through a bind mount: the file with the archive's mode.
              mkdirSync(path.dirname(host), { recursive: true });
              writeFileSync(host, Buffer.concat(chunks));
              chmodSync(host, (header.mode ?? 0o644) & 0o7777);
            }
            next();
          } catch (error) {
            reject(error as Error);
          }
        });
        stream.resume();
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    extract.end(data);
    await done;
  }

  /** The host path of a container path that lies in one of the container's bind mounts. */
  private bindTarget(spec: ContainerSpec, file: string): string | undefined {
    const bind = spec.binds.find((b) => within(file, b.containerPath));
    return bind && path.join(bind.hostPath, path.posix.relative(bind.containerPath, file));
  }

  private behaviourOf(spec: ContainerSpec): InMemoryBehaviour {
    if (spec.labels[LABELS.worker] !== undefined) return this.runExec(spec);
    const record = this.recordOf(spec);
    const outcome = (): ShellOutcome => {
      if (!record.hasStarted) {
        throw new Error(`The InMemoryRuntime read the behaviour of ${spec.name} before starting it; the conformance ScriptedRuntime runs scripts at start.`);
      }
      record.outcome ??= this.run(record.spec, [...(spec.entrypoint ?? this.entrypoint), ...(spec.cmd ?? [])], (file) => this.bindTarget(spec, file), record.files);
      return record.outcome;
    };
    return {
      get stdout() {
        return outcome().stdout;
      },
      get stderr() {
        return outcome().stderr;
      },
      get exitCode() {
        return outcome().exitCode;
      },
      get durationMs() {
        return outcome().durationMs;
      },
      // What getArchive (collect, copy mode) finds: the files the container holds privately.
      get files() {
        return Object.fromEntries([...record.files.files].map(([file, content]) => [file, content.toString('utf8')]));
      },
    };
  }

  /** A job's exec in a pool worker: its mount path is the job folder the exec names inside the worker's bind mount. */
  private runExec(spec: ContainerSpec): InMemoryBehaviour {
    const pending = this.pendingExec;
    const worker = pending && this.records.get(pending.containerId);
    if (!pending || !worker) throw new Error('The conformance ScriptedRuntime could not tell which exec is starting.');
    const folder = pending.spec.cmd.find((arg) => worker.spec.binds.some((b) => arg.startsWith(`${b.containerPath}/`)));
    const jobFolder = folder === undefined ? undefined : this.bindTarget(worker.spec, folder);
    if (jobFolder === undefined) throw new Error(`The conformance ScriptedRuntime found no job folder in the exec ${JSON.stringify(pending.spec.cmd)}.`);
    const resolve = (file: string): string | undefined => (within(file, this.mountPath) ? path.join(jobFolder, path.posix.relative(this.mountPath, file)) : this.bindTarget(worker.spec, file));
    return this.run(spec, spec.cmd ?? [], resolve, worker.files);
  }

  private run(spec: Pick<ContainerSpec, 'env' | 'user' | 'workingDir' | 'name'>, argv: readonly string[], resolve: (file: string) => string | undefined, files: PrivateFiles): ShellOutcome {
    const [shell, flag, script] = argv;
    if (!(shell === '/bin/sh' || shell === 'sh') || flag !== '-c' || script === undefined) {
      throw new Error(`The conformance ScriptedRuntime runs 'sh -c SCRIPT' only, got ${JSON.stringify(argv)} for ${spec.name}.`);
    }
    return runScript(script, { env: spec.env, ...ids(spec.user), cwd: spec.workingDir || '/', fs: hostFileSystem(resolve, files) });
  }
}
