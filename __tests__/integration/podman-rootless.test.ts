/**
 * Rootless Podman: an unprivileged user runs `dsim` against that user's own `podman system service`
 * (scripts/podman-rootless.sh starts it; .ci/run does). Nothing tells dsim where the engine is: it finds the
 * user's socket itself, past the Docker and rootful Podman sockets the user may not use.
 */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Docker from 'dockerode';
import { DockerodeRuntime, LABELS } from '../../src/index.js';
import { engineAnswers, ensureTestImages, SHELL_IMAGE } from '../helpers/engine.js';

const USER = process.env.DSIM_ROOTLESS_USER ?? 'dsim-rootless';
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const isCi = process.env.CI === 'true' || process.env.CI === '1';

function account(): { uid: number; gid: number; home: string } | undefined {
  try {
    const [, , uid, gid, , home] = execFileSync('getent', ['passwd', USER], { encoding: 'utf8' }).trim().split(':');
    return { uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  } catch {
    return undefined;
  }
}

const user = account();
const socket = user === undefined ? undefined : `/run/user/${user.uid}/podman/podman.sock`;
const rootless = socket === undefined ? undefined : new Docker({ socketPath: socket });
const answers = rootless !== undefined && (await engineAnswers(rootless));
const describeRootless: jest.Describe = answers || isCi ? describe : describe.skip;

/** Runs dsim as the unprivileged user, with nothing set that says where the engine is. */
function dsimAsUser(args: string[], cwd: string): { code: number; stdout: string; stderr: string } {
  const { uid, home } = user as NonNullable<typeof user>;
  const tsx = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  try {
    const stdout = execFileSync(
      'runuser',
      ['-u', USER, '--', 'env', '-i', `HOME=${home}`, `XDG_RUNTIME_DIR=/run/user/${uid}`, `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, process.execPath, '--import', tsx, path.join(ROOT, 'src', 'cli', 'dsim.ts'), ...args],
      { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 },
    );
    return { code: 0, stdout, stderr: '' };
  } catch (error) {
    const failure = error as { status?: number; stdout?: string; stderr?: string };
    return { code: failure.status ?? -1, stdout: failure.stdout ?? '', stderr: failure.stderr ?? '' };
  }
}

describeRootless('rootless Podman (an unprivileged user and that user\'s own service)', () => {
  let dir: string;

  beforeAll(async () => {
    if (!answers) throw new Error(`No rootless Podman service answers for user ${USER} (CI=true makes this a failure, not a skip). Start one with \`bash scripts/podman-rootless.sh\` as root.`);
    await ensureTestImages();
    const has = await (rootless as Docker).getImage(SHELL_IMAGE).inspect().then(() => true, () => false);
    if (!has) execSync(`docker save ${SHELL_IMAGE} | podman --url unix://${socket} load`, { stdio: 'ignore' });
    // The user's folder: /tmp, since the repository's own folders may not be writable (or even visible) to them.
    dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-rootless-'));
    await chown(dir, (user as NonNullable<typeof user>).uid, (user as NonNullable<typeof user>).gid);
  }, 120_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('a 12-job sweep with templates runs, its outputs and logs owned by the user; ignored limits are a warning', async () => {
    const { uid, gid } = user as NonNullable<typeof user>;
    await writeFile(
      path.join(dir, 'sweep.yaml'),
      [
        `image: ${SHELL_IMAGE}`,
        'maxWorkers: 3',
        'dataDirectory: ./out',
        'name: "case-{seed}"',
        'memory: 256m',
        // The image's entrypoint is `sh -c`: the command is one script.
        'command: ["cat /etc/sim/setup.txt /mnt/data/in/seed.txt > /mnt/data/out.txt && id -u >> /mnt/data/out.txt"]',
        'templates:',
        '  - { content: "setup {seed}\\n", target: /etc/sim/setup.txt }',
        '  - { content: "seed {seed}\\n", target: /mnt/data/in/seed.txt }',
        'parameters:',
        '  grid: { seed: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] }',
        '',
      ].join('\n'),
    );
    await chown(path.join(dir, 'sweep.yaml'), uid, gid);
    const run = dsimAsUser(['run', 'sweep.yaml', '--json'], dir);
    const events = run.stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { event: string; message?: string; summary?: { succeeded: number } });
    // A failed job's event carries its reason: shown whole when the run does not succeed.
    const failures = events.filter((e) => e.event === 'job:failed' || e.event === 'job:retrying');
    expect({ code: run.code, stderr: run.stderr, failures }).toEqual({ code: 0, stderr: '', failures: [] });
    const warnings = events.filter((e) => e.event === 'run:warning').map((e) => e.message ?? '');
    expect(warnings.filter((w) => w.includes('rootless Podman on cgroup v1')).length).toBe(existsSync('/sys/fs/cgroup/cgroup.controllers') ? 0 : 1);
    const out = path.join(dir, 'out');
    const folders = (await readdir(out)).filter((name) => name.startsWith('job_')).sort();
    expect(folders).toHaveLength(12);
    for (let seed = 1; seed <= 12; seed++) {
      const folder = path.join(out, `job_case-${seed}`);
      // The job ran as the user (keep-id: the same uid inside as outside), so what it wrote is the user's.
      expect(await readFile(path.join(folder, 'out.txt'), 'utf8')).toBe(`setup ${seed}\nseed ${seed}\n${uid}\n`);
      for (const file of ['out.txt', 'log.txt', 'in', 'in/seed.txt', '.']) {
        expect({ file, uid: (await stat(path.join(folder, file))).uid }).toEqual({ file, uid });
      }
    }
    expect((await stat(path.join(out, 'report.html'))).uid).toBe(uid);
    // Nothing of the run is left on the user's engine.
    const left = await (rootless as Docker).listContainers({ all: true, filters: { label: [LABELS.run] } });
    expect(left.map((c) => c.Names)).toEqual([]);
  }, 240_000);

  test('containers created all at once (a pool of workers, the slots of a sweep): every creation succeeds, the service stays up', async () => {
    // Rootless Podman 4.x reads keep-id's subordinate ids through libsubid, which is not thread-safe: creations at
    // the same moment made its service fail one ("keep-id requires additional UIDs", "no subgid ranges found")
    // and then crash (SIGSEGV), every few hundred. The runtime creates keep-id containers one at a time.
    // Two runtimes, as two managers of one process would have: the gate is the service's, not a runtime's.
    const runtimes = [new DockerodeRuntime({ socketPath: socket as string }), new DockerodeRuntime({ socketPath: socket as string })];
    const labels = { [LABELS.run]: `wide-${process.pid}` };
    const failures: string[] = [];
    try {
      for (let round = 0; round < 40 && failures.length === 0; round++) {
        const created = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => (runtimes[i % 2] as DockerodeRuntime).createContainer({ name: `dsim-wide-${process.pid}-${round}-${i}`, image: SHELL_IMAGE, cmd: ['-c', 'true'], env: {}, labels, binds: [] })));
        for (const result of created) if (result.status === 'rejected') failures.push(String((result.reason as Error).message));
        await Promise.all(created.map((result) => (result.status === 'fulfilled' ? runtimes[0]?.remove(result.value) : undefined)));
      }
    } finally {
      const left = await (rootless as Docker).listContainers({ all: true, filters: { label: [`${LABELS.run}=wide-${process.pid}`] } }).catch(() => []);
      await Promise.all(left.map((c) => (rootless as Docker).getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
    }
    expect(failures.slice(0, 3)).toEqual([]);
    expect(await engineAnswers(rootless as Docker)).toBe(true);
  }, 240_000);
});
