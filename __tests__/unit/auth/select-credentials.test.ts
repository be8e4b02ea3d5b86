import { RegistryAuthError, ValidationError, isDockerSimError, type RegistryAuthenticator, type RegistryCredentials } from '../../../src/index.js';
import { CustomRegistryAuthenticator } from '../../../src/auth/custom-registry-authenticator.js';
import { DockerConfigAuthenticator } from '../../../src/auth/docker-config-authenticator.js';
import { GhcrAuthenticator } from '../../../src/auth/ghcr-authenticator.js';
import { registryOf } from '../../../src/auth/registry-of.js';
import { selectCredentials } from '../../../src/auth/select-credentials.js';

const SECRET = 'vault-S3cret-value';

/** What a user writes: only the interface, nothing else from the package. */
class VaultAuthenticator implements RegistryAuthenticator {
  readonly asked: string[] = [];
  constructor(private readonly host: string) {}
  supports(registry: string): boolean {
    return registry === this.host;
  }
  async getCredentials(registry: string): Promise<RegistryCredentials | undefined> {
    this.asked.push(registry);
    return { username: 'vault-user', password: SECRET, serveraddress: registry };
  }
}

describe('selectCredentials', () => {
  test('a user-written authenticator is used for its registry, with the registry of the image', async () => {
    const vault = new VaultAuthenticator('registry.example.org:8443');
    const credentials = await selectCredentials([new GhcrAuthenticator({ env: {} }), vault], registryOf('registry.example.org:8443/lab/sim:2'));
    expect(credentials).toEqual({ username: 'vault-user', password: SECRET, serveraddress: 'registry.example.org:8443' });
    expect(vault.asked).toEqual(['registry.example.org:8443']);
  });

  test('the first supporting authenticator wins, even when it answers undefined', async () => {
    const vault = new VaultAuthenticator('ghcr.io');
    const ghcrWithoutToken = new GhcrAuthenticator({ env: {} });
    expect(await selectCredentials([ghcrWithoutToken, vault], 'ghcr.io')).toBeUndefined();
    expect(vault.asked).toEqual([]);
    expect(await selectCredentials([vault, ghcrWithoutToken], 'ghcr.io')).toMatchObject({ username: 'vault-user' });
  });

  test('authenticators that do not support the registry are not asked', async () => {
    const custom = new CustomRegistryAuthenticator({ registry: 'localhost:5000', username: 'ci', password: SECRET });
    const vault = new VaultAuthenticator('ghcr.io');
    expect(await selectCredentials([custom, vault], 'localhost:5001')).toBeUndefined();
    expect(vault.asked).toEqual([]);
    expect(await selectCredentials([custom, vault], 'localhost:5000')).toMatchObject({ username: 'ci' });
  });

  test('the registry is normalised before authenticators see it', async () => {
    const vault = new VaultAuthenticator('docker.io');
    expect(await selectCredentials([vault], 'https://index.docker.io/v1/')).toBeDefined();
    expect(vault.asked).toEqual(['docker.io']);
  });

  test('a catch-all DockerConfigAuthenticator placed last answers for the rest', async () => {
    const config = JSON.stringify({ auths: { 'quay.io': { auth: Buffer.from(`q:${SECRET}`).toString('base64') } } });
    const chain = [new VaultAuthenticator('ghcr.io'), new DockerConfigAuthenticator({ env: { DOCKER_AUTH_CONFIG: config } })];
    expect(await selectCredentials(chain, 'quay.io')).toEqual({ username: 'q', password: SECRET, serveraddress: 'quay.io' });
    expect(await selectCredentials(chain, 'ghcr.io')).toMatchObject({ username: 'vault-user' });
  });

  test('no authenticators: undefined (anonymous)', async () => {
    expect(await selectCredentials([], 'ghcr.io')).toBeUndefined();
  });

  test('a throwing authenticator becomes a RegistryAuthError that keeps the cause but not its message', async () => {
    const leaky: RegistryAuthenticator = {
      supports: () => true,
      getCredentials: async () => {
        throw new Error(`vault said no to token ${SECRET}`);
      },
    };
    const error = (await selectCredentials([leaky], 'ghcr.io').catch((e: unknown) => e)) as RegistryAuthError;
    expect(error).toBeInstanceOf(RegistryAuthError);
    expect(isDockerSimError(error)).toBe(true);
    expect(error.code).toBe('E_REGISTRY_AUTH');
    expect(error.registry).toBe('ghcr.io');
    expect(error.message).toBe(
      'authenticators[0] (Object) failed to get credentials for registry ghcr.io; see `cause`. Fix the authenticator or remove it to pull anonymously.',
    );
    expect((error.cause as Error).message).toContain('vault said no');
    expect(error.message).not.toContain(SECRET);
  });

  test('a throwing supports() becomes a RegistryAuthError naming the authenticator', async () => {
    class Broken implements RegistryAuthenticator {
      supports(): boolean {
        throw new TypeError('bug');
      }
      async getCredentials(): Promise<undefined> {
        return undefined;
      }
    }
    await expect(selectCredentials([new GhcrAuthenticator({ env: {} }), new Broken()], 'quay.io')).rejects.toThrow(
      "authenticators[1] (Broken).supports('quay.io') threw; see `cause`.",
    );
  });

  test('bad arguments are refused with a ValidationError', async () => {
    await expect(selectCredentials([], '')).rejects.toThrow(ValidationError);
    await expect(selectCredentials('ghcr' as unknown as RegistryAuthenticator[], 'ghcr.io')).rejects.toThrow(
      "Expected `authenticators` to be an array of RegistryAuthenticator, got 'ghcr' (string).",
    );
  });
});
