import { MONTE_CARLO, describeEngine, docker, ensureTestImages, requireEngine } from '../helpers/engine.js';
import { pushImage, startRegistry, type TestRegistry } from '../helpers/registry.js';

const REPO = 'dsim-auth-test/monte-carlo-pi:1';

/** GET on the registry API with basic auth; resolves with the status and body. */
async function registryGet(registry: TestRegistry, apiPath: string, password = registry.password): Promise<{ status: number; body: string }> {
  const response = await fetch(`${registry.url}${apiPath}`, {
    headers: { authorization: `Basic ${Buffer.from(`${registry.username}:${password}`).toString('base64')}` },
  });
  return { status: response.status, body: await response.text() };
}

describeEngine('registry auth harness (a real registry with htpasswd)', () => {
  let registry: TestRegistry | undefined;
  const createdTags: string[] = [];

  beforeAll(async () => {
    await requireEngine();
    await ensureTestImages();
    registry = await startRegistry();
  });
  afterAll(async () => {
    for (const tag of createdTags) await docker.getImage(tag).remove({ noprune: true }).catch(() => undefined);
    await registry?.stop();
  });

  function started(): TestRegistry {
    if (!registry) throw new Error('the registry did not start (see beforeAll)');
    return registry;
  }

  test('the registry refuses anonymous and wrong-password requests', async () => {
    const reg = started();
    expect((await fetch(`${reg.url}/v2/`)).status).toBe(401);
    expect((await registryGet(reg, '/v2/', 'wrong-password')).status).toBe(401);
    expect((await registryGet(reg, '/v2/')).status).toBe(200);
  });

  test('pushImage pushes the fixture with the right credentials; the registry then lists its tag', async () => {
    const reg = started();
    const reference = await pushImage(MONTE_CARLO, reg.host, REPO, reg);
    expect(reference).toBe(`${reg.host}/${REPO}`);
    const tags = await registryGet(reg, '/v2/dsim-auth-test/monte-carlo-pi/tags/list');
    expect(tags.status).toBe(200);
    expect(JSON.parse(tags.body)).toEqual({ name: 'dsim-auth-test/monte-carlo-pi', tags: ['1'] });
    // The local tag was removed again, so a later pull has to go to the registry.
    await expect(docker.getImage(reference).inspect()).rejects.toMatchObject({ statusCode: 404 });
  });

  test('pushImage rejects when the registry refuses the credentials (error lines inside the stream are seen)', async () => {
    const reg = started();
    const reference = `${reg.host}/dsim-auth-test/refused:1`;
    createdTags.push(reference);
    await expect(pushImage(MONTE_CARLO, reg.host, 'dsim-auth-test/refused:1', { username: reg.username, password: 'wrong-password' }, { keepLocalTag: true })).rejects.toThrow(
      new RegExp(`Pushing ${reference.replace(/[.]/g, '\\.')} failed: .*(unauthorized|authentication required|no basic auth)`, 'i'),
    );
    const tags = await registryGet(reg, '/v2/dsim-auth-test/refused/tags/list');
    expect(tags.status).toBe(404);
  });

  test('the engine accepts the right password and refuses a wrong one (docker.checkAuth)', async () => {
    const reg = started();
    const accepted = (await docker.checkAuth({ username: reg.username, password: reg.password, serveraddress: reg.host })) as { Status?: string };
    expect(accepted.Status).toBe('Login Succeeded');
    const refused = await docker.checkAuth({ username: reg.username, password: 'wrong-password', serveraddress: reg.host }).then(
      () => undefined,
      (error: unknown) => error as { statusCode?: number; message: string },
    );
    expect(refused).toBeDefined();
    // Engine 20.10 answers 500 "login attempt to http://127.0.0.1:<port>/v2/ failed with status: 401 Unauthorized";
    // newer engines answer 401 "unauthorized: incorrect username or password".
    expect([401, 500]).toContain(refused?.statusCode);
    expect(refused?.message).toMatch(/401 Unauthorized|unauthorized|incorrect username or password/i);
    expect(refused?.message).not.toContain(reg.password);
  });
});
