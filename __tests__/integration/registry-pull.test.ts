import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { CustomRegistryAuthenticator, DockerSimManager, ImagePullError, RegistryAuthError } from '../../src/index.js';
import { pushImage, registryDigest, runAuthenticatedSweep, runPullingSweep, secretForms, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { MONTE_CARLO, describeEngine, docker, packageContainers, useEngineSuite } from '../helpers/engine.js';

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
    const { summary, progress, ready } = await runPullingSweep({ image: reference, registry, dataDirectory: data.dir, maxWorkers: 3 });
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
    const { stdout, stderr, files } = await runAuthenticatedSweep({ image: reference, registry, dir: data.dir });
    expect(stdout).toContain('"succeeded":2');
    expect(stderr).toMatch(/modem/); // the debug output really was on
    const everything = [stdout, stderr, ...files].join('\n');
    for (const form of secretForms(registry)) expect(everything).not.toContain(form);
  }, 120_000);
});
