import { execSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { busyboxBase, buildImage, ensureExampleImage } from '../../examples/images.js';
import { LABELS } from '../../src/index.js';

export const docker = new Docker();

/** True when the engine behind `client` (the Docker engine by default) answers. */
export async function engineAnswers(client: Docker = docker): Promise<boolean> {
  try {
    await client.ping();
    return true;
  } catch {
    return false;
  }
}

const hasEngine = await engineAnswers();
const isCi = process.env.CI === 'true' || process.env.CI === '1';

/** Rootful Podman's Docker-compatible socket (`.ci/run` starts it; DSIM_PODMAN_SOCKET points elsewhere). */
export const PODMAN_SOCKET = process.env.DSIM_PODMAN_SOCKET ?? '/run/podman/podman.sock';
/** A client of the Podman service, for the tests' own checks (the package gets `docker: { socketPath }`). */
export const podman = new Docker({ socketPath: PODMAN_SOCKET });

const podmanAnswers = (): Promise<boolean> => engineAnswers(podman);
const hasPodman = await podmanAnswers();

/**
 * `describe` for suites that need rootful Podman: skipped without it on a developer's machine, a failure under
 * CI=true (where `.ci/run` starts it).
 */
export const describePodman: jest.Describe = hasPodman || isCi ? describe : describe.skip;

/** Fails with a clear message when CI=true and the Podman service does not answer. */
export async function requirePodman(): Promise<void> {
  if (!(await podmanAnswers())) {
    throw new Error(`No Podman service answers at ${PODMAN_SOCKET} (CI=true makes this a failure, not a skip). Start one with \`podman system service --time=0 unix://${PODMAN_SOCKET}\`.`);
  }
}

let podmanImagesReady: Promise<void> | undefined;

/** Copies the fixture images from the Docker engine into Podman (`docker save | podman load`) when Podman lacks them. */
export function ensurePodmanImages(): Promise<void> {
  podmanImagesReady ??= (async () => {
    await ensureTestImages();
    const missing: string[] = [];
    for (const image of [SHELL_IMAGE, MONTE_CARLO]) {
      if (!(await podman.getImage(image).inspect().then(() => true, () => false))) missing.push(image);
    }
    if (missing.length > 0) execSync(`docker save ${missing.join(' ')} | podman --url unix://${PODMAN_SOCKET} load`, { stdio: 'ignore' });
  })();
  return podmanImagesReady;
}

/**
 * `describe` for suites that need the real engine. Without an engine they are skipped on a developer's machine,
 * but under CI=true they run and fail, so a missing engine can never pass CI silently.
 */
export const describeEngine: jest.Describe = hasEngine || isCi ? describe : describe.skip;

/** Fails with a clear message when CI=true and no engine answers. */
export async function requireEngine(): Promise<void> {
  if (!(await engineAnswers())) {
    throw new Error(
      'No Docker engine answers (CI=true makes this a failure, not a skip). Start one with `bash scripts/docker-engine.sh`.',
    );
  }
}

export const MONTE_CARLO = 'docker-sim-manager/monte-carlo-pi:latest';
/** Busybox image whose entrypoint is `sh -c`: a job's command is a shell script. */
export const SHELL_IMAGE = 'docker-sim-manager/test-shell:latest';

let imagesReady: Promise<void> | undefined;

/** Builds the fixture images once per test file (they are cached by the engine across files). */
export function ensureTestImages(): Promise<void> {
  imagesReady ??= (async () => {
    await ensureExampleImage('monte-carlo-pi', { docker });
    try {
      await docker.getImage(SHELL_IMAGE).inspect();
    } catch {
      const base = busyboxBase();
      await buildImage({
        tag: SHELL_IMAGE,
        dockerfile: `${base.dockerfileHead}RUN ["/bin/mkdir", "-p", "/tmp"]\nRUN ["/bin/chmod", "1777", "/tmp"]\nENTRYPOINT ["/bin/sh", "-c"]\n`,
        files: base.files,
        docker,
      });
    }
  })();
  return imagesReady;
}

/**
 * Containers of this package on the engine (`engine`: the Docker engine by default), running or not, made by this
 * test process (or, with `anyOwner`, by any process: for tests that drive child processes).
 */
export async function packageContainers(options: { anyOwner?: boolean; engine?: Docker } = {}): Promise<Docker.ContainerInfo[]> {
  const label = options.anyOwner ? [LABELS.run] : [LABELS.run, `${LABELS.ownerPid}=${process.pid}`];
  return (options.engine ?? docker).listContainers({ all: true, filters: { label } });
}

/** A fresh temporary folder, removed by `cleanup()`. */
export async function tempDir(prefix = 'dsim-test-'): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Removes whatever a failed test may have left behind (on `engine`: the Docker engine by default). */
export async function removePackageContainers(engine: Docker = docker): Promise<void> {
  for (const info of await packageContainers({ engine })) {
    await engine.getContainer(info.Id).remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** Samplers not stopped yet: useEngineSuite stops them after each test, so a failed test leaves no polling loop. */
const liveSamplers = new Set<{ stop(): Promise<number> }>();

/** Samples how many package containers run at once, until `stop()`. */
export function sampleRunning(intervalMs = 20): { stop(): Promise<number> } {
  let max = 0;
  let isStopped = false;
  const loop = (async () => {
    while (!isStopped) {
      const running = await docker.listContainers({ filters: { label: [LABELS.run, `${LABELS.ownerPid}=${process.pid}`], status: ['running'] } });
      max = Math.max(max, running.length);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  const sampler = {
    stop: async () => {
      isStopped = true;
      liveSamplers.delete(sampler);
      await loop;
      return max;
    },
  };
  liveSamplers.add(sampler);
  return sampler;
}

/**
 * Registers the hooks every engine suite needs: the engine must answer and the fixture images exist; each test
 * gets a fresh temporary data directory (`data.dir`), removed afterwards. With `expectNoLeftovers`, each test
 * also fails when a container of this process is left behind. `engine: 'podman'` does all of it on rootful
 * Podman (whose fixture images are copied from the Docker engine).
 */
export function useEngineSuite(options: { expectNoLeftovers?: boolean; engine?: 'docker' | 'podman' } = {}): { readonly dir: string } {
  const isPodman = options.engine === 'podman';
  const engine = isPodman ? podman : docker;
  let current: Awaited<ReturnType<typeof tempDir>> | undefined;
  beforeAll(async () => {
    if (isPodman) {
      await requirePodman();
      await ensurePodmanImages();
    } else {
      await requireEngine();
      await ensureTestImages();
    }
  });
  beforeEach(async () => {
    current = await tempDir();
  });
  afterEach(async () => {
    await Promise.all([...liveSamplers].map((sampler) => sampler.stop().catch(() => 0)));
    try {
      if (options.expectNoLeftovers) expect(await packageContainers({ engine })).toEqual([]);
    } finally {
      await removePackageContainers(engine);
      await current?.cleanup();
    }
  });
  return {
    get dir(): string {
      if (!current) throw new Error('useEngineSuite: data.dir is only set inside a test');
      return current.dir;
    },
  };
}
