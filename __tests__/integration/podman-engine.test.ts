/**
 * Rootful Podman as a first-class engine, beyond the job contract (the conformance suite runs that on Podman):
 * image bundles with their sha256, pulling from a real registry with credentials, and `dsim` end to end with its
 * report and a clean Ctrl-C. The package is pointed at Podman the way a user would: `docker: { socketPath }` for
 * the library, DOCKER_HOST for dsim. The same behaviour on Docker is tested in image-bundle, registry-pull,
 * auth, cli and robust-runs.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { inspect } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import {
  CustomRegistryAuthenticator,
  DockerSimManager,
  ImagePullError,
  IntegrityError,
  LABELS,
  RegistryAuthError,
  loadImage,
  saveImage,
} from '../../src/index.js';
import { JSON_EVENT_NAMES } from '../../src/cli/json-events.js';
import { buildImage } from '../../examples/images.js';
import { dsim } from '../helpers/cli.js';
import { MONTE_CARLO, PODMAN_SOCKET, SHELL_IMAGE, describePodman, docker, packageContainers, podman, useEngineSuite } from '../helpers/engine.js';
import { pushImage, registryDigest, runAuthenticatedSweep, runPullingSweep, secretForms, startRegistry, type TestRegistry } from '../helpers/registry.js';

/** How a library user points the package at rootful Podman. */
const PODMAN = { socketPath: PODMAN_SOCKET };
/** How a dsim user does. */
const PODMAN_HOST = { DOCKER_HOST: `unix://${PODMAN_SOCKET}` };

async function podmanHas(image: string): Promise<boolean> {
  return podman.getImage(image).inspect().then(
    () => true,
    () => false,
  );
}

/** The image events Podman logged since `sinceMs` (its libpod API answers with what is logged and ends: `stream=false`). */
async function podmanImageEvents(sinceMs: number): Promise<Array<{ Action: string; name: string }>> {
  const query = new URLSearchParams({ stream: 'false', since: String(Math.floor(sinceMs / 1000)), filters: JSON.stringify({ type: ['image'] }) });
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ socketPath: PODMAN_SOCKET, path: `/v4.0.0/libpod/events?${query.toString()}` }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
      })
      .on('error', reject);
  });
  return body
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { Action: string; timeNano: number; Actor?: { Attributes?: { name?: string } } })
    .filter((event) => event.timeNano / 1e6 >= sinceMs)
    .map((event) => ({ Action: event.Action, name: event.Actor?.Attributes?.name ?? '' }));
}

/**
 * The actions (`loadfromarchive`, `pull`, `tag`…) of the image events Podman logged since `sinceMs`. Podman logs
 * them after it answers, but in order: a tag made now is a barrier, and once it is logged so is all before it.
 */
async function podmanImageActions(sinceMs: number): Promise<string[]> {
  const tag = `barrier-${process.pid}-${Date.now()}`;
  await podman.getImage(MONTE_CARLO).tag({ repo: 'docker-sim-manager/event-barrier', tag });
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const events = await podmanImageEvents(sinceMs);
      const barrier = events.findIndex((event) => event.Action === 'tag' && event.name.endsWith(`docker-sim-manager/event-barrier:${tag}`));
      if (barrier !== -1) return events.slice(0, barrier).map((event) => event.Action);
      if (Date.now() > deadline) throw new Error(`Podman did not log the tag event of its barrier within 30 s; it logged: ${JSON.stringify(events)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await podman.getImage(`docker-sim-manager/event-barrier:${tag}`).remove().catch(() => undefined);
  }
}

/** Every event of a manager, printed as a user's listener would print it (deeply, hidden fields included). */
function recordAllEvents(manager: DockerSimManager): string[] {
  const printed: string[] = [];
  for (const name of JSON_EVENT_NAMES) {
    manager.on(name as 'job:log', (payload: unknown) => printed.push(`${name} ${inspect(payload, { depth: 8, showHidden: true })}`));
  }
  return printed;
}

/** Containers on Podman made by the dsim process `pid` (the package labels each container with its driver's pid). */
function containersOf(pid: number | undefined, status?: 'running'): Promise<Array<{ Id: string; Names: string[] }>> {
  return podman.listContainers({ all: true, filters: { label: [`${LABELS.ownerPid}=${pid}`], ...(status ? { status: [status] } : {}) } });
}

describePodman('rootful Podman as the engine: bundles, registry credentials, dsim', () => {
  const data = useEngineSuite({ expectNoLeftovers: true, engine: 'podman' });

  describe('image bundles', () => {
    const TAG = 'docker-sim-manager/bundle-test:podman';

    beforeEach(async () => {
      await podman.getImage(MONTE_CARLO).tag({ repo: 'docker-sim-manager/bundle-test', tag: 'podman' });
    });
    afterEach(async () => {
      await podman.getImage(TAG).remove().catch(() => undefined);
    });

    test('saveImage from Podman writes the bundle and its sha256; loadImage verifies it and Podman has the image again', async () => {
      // Only Podman has this tag: a save that went to Docker would fail with ImageNotFoundError.
      expect(await docker.getImage(TAG).inspect().then(() => true, () => false)).toBe(false);
      const file = path.join(data.dir, 'sim.tar');
      const saved = await saveImage({ image: TAG, file, docker: PODMAN });
      const bytes = await readFile(file);
      expect(saved.bytes).toBe(bytes.length);
      expect(saved.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
      expect(await readFile(`${file}.sha256`, 'utf8')).toBe(`${saved.sha256}  sim.tar\n`);

      const { Id: id } = await podman.getImage(TAG).inspect();
      await podman.getImage(TAG).remove();
      expect(await podmanHas(TAG)).toBe(false);
      const since = Date.now();
      const loaded = await loadImage({ file, docker: PODMAN });
      // Podman names it as its Docker-compatible API normalises it (docker.io/…).
      expect(loaded).toEqual([expect.stringMatching(/(^|\/)docker-sim-manager\/bundle-test:podman$/)]);
      expect((await podman.getImage(TAG).inspect()).Id).toBe(id);
      expect(await podmanImageActions(since)).toContain('loadfromarchive');
    });

    test('a flipped byte is refused with IntegrityError and never reaches Podman', async () => {
      const file = path.join(data.dir, 'sim.tar');
      await saveImage({ image: TAG, file, docker: PODMAN });
      await podman.getImage(TAG).remove();
      const handle = await open(file, 'r+');
      const position = Math.floor((await stat(file)).size / 2);
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, position);
      await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, position);
      await handle.close();

      const since = Date.now();
      const error = await loadImage({ file, docker: PODMAN }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(IntegrityError);
      expect((error as IntegrityError).message).toMatch(/does not match its checksum .* It was not loaded\./);
      expect(await podmanHas(TAG)).toBe(false);
      expect(await podmanImageActions(since)).not.toContain('loadfromarchive');
    });
  });

  describe('pulling from a real registry with credentials', () => {
    /** An image Podman does not hold yet, so its pull is a real one and its digest the registry's alone. */
    const LOCAL = 'docker-sim-manager/podman-pull-test:1';
    let registry: TestRegistry;
    let reference: string;
    let imageId: string;

    beforeAll(async () => {
      registry = await startRegistry();
      await buildImage({ tag: LOCAL, dockerfile: `FROM ${MONTE_CARLO}\nLABEL docker-sim-manager.test=podman-pull\n`, docker });
      imageId = (await docker.getImage(LOCAL).inspect()).Id;
      reference = await pushImage(LOCAL, registry.host, 'dsim/podman-mc:1', registry);
    }, 120_000);
    afterAll(async () => {
      await podman.getImage(imageId).remove({ force: true }).catch(() => undefined);
      await docker.getImage(LOCAL).remove().catch(() => undefined);
      await registry?.stop();
    });
    beforeEach(async () => {
      await podman.getImage(imageId).remove({ force: true }).catch(() => undefined);
      expect(await podmanHas(imageId)).toBe(false);
    });

    test("pullPolicy 'always' with CustomRegistryAuthenticator: Podman pulls it once and the registry's digest is recorded", async () => {
      const { summary, progress, ready } = await runPullingSweep({ image: reference, registry, dataDirectory: data.dir, maxWorkers: 2, docker: PODMAN });

      expect(summary.succeeded).toBe(4);
      expect(ready).toEqual([true]); // one pull for the whole run
      expect(progress.length).toBeGreaterThan(0);
      expect((await podman.getImage(reference).inspect()).Id).toBe(imageId);
      await expect(docker.getImage(reference).inspect()).rejects.toMatchObject({ statusCode: 404 }); // Podman pulled it, not Docker
      const digest = await registryDigest(registry, 'dsim/podman-mc', '1');
      expect(digest).toMatch(/^sha256:/);
      for (const result of summary.results) expect(result.imageDigest).toBe(`${registry.host}/dsim/podman-mc@${digest}`);
      expect(Number(await readFile(path.join(data.dir, 'job_R4', 'pi.txt'), 'utf8'))).toBeGreaterThan(2.5);
    });

    test('a wrong password: RegistryAuthError before any container, the password in no event and no error', async () => {
      const wrong = 'definitely-not-the-password';
      const auth = new CustomRegistryAuthenticator({ registry: registry.host, username: registry.username, password: wrong });
      const manager = new DockerSimManager({ image: reference, pullPolicy: 'always', dataDirectory: path.join(data.dir, 'out'), auth, docker: PODMAN });
      manager.addSimJob({ name: 'R' });
      const events = recordAllEvents(manager);
      const error = (await manager.startComputation().catch((e: unknown) => e)) as RegistryAuthError;

      expect(error).toBeInstanceOf(RegistryAuthError);
      expect(error.registry).toBe(registry.host);
      expect(error.message).toContain(registry.host);
      expect(events.some((line) => line.startsWith('job:started'))).toBe(false);
      expect(await packageContainers({ engine: podman })).toEqual([]);
      expect(await readdir(data.dir)).toEqual([]); // not even the job's folder
      expect(await podmanHas(imageId)).toBe(false);
      const everything = [...events, error.message, error.stack ?? '', inspect(error, { depth: null, showHidden: true })].join('\n');
      for (const form of secretForms(registry, wrong)) expect(everything).not.toContain(form);
    });

    test('secret scan under DEBUG=*: neither the right nor a wrong password shows in any output or file', async () => {
      const [rightDir, wrongDir] = [path.join(data.dir, 'right'), path.join(data.dir, 'wrong')];
      await Promise.all([mkdir(rightDir), mkdir(wrongDir)]);
      const right = await runAuthenticatedSweep({ image: reference, registry, dir: rightDir, socketPath: PODMAN_SOCKET });
      expect(right.stdout).toContain('"succeeded":2');
      expect(right.stderr).toMatch(/modem/); // the debug output really was on
      for (const form of secretForms(registry)) expect([right.stdout, right.stderr, ...right.files].join('\n')).not.toContain(form);

      const wrong = 'another-wrong-password';
      const refused = await runAuthenticatedSweep({ image: reference, registry, dir: wrongDir, password: wrong, socketPath: PODMAN_SOCKET });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toContain('"name":"RegistryAuthError"');
      expect(refused.stderr).toMatch(/modem/);
      for (const form of secretForms(registry, wrong)) expect([refused.stdout, refused.stderr, ...refused.files].join('\n')).not.toContain(form);
    }, 180_000);

    test('a repository the registry does not have: ImagePullError with its reason, not a credentials error', async () => {
      const auth = new CustomRegistryAuthenticator({ registry: registry.host, username: registry.username, password: registry.password });
      const manager = new DockerSimManager({ image: `${registry.host}/dsim/no-such-image:1`, pullPolicy: 'always', dataDirectory: data.dir, auth, docker: PODMAN });
      manager.addSimJob({ name: 'R' });
      const error = await manager.startComputation().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ImagePullError);
      expect((error as ImagePullError).message).toMatch(/no-such-image.*(not found|unknown|does not exist)/i);
    });

    test('a plain-HTTP registry registries.conf does not mark insecure: ImagePullError saying what to configure', async () => {
      // Docker talks plain HTTP to all of 127.0.0.0/8; Podman here was told about 127.0.0.1 only.
      const other = await startRegistry({ address: '127.0.0.2' });
      try {
        const otherReference = await pushImage(LOCAL, other.host, 'dsim/podman-mc:1', other);
        const auth = new CustomRegistryAuthenticator({ registry: other.host, username: other.username, password: other.password });
        const manager = new DockerSimManager({ image: otherReference, pullPolicy: 'always', dataDirectory: data.dir, auth, docker: PODMAN });
        manager.addSimJob({ name: 'R' });
        const error = (await manager.startComputation().catch((e: unknown) => e)) as ImagePullError;
        expect(error).toBeInstanceOf(ImagePullError);
        expect(error.message).toContain('server gave HTTP response to HTTPS client');
        expect(error.message).toContain(`[[registry]] location = "${other.host}" insecure = true`);
        expect(error.message).toContain('/etc/containers/registries.conf.d/');
        expect(error.message).not.toContain(other.password);
      } finally {
        await other.stop();
      }
    }, 120_000);
  });

  describe('dsim with DOCKER_HOST pointing at Podman', () => {
    let child: ChildProcess | undefined;
    afterEach(async () => {
      // A test that failed half-way may leave dsim running and its containers (they are not this process's, so
      // useEngineSuite does not remove them): end both.
      const running = child;
      if (running && running.exitCode === null && running.signalCode === null) {
        const exited = new Promise((resolve) => running.once('exit', resolve));
        running.kill('SIGKILL');
        await exited;
      }
      for (const container of await containersOf(child?.pid)) await podman.getContainer(container.Id).remove({ force: true }).catch(() => undefined);
      child = undefined;
    });

    test('run: a 4-job grid sweep exits 0 with outputs, report.html and trace.csv; nothing is left on Podman', async () => {
      // Podman's own name of the image: Docker has no such image, so only Podman can run this sweep.
      await writeFile(
        path.join(data.dir, 'sweep.yaml'),
        `image: localhost/${MONTE_CARLO}
pullPolicy: never
maxWorkers: 2
dataDirectory: ./out
name: "mc_s{seed}_n{iterations}"
command: "-o /mnt/data -r {seed} -i {iterations}"
network: none
parameters:
  grid: { seed: [1, 2], iterations: [100, 1000] }
`,
      );
      const run = await dsim(['run', 'sweep.yaml'], { cwd: data.dir, env: PODMAN_HOST, onSpawn: (spawned) => (child = spawned) });
      expect(run.stderr).toMatch(/4 succeeded, 0 failed, 0 cancelled, 0 skipped of 4/);
      expect(run.code).toBe(0);
      const out = path.join(data.dir, 'out');
      const entries = await readdir(out);
      expect(entries.filter((e) => e.startsWith('job_')).sort()).toEqual(['job_mc_s1_n100', 'job_mc_s1_n1000', 'job_mc_s2_n100', 'job_mc_s2_n1000']);
      expect(Number(await readFile(path.join(out, 'job_mc_s2_n1000', 'pi.txt'), 'utf8'))).toBeGreaterThan(2.5);
      expect(entries).toEqual(expect.arrayContaining(['report.html', 'trace.csv']));
      expect(await readFile(path.join(out, 'report.html'), 'utf8')).toContain('mc_s2_n1000');
      const csv = (await readFile(path.join(out, 'trace.csv'), 'utf8')).trim().split('\n');
      expect(csv[0]).toMatch(/^job,run_id,slot,status,exit_code,attempts,.*,param_seed,param_iterations$/);
      expect(csv.slice(1).map((line) => line.split(',')[3])).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
      expect(await containersOf(child?.pid)).toEqual([]);
    });

    test('run: SIGINT to a longer sweep cancels it (exit 130, the summary printed) and leaves no container of it on Podman', async () => {
      await writeFile(
        path.join(data.dir, 'long.yaml'),
        `image: localhost/${SHELL_IMAGE}
pullPolicy: never
maxWorkers: 2
dataDirectory: ./out
name: "long{i}"
command: ["echo up; sleep 60"]
network: none
init: true
parameters:
  grid: { i: [1, 2, 3, 4, 5, 6] }
`,
      );
      let twoStarted!: () => void;
      const started = new Promise<void>((resolve) => (twoStarted = resolve));
      let stderrSoFar = '';
      const run = dsim(['run', 'long.yaml'], {
        cwd: data.dir,
        env: PODMAN_HOST,
        timeoutMs: 100_000,
        onSpawn: (spawned) => (child = spawned),
        onStderr: (stderr) => {
          stderrSoFar = stderr;
          if ((stderr.match(/ started +long\d/g) ?? []).length >= 2) twoStarted();
        },
      });
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([
        started,
        run.then((early) => Promise.reject(new Error(`dsim ended before two jobs started: ${early.stderr}`))),
        new Promise((_, reject) => (waited = setTimeout(() => reject(new Error(`two jobs did not start within 60 s; dsim printed: ${stderrSoFar}`)), 60_000))),
      ]).finally(() => clearTimeout(waited));
      // Both jobs print before they sleep: wait until that reached their logs, so the run is well under way.
      const logs = ['job_long1', 'job_long2'].map((job) => path.join(data.dir, 'out', job, 'log.txt'));
      const deadline = Date.now() + 30_000;
      while (!(await Promise.all(logs.map((log) => readFile(log, 'utf8').catch(() => '')))).every((text) => text === 'up\n')) {
        if (Date.now() > deadline) throw new Error(`the two running jobs did not print within 30 s; dsim printed: ${stderrSoFar}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const running = await containersOf(child?.pid, 'running');
      expect(running).toHaveLength(2); // the run's jobs really run on Podman

      child?.kill('SIGINT');
      const { code, stderr } = await run;
      expect(code).toBe(130);
      expect(stderr).toMatch(/stopping the run \(signal\)/);
      // The jobs that ran and those read behind them are cancelled; the rest of the sweep was never read.
      const counts = /\n0 succeeded, 0 failed, (\d) cancelled, 0 skipped(?:, (\d) not reached)? of 6 in /.exec(stderr);
      expect(counts).not.toBeNull();
      expect(Number(counts?.[1]) + Number(counts?.[2] ?? 0)).toBe(6);
      expect(stderr.match(/ started +long\d/g)).toHaveLength(2); // queued jobs never started
      expect(await containersOf(child?.pid)).toEqual([]);
      for (const container of running) await expect(podman.getContainer(container.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });
      for (const log of logs) expect(await readFile(log, 'utf8')).toBe('up\n'); // what they printed is kept
    });
  });
});
