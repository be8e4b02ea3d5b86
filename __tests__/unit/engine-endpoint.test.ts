import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { discoverSocket, knownSockets } from '../../src/runtime/docker-endpoint.js';
import { unavailableError } from '../../src/runtime/map-engine-error.js';
import type { EngineFeatures } from '../../src/runtime/container-runtime.js';
import { DockerSimManager, ValidationError } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

describe('finding the engine when nothing says where it is', () => {
  const saved = process.env.XDG_RUNTIME_DIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.XDG_RUNTIME_DIR;
    else process.env.XDG_RUNTIME_DIR = saved;
  });

  test('Docker sockets first, then rootful Podman, then the user\'s rootless Podman', () => {
    process.env.XDG_RUNTIME_DIR = '/run/user/1234';
    expect(knownSockets()).toEqual([path.join(os.homedir(), '.docker', 'run', 'docker.sock'), '/var/run/docker.sock', '/run/podman/podman.sock', '/run/user/1234/podman/podman.sock']);
  });

  test('the rootless Podman socket is found when it is the only one', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-xdg-'));
    try {
      process.env.XDG_RUNTIME_DIR = dir;
      await mkdir(path.join(dir, 'podman'));
      await writeFile(path.join(dir, 'podman', 'podman.sock'), '');
      const found = discoverSocket();
      expect(found.tried).toContain(path.join(dir, 'podman', 'podman.sock'));
      // Whatever else this machine has, the rootless socket is found unless an earlier one exists.
      const earlier = found.tried.slice(0, -1).find((socket) => socket === found.socket);
      expect(found.socket).toBe(earlier ?? path.join(dir, 'podman', 'podman.sock'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('the error when no engine answers names every place looked at, and how to start Docker or Podman', () => {
    const error = unavailableError('unix:///var/run/docker.sock', Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }), ['/var/run/docker.sock', '/run/podman/podman.sock']);
    expect(error.code).toBe('E_DOCKER_UNAVAILABLE');
    expect(error.message).toContain('DOCKER_HOST is not set; looked for an engine at unix:///var/run/docker.sock, unix:///run/podman/podman.sock.');
    expect(error.message).toMatch(/systemctl start docker.*podman\.socket.*DOCKER_HOST/);
  });
});

describe('what an engine cannot do is refused before anything runs', () => {
  const podmanLike = (rootless: boolean): EngineFeatures => ({ product: 'podman', version: '4.3.1', rootless, gpus: false, swarm: false, limits: !rootless, oomKills: false });

  async function setup(features: EngineFeatures) {
    const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-features-'));
    const runtime = new InMemoryRuntime({ images: { 'sim:1': {} } });
    Object.assign(runtime, { features: async () => features });
    return { dataDirectory, runtime, cleanup: () => rm(dataDirectory, { recursive: true, force: true }) };
  }

  test('gpus on Podman: a ValidationError naming the job and gpus, and no container', async () => {
    const { dataDirectory, runtime, cleanup } = await setup(podmanLike(false));
    try {
      const manager = new DockerSimManager({ image: 'sim:1', dataDirectory, runtime });
      manager.addSimJob({ name: 'train', gpus: 1 });
      const error = (await manager.startComputation().catch((e: unknown) => e)) as ValidationError;
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.field).toBe('jobs[train].gpus');
      expect(error.message).toMatch(/Podman.*ignores it/);
      expect(runtime.created).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  test('limits rootless Podman ignores are reported once as a run:warning, never assumed applied', async () => {
    const { dataDirectory, runtime, cleanup } = await setup(podmanLike(true));
    try {
      const manager = new DockerSimManager({ image: 'sim:1', dataDirectory, runtime });
      manager.addSimJobs([{ name: 'a', memory: '256m' }, { name: 'b', memory: '256m' }, { name: 'c' }]);
      const warnings: string[] = [];
      manager.on('run:warning', ({ message }) => warnings.push(message));
      const summary = await manager.startComputation();
      expect(summary.succeeded).toBe(3);
      expect(warnings.filter((w) => w.includes('rootless Podman on cgroup v1'))).toHaveLength(1);
    } finally {
      await cleanup();
    }
  });

  test('OOM kills Podman before 5.0 does not report: a run:warning for jobs that rely on them, once, and none for others', async () => {
    const { dataDirectory, runtime, cleanup } = await setup(podmanLike(false));
    try {
      const manager = new DockerSimManager({ image: 'sim:1', dataDirectory, runtime });
      manager.addSimJobs([
        { name: 'plain', memory: '256m' },
        { name: 'retried', memory: '256m', retries: 1, retryOn: ['oom'] },
        { name: 'grows', memory: ({ attempt }) => `${256 * attempt}m`, retries: 1, retryOn: ['oom'] },
      ]);
      const warnings: string[] = [];
      manager.on('run:warning', ({ message }) => warnings.push(message));
      await manager.startComputation();
      const podmanWarnings = warnings.filter((w) => w.includes('Podman'));
      expect(podmanWarnings).toHaveLength(1);
      expect(podmanWarnings[0]).toMatch(/Podman 4\.3\.1, which does not report when the kernel kills a fresh container for memory \(fixed in Podman 5\.0\): job retried .*plain SIGKILL exit \(137\)/);
    } finally {
      await cleanup();
    }
  });
});
