/**
 * The backends the conformance suite runs every scenario against. A backend is a way of running jobs (a
 * runtime plus the manager options that select it) and what it can and cannot do; adding one is one line in
 * BACKENDS (and, for a new kind of engine, one factory below).
 */
import { execFileSync } from 'node:child_process';
import type Docker from 'dockerode';
import { describeEngine, describePodman, docker, ensurePodmanImages, ensureTestImages, podman, PODMAN_SOCKET, requireEngine, requirePodman, SHELL_IMAGE } from '../helpers/engine.js';
import { engineCreationsSince, engineObjectsOf, ensureSwarm, leaveSwarm, removeEngineObjectsOf } from '../helpers/engine-objects.js';
import { ScriptedRuntime } from '../helpers/scripted-runtime.js';
import { cancelSlurmJobsOf, describeSlurm, requireSlurm, slurmJobsOf } from '../helpers/slurm.js';
import { slurmCommands } from '../../src/backends/slurm/slurm-commands.js';
import { canReadKernelLog } from '../../src/runtime/kernel-oom-log.js';
import type { DockerSimManagerOptions, SimJobOptions } from '../../src/index.js';
import type { InMemoryRuntimeOptions } from '../../src/testing.js';

/** Manager options a scenario may set; the backend adds the image and what selects it. */
export type ScenarioManagerOptions = Omit<DockerSimManagerOptions, 'image' | 'runtime' | 'docker' | 'engines' | 'backend' | 'executionMode'>;

/** Job settings some backends refuse (with a ValidationError naming the field, before anything runs). */
export type RefusableSetting = 'collect' | 'outputMode' | 'network' | 'memory';

/**
 * How a backend makes the engine fail one of a job's requests, so that the failure is an `EngineError`, classified
 * as `'engine-error'` and retried. Each backend uses a real failure of its own engine, not a mock.
 */
export interface EngineFault {
  /** What the failure is, for the test's title. */
  how: string;
  /** Settings merged into the job that meets the fault. */
  settings?: Partial<SimJobOptions>;
  /** Called at the faulted job's `job:started` (with the container, worker or service id). */
  onStarted?(containerId: string, attempt: number): Promise<void>;
  /** Whether the fault hits the first attempt only (the retry then succeeds) or every attempt. */
  isTransient: boolean;
}

/** What a backend can do; the suite asserts a clear refusal for what it cannot. */
export interface Capabilities {
  settings: Record<RefusableSetting, 'supported' | 'refused'>;
  /** How the engine-error scenario makes the engine fail, or why it cannot on this backend. */
  engineFault: EngineFault | { unsupported: string };
  /**
   * How the resume scenario interrupts a run: `kill-driver` runs it in a child process (the fixture driver)
   * and kills it with SIGKILL; `cancel` (in-memory: the runtime lives in this process) cancels it.
   */
  interrupt: 'kill-driver' | 'cancel';
  /** Memory limits are enforced by a kernel (the OOM scenario): real engines, not the in-memory runtime. */
  memoryLimits: boolean;
  /**
   * The kernel's OOM kills are known: from the engine's flag (fresh containers, swarm tasks) or the worker's
   * cgroup count (pool). Podman before 5.0 flags none, so on it a fresh container's OOM kill is a plain
   * SIGKILL exit and the run warns about it (`EngineFeatures.oomKills`).
   */
  knowsOomKills: boolean;
  /** Each job's CPU time and peak memory are measured (the Slurm backend has no view of the node's engine). */
  measuresUsage: boolean;
  /** The engine refuses to start a process as a user the image lacks (the in-memory runtime starts anything). */
  checksUsers: boolean;
}

export interface Backend {
  name: string;
  /**
   * `describe` for its scenarios: plain for in-process backends; for a real engine, skipped without it on a
   * developer's machine and a failure under CI=true.
   */
  describe: jest.Describe;
  capabilities: Capabilities;
  /** Once per backend, before its scenarios. */
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /**
   * Full manager options for a scenario: the image, what selects this backend, a short stop grace; the
   * scenario's own options win. With `engineFault`, the runtime is set up to fail as `capabilities.engineFault`
   * says (the scenario adds the fault's `settings` to the faulted job).
   */
  options(overrides: ScenarioManagerOptions, extras?: { engineFault?: boolean }): DockerSimManagerOptions;
  /** What this test process made that is still on the engine (containers, services, configs), as names. */
  leftovers(): Promise<string[]>;
  /**
   * What this test process created on the engine since `sinceMs`, even if it is gone again. Services and
   * configs are matched by `names` (job names in them), containers by the owner label.
   */
  createdSince(sinceMs: number, names: readonly string[]): Promise<string[]>;
  /** Removes whatever a test left behind (after the leftovers were asserted) and forgets per-test state. */
  cleanup(): Promise<void>;
  /** What a driver process `pid` left on the engine, as `kind name`, and its removal (the kill-driver scenario). */
  objectsOf(pid: number): Promise<string[]>;
  removeObjectsOf(pid: number): Promise<void>;
}

/** Manager options every backend shares: a 1 s stop grace keeps stopped jobs (timeout, cancel) quick. */
const COMMON: Partial<DockerSimManagerOptions> = { stopGracePeriodMs: 1000 };

/** The in-memory runtime running each job's `sh -c` script with the fake shell (see helpers/scripted-runtime.ts). */
function inMemory(name: string, mode: Partial<DockerSimManagerOptions>, settings: Capabilities['settings']): Backend {
  const runtimes: Array<{ runtime: ScriptedRuntime; madeAt: number }> = [];
  return {
    name,
    describe,
    capabilities: {
      settings,
      // The runtime's own fault injection: the first template upload (into the job's container, or into its
      // worker in pool mode) is refused as an engine would refuse it.
      engineFault: { how: 'the first template upload is refused (InMemoryRuntime failOn)', settings: { templates: [{ content: 'fault\n', target: '/etc/dsim/fault.conf' }] }, isTransient: true },
      interrupt: 'cancel',
      memoryLimits: false,
      knowsOomKills: true,
      measuresUsage: true,
      checksUsers: false,
    },
    setup: async () => undefined,
    teardown: async () => undefined,
    options: (overrides, extras = {}) => {
      let uploads = 0;
      const failOn: InMemoryRuntimeOptions['failOn'] = extras.engineFault ? { putArchive: () => ++uploads === 1 } : undefined;
      const runtime = new ScriptedRuntime({ image: SHELL_IMAGE, mountPath: overrides.mountPath ?? '/mnt/data', ...(failOn ? { failOn } : {}) });
      runtimes.push({ runtime, madeAt: Date.now() });
      return { ...COMMON, image: SHELL_IMAGE, runtime, ...mode, ...overrides };
    },
    leftovers: async () => runtimes.flatMap(({ runtime }) => runtime.existing.map((spec) => spec.name)),
    createdSince: async (sinceMs) => runtimes.filter(({ madeAt }) => madeAt >= sinceMs).flatMap(({ runtime }) => [...runtime.created.map((spec) => spec.name), ...runtime.execs.map((exec) => `exec ${exec.cmd.join(' ')}`)]),
    cleanup: async () => {
      runtimes.length = 0;
    },
    objectsOf: async () => [],
    removeObjectsOf: async () => undefined,
  };
}

/** A real engine: how the tests reach it, how the package is pointed at it, and how it is made ready. */
interface EngineTarget {
  describe: jest.Describe;
  client: Docker;
  /** Manager options that point the package at it (none: DOCKER_HOST or the local socket). */
  connection: Partial<DockerSimManagerOptions>;
  ready(): Promise<void>;
}

/** The Docker engine this process talks to (DOCKER_HOST or the local socket). */
const DOCKER: EngineTarget = {
  describe: describeEngine,
  client: docker,
  connection: {},
  ready: async () => {
    await requireEngine();
    await ensureTestImages();
  },
};

/**
 * OOM kills of fresh Podman containers are known from Podman 5.0 on, or from the kernel's log where this process
 * reads it (root: CI); see EngineFeatures.oomKills. Podman's version as this machine's client says it.
 */
const PODMAN_FLAGS_OOM_KILLS = podmanMajorVersion() >= 5 || canReadKernelLog();

function podmanMajorVersion(): number {
  try {
    return Number(/(\d+)\.\d+/.exec(execFileSync('podman', ['--version'], { encoding: 'utf8' }))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Rootful Podman through its Docker-compatible socket, with the fixture images loaded from the Docker engine. */
const PODMAN: EngineTarget = {
  describe: describePodman,
  client: podman,
  connection: { docker: { socketPath: PODMAN_SOCKET } },
  ready: async () => {
    await requirePodman();
    await ensurePodmanImages();
  },
};

/** A real engine in one of its modes. */
function engine(name: string, mode: Partial<DockerSimManagerOptions>, capabilities: Capabilities, hooks: { setup?: () => Promise<void>; teardown?: () => Promise<void> } = {}, target: EngineTarget = DOCKER): Backend {
  const objects = async (pid: number = process.pid): Promise<string[]> => (await engineObjectsOf(pid, target.client)).map((o) => `${o.kind} ${o.name}`);
  return {
    name,
    describe: target.describe,
    capabilities,
    setup: async () => {
      await target.ready();
      await hooks.setup?.();
    },
    teardown: async () => {
      await hooks.teardown?.();
    },
    // The engine faults need nothing of the manager: the scenario gives the faulted job its settings.
    options: (overrides) => ({ ...COMMON, image: SHELL_IMAGE, ...target.connection, ...mode, ...overrides }),
    leftovers: () => objects(),
    createdSince: (sinceMs, names) => engineCreationsSince(sinceMs, names, process.pid, target.client),
    cleanup: () => removeEngineObjectsOf(process.pid, target.client),
    objectsOf: (pid) => objects(pid),
    removeObjectsOf: (pid) => removeEngineObjectsOf(pid, target.client),
  };
}

/**
 * The engine refuses an archive whose entry would go through a file: `/bin/busybox` is a file in the test
 * image, so `/bin/busybox/fault.conf` cannot be created (HTTP 500 "not a directory") on every attempt.
 */
const TEMPLATE_THROUGH_A_FILE: EngineFault = {
  how: 'the engine refuses a template under a file (HTTP 500 "not a directory") on every attempt',
  settings: { templates: [{ content: 'fault\n', target: '/bin/busybox/fault.conf' }] },
  isTransient: false,
};

let swarmInitializedHere = false;

/** What a fresh container per attempt guarantees on Docker (Podman and the Slurm backend differ from it in places). */
const CONTAINER_CAPABILITIES: Capabilities = {
  settings: { collect: 'supported', outputMode: 'supported', network: 'supported', memory: 'supported' },
  engineFault: TEMPLATE_THROUGH_A_FILE,
  interrupt: 'kill-driver',
  memoryLimits: true,
  knowsOomKills: true,
  measuresUsage: true,
  checksUsers: true,
};

/** What the pool guarantees, with its resident runner or an exec per job, on Docker and on Podman. */
const POOL_CAPABILITIES: Capabilities = {
  settings: { collect: 'refused', outputMode: 'refused', network: 'refused', memory: 'refused' },
  engineFault: TEMPLATE_THROUGH_A_FILE,
  interrupt: 'kill-driver',
  memoryLimits: true,
  knowsOomKills: true,
  measuresUsage: true,
  checksUsers: true,
};

/**
 * Rootful Podman through its Docker-compatible socket (scripts/podman-service.sh starts the service; .ci/run
 * does). Without it the Podman scenarios are skipped on a developer's machine and fail under CI=true.
 */
const PODMAN_BACKENDS: readonly Backend[] = [
  engine('podman container', {}, { ...CONTAINER_CAPABILITIES, knowsOomKills: PODMAN_FLAGS_OOM_KILLS }, {}, PODMAN),
  engine('podman pool', { executionMode: 'pool' }, POOL_CAPABILITIES, {}, PODMAN),
];

/**
 * The Slurm backend on the one-node cluster scripts/slurm-cluster.sh starts: each attempt a Slurm batch job that
 * runs the container through the local Docker engine (the node's engine). Objects are the engine's containers
 * plus the Slurm jobs, read back from their comments.
 */
function slurmBackend(): Backend {
  const base = engine(
    'slurm',
    { backend: 'slurm' },
    {
      ...CONTAINER_CAPABILITIES,
      settings: { collect: 'refused', outputMode: 'refused', network: 'supported', memory: 'supported' },
      // A node failure cannot be staged on one node; what the cluster does fail with is a job cancelled from
      // outside (an administrator's scancel) while its first attempt runs: an engine error, retried.
      engineFault: {
        how: 'the Slurm job is cancelled from outside (scancel) while its first attempt runs',
        onStarted: async (slurmJobId, attempt) => {
          if (attempt === 1) await slurmCommands.cancel([slurmJobId]);
        },
        isTransient: true,
      },
      measuresUsage: false,
    },
    { setup: async () => requireSlurm() },
  );
  return {
    ...base,
    describe: describeSlurm,
    leftovers: async () => [...(await base.leftovers()), ...(await slurmJobsOf(process.pid))],
    createdSince: async (sinceMs, names) => [...(await base.createdSince(sinceMs, names)), ...(await slurmJobsOf(process.pid, { sinceMs, names }))],
    cleanup: async () => {
      await cancelSlurmJobsOf(process.pid);
      await base.cleanup();
    },
    objectsOf: async (pid) => [...(await base.objectsOf(pid)), ...(await slurmJobsOf(pid))],
    removeObjectsOf: async (pid) => {
      await cancelSlurmJobsOf(pid);
      await base.removeObjectsOf(pid);
    },
  };
}

export const BACKENDS: readonly Backend[] = [
  inMemory('in-memory container', { executionMode: 'container' }, { collect: 'supported', outputMode: 'supported', network: 'supported', memory: 'supported' }),
  inMemory('in-memory pool', { executionMode: 'pool' }, { collect: 'refused', outputMode: 'refused', network: 'refused', memory: 'refused' }),
  engine('engine container', {}, CONTAINER_CAPABILITIES),
  engine('engine pool', { executionMode: 'pool' }, POOL_CAPABILITIES),
  // The pool without its resident runner: one exec per job, as with images or runtimes the runner cannot use.
  engine('engine pool, an exec per job', { executionMode: 'pool', residentRunner: false }, POOL_CAPABILITIES),
  engine(
    'engine swarm',
    { backend: 'swarm' },
    {
      ...CONTAINER_CAPABILITIES,
      settings: { collect: 'refused', outputMode: 'refused', network: 'refused', memory: 'supported' },
      // Swarm takes templates outside the mount path as configs and mounts a config even over a file (the job
      // then cannot exec: exit 127), so the template fault is no engine error here. What the swarm does fail
      // on is a service that disappears while its job runs: removed from outside at the first job:started.
      engineFault: {
        how: 'the service is removed from outside while its first attempt runs',
        onStarted: async (serviceId, attempt) => {
          if (attempt === 1) await docker.getService(serviceId).remove();
        },
        isTransient: true,
      },
    },
    {
      setup: async () => {
        swarmInitializedHere = await ensureSwarm();
      },
      teardown: async () => {
        if (swarmInitializedHere) leaveSwarm();
        swarmInitializedHere = false;
      },
    },
  ),
  ...PODMAN_BACKENDS,
  slurmBackend(),
];
