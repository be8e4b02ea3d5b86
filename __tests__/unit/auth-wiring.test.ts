import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerSimManager, RegistryAuthError, type RegistryAuthenticator, type RegistryCredentials } from '../../src/index.js';
import { InMemoryRuntime } from '../../src/testing.js';

const IMAGE = 'registry.example.org/lab/sim:2.0';
const PASSWORD = 's3cret-Pa55word';

/** A user-written authenticator: only the interface, nothing from the package. */
class VaultAuthenticator implements RegistryAuthenticator {
  readonly asked: string[] = [];
  supports(registry: string): boolean {
    return registry === 'registry.example.org';
  }
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    this.asked.push(registry);
    return { username: 'lab', password: PASSWORD, serveraddress: registry };
  }
}

let dataDirectory: string;
beforeEach(async () => {
  dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-auth-'));
});
afterEach(async () => {
  await rm(dataDirectory, { recursive: true, force: true });
});

test('a user-written authenticator supplies credentials, checked once, sent only to its registry', async () => {
  const runtime = new InMemoryRuntime({ registry: { [IMAGE]: {} } });
  const vault = new VaultAuthenticator();
  const other: RegistryAuthenticator = { supports: (r) => r === 'ghcr.io', getCredentials: async () => ({ username: 'x', password: 'y', serveraddress: 'ghcr.io' }) };
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, auth: [other, vault] });
  manager.addSimJobs([{ name: 'J1' }, { name: 'J2' }, { name: 'J3' }]);
  const summary = await manager.startComputation();
  expect(summary.succeeded).toBe(3);
  expect(runtime.pulls).toBe(1);
  expect(runtime.calls.filter((c) => c === 'checkAuth')).toHaveLength(1);
  expect(runtime.credentialsSentTo).toEqual(['registry.example.org', 'registry.example.org']); // check, then pull
});

test('refused credentials: RegistryAuthError before any container, without the secret', async () => {
  const runtime = new InMemoryRuntime({ registry: { [IMAGE]: {} }, acceptsCredentials: () => false });
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, auth: new VaultAuthenticator() });
  manager.addSimJob({ name: 'J' });
  const error = (await manager.startComputation().catch((e: unknown) => e)) as RegistryAuthError;
  expect(error).toBeInstanceOf(RegistryAuthError);
  expect(error.code).toBe('E_REGISTRY_AUTH');
  expect(error.message).toMatch(/registry\.example\.org refused the credentials/);
  const everything = JSON.stringify({ message: error.message, stack: error.stack, error });
  for (const form of [PASSWORD, Buffer.from(PASSWORD).toString('base64'), Buffer.from(`lab:${PASSWORD}`).toString('base64')]) {
    expect(everything).not.toContain(form);
  }
  expect(runtime.created).toEqual([]);
  expect(runtime.pulls).toBe(0);
});

test('no pull, no registry round trip: a local image runs offline even with stored credentials', async () => {
  const runtime = new InMemoryRuntime({ images: { [IMAGE]: {} }, acceptsCredentials: () => false });
  const manager = new DockerSimManager({ image: IMAGE, dataDirectory, runtime, auth: new VaultAuthenticator() });
  manager.addSimJob({ name: 'J' });
  expect((await manager.startComputation()).succeeded).toBe(1);
  expect(runtime.calls).not.toContain('checkAuth');
  await expect(manager.verifyAuth()).rejects.toThrow(RegistryAuthError); // on demand it is checked
});

test('an auth option that is not an authenticator is refused naming it', () => {
  const runtime = new InMemoryRuntime();
  expect(() => new DockerSimManager({ image: IMAGE, dataDirectory, runtime, auth: [{} as RegistryAuthenticator] })).toThrow(/Expected `auth\[0\]` to be a RegistryAuthenticator/);
});
