import os from 'node:os';
import path from 'node:path';
import { ValidationError, describeValue } from '../errors/validation-error.js';
import { JOB_SETTING_KEYS, normalizeSettings, unknownKeys, type JobSettings, type NormalizedSettings } from '../job/job-settings.js';
import { closestName, didYouMean } from '../util/closest-name.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import type { DockerConnection } from '../runtime/dockerode-runtime.js';
import type { RegistryAuthenticator } from '../auth/registry-authenticator.js';
import { backendKind } from '../backends/create-backend.js';
import type { SlurmOptions } from '../backends/slurm/slurm-backend.js';

/** When to pull the image. */
export type PullPolicy = 'always' | 'missing' | 'never';

/** Options of a `DockerSimManager`. */
export interface DockerSimManagerOptions {
  /** The simulation image: `'name'`, `'registry/name:tag'` or `'name@sha256:...'`. */
  image: string;
  /** Tag used when `image` carries no tag or digest. @default 'latest' */
  tag?: string;
  /** How many containers run at once. @default os.availableParallelism() */
  maxWorkers?: number;
  /** Host folder that receives one `job_<name>` folder per job. Created when missing. */
  dataDirectory: string;
  /** Where each job's output folder appears inside its container. @default '/mnt/data' */
  mountPath?: string;
  /** @default 'missing' */
  pullPolicy?: PullPolicy;
  /** A dockerode instance or dockerode options. @default DOCKER_HOST, else the local socket */
  docker?: DockerConnection;
  /** Use another container runtime (for instance the in-memory one of `docker-sim-manager/testing`). Overrides `docker`. */
  runtime?: ContainerRuntime;
  /** Settings every job inherits; a job's own settings win (env and labels are merged). */
  defaults?: JobSettings;
  /** Time a container gets between SIGTERM and SIGKILL when it is stopped. @default 10000 */
  stopGracePeriodMs?: number;
  /**
   * Resolve the tag once before any job and run every job on that exact image (its id, and its repo digest
   * when it came from a registry), even if the tag moves during the run. @default true
   */
  pinDigest?: boolean;
  /**
   * Where registry credentials come from: the first authenticator that supports the image's registry answers.
   * Credentials are checked with the registry once before a pull, so a wrong token fails before any container.
   * @default a `DockerConfigAuthenticator`: what `docker login` stored (credHelpers, credsStore, auths)
   */
  auth?: RegistryAuthenticator | readonly RegistryAuthenticator[];
  /** Cancel the rest of the run at the first job that fails (after its retries). @default false */
  failFast?: boolean;
  /** Cancel the rest of the run once this many jobs failed (after their retries). @default no limit */
  maxFailures?: number;
  /**
   * Skip jobs whose last record in `<dataDirectory>/.docker-sim-manager/manifest.jsonl` succeeded with the same
   * spec; run the others again, setting their earlier output aside in `.attempt-<n>/`. Without it, a job whose
   * folder holds files is refused before anything runs. @default false
   */
  resume?: boolean;
  /**
   * Cancel the run on SIGINT or SIGTERM (a second SIGINT removes the run's containers and exits at once).
   * Leave it off when the manager is embedded in an app that handles signals itself. @default false
   */
  handleSignals?: boolean;
  /**
   * `'container'`: a fresh container per job. `'pool'`: `maxWorkers` long-lived worker containers, each running
   * one job at a time as a process (`docker exec`) with the job's argv, env, user and working directory; much
   * cheaper for short jobs, with weaker isolation between the jobs of one worker. Local engines only.
   * @default 'container'
   */
  executionMode?: ExecutionMode;
  /** Pool mode: replace a worker after it ran this many jobs. @default never */
  recycleAfter?: number;
  /** Pool mode: the command that keeps a worker alive (run under tini). @default ['sleep', 'infinity'] */
  poolKeepAlive?: readonly string[];
  /**
   * Pool mode: each worker runs a resident runner (a small /bin/sh script, one `docker exec` per worker) that
   * starts each job as a child process, with no engine call per job. `false`: one `docker exec` per job. A worker
   * whose runtime cannot attach an exec's stdin, and a job whose user differs from the runner's (the jobs'
   * default user), run as an exec. @default true
   */
  residentRunner?: boolean;
  /**
   * Several engines at once, instead of `docker`, `runtime` and `maxWorkers`: each job goes to an engine with a
   * free slot. The image must be the same (id or repo digest) on every engine.
   */
  engines?: readonly EngineOptions[];
  /**
   * `'engine'`: containers on the engine(s). `'swarm'`: each job becomes a Docker Swarm replicated-job service
   * (one replica, never restarted) on the swarm whose manager `docker` points at; `maxWorkers` still bounds how
   * many run at once. `'slurm'`: each attempt becomes a Slurm batch job that runs the job's container on a compute
   * node (see `slurm` and docs/slurm.md). @default 'engine'
   */
  backend?: Backend;
  /** Backend 'slurm': partition, account, QoS, extra sbatch options, and the nodes' container engine. */
  slurm?: SlurmOptions;
  /**
   * Measure each job's CPU time and peak memory (`result.usage`) from the engine's statistics (one stats stream
   * per container; pool workers' cgroup counters). Turn it off to spare the engine that work. @default true
   */
  collectUsage?: boolean;
}

/** Where jobs run: containers on engines, services on a Docker Swarm, or Slurm jobs on a cluster. */
export type Backend = 'engine' | 'swarm' | 'slurm';

/** One engine of a multi-engine manager. */
export interface EngineOptions {
  /** Names the engine in results, events and the manifest. */
  name: string;
  /** A dockerode instance or dockerode options. @default DOCKER_HOST, else the local socket */
  docker?: DockerConnection;
  /** Another container runtime (tests); overrides `docker`. */
  runtime?: ContainerRuntime;
  /** How many jobs this engine runs at once. */
  maxWorkers: number;
}

/** How jobs run: a fresh container each, or processes in reused worker containers. */
export type ExecutionMode = 'container' | 'pool';

/** Options after validation. */
export interface NormalizedManagerOptions {
  imageReference: string;
  maxWorkers: number;
  dataDirectory: string;
  mountPath: string;
  pullPolicy: PullPolicy;
  defaults: NormalizedSettings;
  stopGracePeriodMs: number;
  pinDigest: boolean;
  /** The `auth` option as a list; undefined when not given (the manager then uses the docker config). */
  authenticators: readonly RegistryAuthenticator[] | undefined;
  failFast: boolean;
  maxFailures: number | undefined;
  resume: boolean;
  handleSignals: boolean;
  executionMode: ExecutionMode;
  recycleAfter: number | undefined;
  poolKeepAlive: string[];
  residentRunner: boolean;
  /** The engines, by name and capacity; one named 'default' when `engines` was not given. */
  engines: Array<{ name: string; maxWorkers: number }>;
  backend: Backend;
  /** Backend 'slurm' only. */
  slurm: SlurmOptions | undefined;
  collectUsage: boolean;
}

const KNOWN = new Set(['image', 'tag', 'maxWorkers', 'dataDirectory', 'mountPath', 'pullPolicy', 'docker', 'runtime', 'defaults', 'stopGracePeriodMs', 'pinDigest', 'auth', 'failFast', 'maxFailures', 'resume', 'handleSignals', 'executionMode', 'recycleAfter', 'poolKeepAlive', 'residentRunner', 'engines', 'backend', 'slurm', 'collectUsage']);
const PULL_POLICIES: readonly PullPolicy[] = ['always', 'missing', 'never'];

function fail(field: string, value: unknown, expectation: string, hint = ''): never {
  throw new ValidationError(field, value, `Expected \`${field}\` to be ${expectation}, got ${describeValue(value)}.${hint ? ` ${hint}` : ''}`);
}

/** `name` + `tag` -> a full reference; a reference with a tag or digest is kept as it is. */
export function imageReference(image: string, tag: string | undefined): string {
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const hasDigest = image.includes('@');
  const hasTag = lastSegment.includes(':');
  if (hasDigest || hasTag) {
    if (tag !== undefined) {
      throw new ValidationError('tag', tag, `\`image\` '${image}' already names a ${hasDigest ? 'digest' : 'tag'}; remove the \`tag\` option (${describeValue(tag)}) or the tag from \`image\`.`);
    }
    return image;
  }
  return `${image}:${tag ?? 'latest'}`;
}

function normalizeDefaults(defaults: JobSettings): NormalizedSettings {
  if (typeof defaults === 'object' && defaults !== null) {
    const [unknown] = unknownKeys(defaults, new Set());
    if (unknown !== undefined) {
      throw new ValidationError(`defaults.${unknown}`, (defaults as Record<string, unknown>)[unknown], `Unknown job setting \`defaults.${unknown}\`. ${didYouMean(unknown, JOB_SETTING_KEYS)}`);
    }
  }
  return normalizeSettings(defaults, 'defaults.');
}

function normalizeEngines(options: DockerSimManagerOptions): Array<{ name: string; maxWorkers: number }> {
  const { engines } = options;
  if (engines === undefined) return [{ name: 'default', maxWorkers: options.maxWorkers ?? os.availableParallelism() }];
  for (const key of ['docker', 'runtime', 'maxWorkers'] as const) {
    if (options[key] !== undefined) {
      throw new ValidationError(key, options[key], `\`${key}\` cannot be combined with \`engines\`: give each engine its own \`docker\` and \`maxWorkers\`.`);
    }
  }
  if (!Array.isArray(engines) || engines.length === 0) fail('engines', engines, 'a non-empty list of { name, docker, maxWorkers }');
  const names = new Set<string>();
  return engines.map((engine: unknown, i) => {
    const e = engine as Partial<EngineOptions> | null;
    if (typeof e !== 'object' || e === null) fail(`engines[${i}]`, engine, 'an object { name, docker, maxWorkers }');
    const unknown = Object.keys(e).find((key) => !['name', 'docker', 'runtime', 'maxWorkers'].includes(key));
    if (unknown !== undefined) throw new ValidationError(`engines[${i}].${unknown}`, (e as Record<string, unknown>)[unknown], `Unknown engine option \`${unknown}\`. ${didYouMean(unknown, ['name', 'docker', 'runtime', 'maxWorkers'], 'Use name, docker, runtime or maxWorkers.')}`);
    if (typeof e.name !== 'string' || !/^[\w.-]{1,64}$/.test(e.name)) fail(`engines[${i}].name`, e.name, "a name of letters, digits, '_', '.' or '-'");
    if (names.has(e.name)) throw new ValidationError(`engines[${i}].name`, e.name, `Two engines are named '${e.name}'; engine names must be unique.`);
    names.add(e.name);
    if (typeof e.maxWorkers !== 'number' || !Number.isInteger(e.maxWorkers) || e.maxWorkers < 1) fail(`engines[${i}].maxWorkers`, e.maxWorkers, 'an integer >= 1');
    return { name: e.name, maxWorkers: e.maxWorkers };
  });
}

/** What a misspelt or misplaced manager option most likely meant. */
function unknownOptionHint(name: string): string {
  if (JOB_SETTING_KEYS.has(name)) return `\`${name}\` is a job setting: put it under \`defaults\` (or on each job).`;
  const option = closestName(name, KNOWN);
  if (option !== undefined) return `Did you mean \`${option}\`?`;
  const setting = closestName(name, JOB_SETTING_KEYS);
  if (setting !== undefined) return `Did you mean the job setting \`${setting}\` (under \`defaults\`)?`;
  return 'Check its spelling; job settings go under `defaults`.';
}

/** Validates the manager's options synchronously; nothing is created. */
export function normalizeManagerOptions(options: DockerSimManagerOptions): NormalizedManagerOptions {
  if (typeof options !== 'object' || options === null) fail('options', options, 'an object');
  const unknown = Object.keys(options).find((key) => !KNOWN.has(key));
  if (unknown !== undefined) {
    throw new ValidationError(unknown, (options as unknown as Record<string, unknown>)[unknown], `Unknown option \`${unknown}\`. ${unknownOptionHint(unknown)}`);
  }
  const { image, tag, maxWorkers = os.availableParallelism(), dataDirectory, mountPath = '/mnt/data', pullPolicy = 'missing' } = options;
  if (typeof image !== 'string' || image.trim() === '' || /\s/.test(image)) fail('image', image, "an image reference like 'ghcr.io/me/sim:1.0'");
  if (tag !== undefined && (typeof tag !== 'string' || !/^[\w][\w.-]{0,127}$/.test(tag))) fail('tag', tag, "a tag like 'latest' or '1.2'");
  if (options.engines === undefined && (typeof maxWorkers !== 'number' || !Number.isInteger(maxWorkers) || maxWorkers < 1)) fail('maxWorkers', maxWorkers, 'an integer >= 1');
  if (typeof dataDirectory !== 'string' || dataDirectory.trim() === '') fail('dataDirectory', dataDirectory, 'a host folder path');
  if (typeof mountPath !== 'string' || !mountPath.startsWith('/') || mountPath === '/') fail('mountPath', mountPath, "an absolute container path other than '/', like '/mnt/data'");
  if (!PULL_POLICIES.includes(pullPolicy)) fail('pullPolicy', pullPolicy, "'always', 'missing' or 'never'");
  const stopGracePeriodMs = options.stopGracePeriodMs ?? 10_000;
  if (typeof stopGracePeriodMs !== 'number' || !Number.isFinite(stopGracePeriodMs) || stopGracePeriodMs < 0) {
    fail('stopGracePeriodMs', stopGracePeriodMs, 'a number of milliseconds >= 0');
  }
  for (const key of ['pinDigest', 'failFast', 'resume', 'handleSignals', 'collectUsage'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean') fail(key, options[key], 'true or false');
  }
  const { maxFailures } = options;
  if (maxFailures !== undefined && (typeof maxFailures !== 'number' || !Number.isInteger(maxFailures) || maxFailures < 1)) {
    fail('maxFailures', maxFailures, 'an integer >= 1', 'Use failFast: true to stop at the first failure.');
  }
  const authenticators: readonly RegistryAuthenticator[] =
    options.auth === undefined ? [] : Array.isArray(options.auth) ? [...options.auth] : [options.auth as RegistryAuthenticator];
  authenticators.forEach((authenticator: unknown, index) => {
    const candidate = authenticator as Partial<RegistryAuthenticator> | null;
    if (typeof candidate?.supports !== 'function' || typeof candidate.getCredentials !== 'function') {
      fail(`auth[${index}]`, authenticator, 'a RegistryAuthenticator (an object with supports() and getCredentials())');
    }
  });
  const { executionMode = 'container', recycleAfter, poolKeepAlive = ['sleep', 'infinity'] } = options;
  if (executionMode !== 'container' && executionMode !== 'pool') fail('executionMode', executionMode, "'container' or 'pool'");
  if (options.residentRunner !== undefined && typeof options.residentRunner !== 'boolean') fail('residentRunner', options.residentRunner, 'true or false');
  if (recycleAfter !== undefined && (typeof recycleAfter !== 'number' || !Number.isInteger(recycleAfter) || recycleAfter < 1)) {
    fail('recycleAfter', recycleAfter, 'an integer >= 1 (jobs per worker)');
  }
  if (!Array.isArray(poolKeepAlive) || poolKeepAlive.length === 0 || poolKeepAlive.some((arg) => typeof arg !== 'string')) {
    fail('poolKeepAlive', poolKeepAlive, "a non-empty list of strings, like ['sleep', 'infinity']");
  }
  const engines = normalizeEngines(options);
  const { backend = 'engine' } = options;
  if (backend !== 'engine' && backend !== 'swarm' && backend !== 'slurm') fail('backend', backend, "'engine', 'swarm' or 'slurm'");
  backendKind({ backend, executionMode, hasEngineList: options.engines !== undefined }); // refuses combinations no backend runs
  const slurm = normalizeSlurm(options.slurm, backend);
  return {
    imageReference: imageReference(image, tag),
    maxWorkers: engines.reduce((sum, engine) => sum + engine.maxWorkers, 0),
    dataDirectory: path.resolve(dataDirectory),
    mountPath: path.posix.normalize(mountPath).replace(/\/$/, ''),
    pullPolicy,
    defaults: options.defaults === undefined ? {} : normalizeDefaults(options.defaults),
    stopGracePeriodMs,
    pinDigest: options.pinDigest ?? true,
    authenticators: options.auth === undefined ? undefined : authenticators,
    failFast: options.failFast ?? false,
    maxFailures,
    resume: options.resume ?? false,
    handleSignals: options.handleSignals ?? false,
    executionMode,
    recycleAfter,
    poolKeepAlive: [...poolKeepAlive],
    residentRunner: options.residentRunner ?? true,
    engines,
    backend,
    slurm,
    collectUsage: options.collectUsage ?? true,
  };
}

/** The `slurm` option, checked field by field; refused unless backend is 'slurm'. */
function normalizeSlurm(slurm: SlurmOptions | undefined, backend: Backend): SlurmOptions | undefined {
  if (slurm === undefined) return undefined;
  if (backend !== 'slurm') fail('slurm', slurm, "nothing unless backend is 'slurm' (set backend: 'slurm', or remove slurm)");
  if (typeof slurm !== 'object' || slurm === null) fail('slurm', slurm, 'an object like { partition: "main" }');
  const known = new Set(['partition', 'account', 'qos', 'sbatchArgs', 'nodeEngine', 'engineCommand']);
  for (const key of Object.keys(slurm)) if (!known.has(key)) fail(`slurm.${key}`, (slurm as Record<string, unknown>)[key], `one of the slurm options (${[...known].join(', ')})`);
  for (const key of ['partition', 'account', 'qos'] as const) {
    const value = slurm[key];
    if (value !== undefined && (typeof value !== 'string' || !/^[A-Za-z0-9_.,-]+$/.test(value))) fail(`slurm.${key}`, value, 'a Slurm name (letters, digits, _ . , -)');
  }
  if (slurm.nodeEngine !== undefined && slurm.nodeEngine !== 'docker' && slurm.nodeEngine !== 'podman') fail('slurm.nodeEngine', slurm.nodeEngine, "'docker' or 'podman'");
  for (const key of ['sbatchArgs', 'engineCommand'] as const) {
    const value = slurm[key];
    if (value !== undefined && (!Array.isArray(value) || value.some((arg) => typeof arg !== 'string') || (key === 'engineCommand' && value.length === 0))) {
      fail(`slurm.${key}`, value, key === 'engineCommand' ? "a non-empty list of strings, like ['sudo', '-n', 'docker']" : "a list of strings, like ['--constraint=avx2']");
    }
  }
  return { ...slurm };
}
