import { execFile } from 'node:child_process';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { CustomRegistryAuthenticator, DockerSimManager, ImagePullError, RegistryAuthError } from '../../src/index.js';
import { registryAuthHeader } from '../../src/runtime/dockerode-runtime.js';
import { pushImage, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { MONTE_CARLO, describeEngine, docker, packageContainers, useEngineSuite } from '../helpers/engine.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

/** The registry's own digest of a tag (what `docker pull` would pin to). */
async function registryDigest(registry: TestRegistry, repo: string, tag: string): Promise<string> {
  const response = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      authorization: `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`,
      accept: 'application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  return response.headers.get('docker-content-digest') ?? '';
}

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await allFiles(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

describeEngine('pulling from a real registry with credentials', () => {
  const data = useEngineSuite({ expectNoLeftovers: true });
  let registry: TestRegistry;
  let reference: string;

  beforeAll(async () => {
    registry = await startRegistry();
    reference = await pushImage(MONTE_CARLO, registry.host, 'dsim/monte-carlo:1', registry);
  });
  afterAll(async () => {
    await docker.getImage(reference).remove().catch(() => undefined);
    await registry?.stop();
  });

  test("pullPolicy 'always' with CustomRegistryAuthenticator: pulled once, progress seen, the registry's digest recorded", async () => {
    await docker.getImage(reference).remove().catch(() => undefined);
    const auth = new CustomRegistryAuthenticator({ registry: registry.host, username: registry.username, password: registry.password });
    const manager = new DockerSimManager({ image: reference, pullPolicy: 'always', dataDirectory: data.dir, maxWorkers: 3, auth });
    for (let i = 1; i <= 4; i++) manager.addSimJob({ name: `R${i}`, command: `-o /mnt/data -r ${i} -i 50` });
    const progress: string[] = [];
    const ready: boolean[] = [];
    manager.on('image:pull-progress', ({ status }) => progress.push(status));
    manager.on('image:ready', ({ wasPulled }) => ready.push(wasPulled));
    const summary = await manager.startComputation();
    expect(summary.succeeded).toBe(4);
    expect(ready).toEqual([true]);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.filter((s) => /^Pulling from /.test(s))).toHaveLength(1); // one pull for the whole run
    const digest = await registryDigest(registry, 'dsim/monte-carlo', '1');
    expect(digest).toMatch(/^sha256:/);
    for (const result of summary.results) expect(result.imageDigest).toBe(`${registry.host}/dsim/monte-carlo@${digest}`);
  });

  test('a wrong password: RegistryAuthError before any container, without the password', async () => {
    const wrong = 'definitely-not-the-password';
    const auth = new CustomRegistryAuthenticator({ registry: registry.host, username: registry.username, password: wrong });
    const manager = new DockerSimManager({ image: reference, pullPolicy: 'always', dataDirectory: path.join(data.dir, 'out'), auth });
    manager.addSimJob({ name: 'R' });
    const error = (await manager.startComputation().catch((e: unknown) => e)) as RegistryAuthError;
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(error.message).toContain(registry.host);
    expect(JSON.stringify({ m: error.message, s: error.stack })).not.toContain(wrong);
    expect(await packageContainers()).toEqual([]);
    expect(await readdir(data.dir)).toEqual([]);
  });

  test('a repository the registry does not have: ImagePullError with its reason', async () => {
    const auth = new CustomRegistryAuthenticator({ registry: registry.host, username: registry.username, password: registry.password });
    const manager = new DockerSimManager({ image: `${registry.host}/dsim/no-such-image:1`, pullPolicy: 'always', dataDirectory: data.dir, auth });
    manager.addSimJob({ name: 'R' });
    const error = await manager.startComputation().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ImagePullError);
    expect((error as ImagePullError).message).toMatch(/no-such-image.*(not found|unknown|does not exist)/i);
  });

  test('secret scan: an authenticated sweep under DEBUG=* leaves the password nowhere', async () => {
    await docker.getImage(reference).remove().catch(() => undefined);
    const script = path.join(data.dir, 'sweep.mts');
    const out = path.join(data.dir, 'out');
    await writeFile(
      script,
      `import { CustomRegistryAuthenticator, DockerSimManager } from ${JSON.stringify(path.join(root, 'src/index.ts'))};
const [image, host, username, password, dataDirectory] = process.argv.slice(2);
const manager = new DockerSimManager({ image, pullPolicy: 'always', dataDirectory, auth: new CustomRegistryAuthenticator({ registry: host, username, password }) });
for (const name of ['S1', 'S2']) manager.addSimJob({ name, command: '-o /mnt/data -r 1 -i 20', env: { NOTE: 'secret-scan' } });
for (const event of ['run:started', 'image:pull-progress', 'image:ready', 'job:queued', 'job:started', 'job:log', 'job:succeeded', 'job:failed', 'run:finished']) {
  manager.on(event as 'job:log', (payload) => console.log(JSON.stringify({ event, payload })));
}
const summary = await manager.startComputation();
console.log(JSON.stringify({ summary }));
`,
    );
    const { stdout, stderr } = await run(path.join(root, 'node_modules/.bin/tsx'), [script, reference, registry.host, registry.username, registry.password, out], {
      cwd: root,
      env: { ...process.env, DEBUG: '*' },
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(stdout).toContain('"succeeded":2');
    expect(stderr).toMatch(/modem/); // the debug output really was on
    const files = await Promise.all((await allFiles(out)).map((file) => readFile(file, 'utf8')));
    const everything = [stdout, stderr, ...files].join('\n');
    const { password, username } = registry;
    const authJson = JSON.stringify({ username, password, serveraddress: registry.host });
    for (const form of [
      password,
      Buffer.from(password).toString('base64'),
      Buffer.from(`${username}:${password}`).toString('base64'),
      Buffer.from(authJson).toString('base64'),
      Buffer.from(authJson).toString('base64url'),
      registryAuthHeader({ username, password, serveraddress: registry.host }),
    ]) {
      expect(everything).not.toContain(form);
    }
  }, 120_000);
});
