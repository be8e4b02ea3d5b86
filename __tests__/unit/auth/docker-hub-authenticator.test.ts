import { ValidationError } from '../../../src/index.js';
import { DockerHubAuthenticator } from '../../../src/auth/docker-hub-authenticator.js';

const TOKEN = 'dckr_pat_S3cretValue';

describe('DockerHubAuthenticator', () => {
  test.each([
    ['docker.io', true],
    ['index.docker.io', true],
    ['registry-1.docker.io', true],
    ['https://index.docker.io/v1/', true],
    ['ghcr.io', false],
    ['docker.io:5000', false],
  ])('supports(%s) is %s', (registry, isSupported) => {
    expect(new DockerHubAuthenticator({ env: {} }).supports(registry)).toBe(isSupported);
  });

  test('reads DOCKERHUB_USERNAME and DOCKERHUB_TOKEN; server address is the v1 index like the docker CLI', async () => {
    const auth = new DockerHubAuthenticator({ env: { DOCKERHUB_USERNAME: 'me', DOCKERHUB_TOKEN: TOKEN } });
    const expected = { username: 'me', password: TOKEN, serveraddress: 'https://index.docker.io/v1/' };
    expect(await auth.getCredentials('docker.io')).toEqual(expected);
    expect(await auth.getCredentials('registry-1.docker.io')).toEqual(expected);
  });

  test('options win over the environment', async () => {
    const auth = new DockerHubAuthenticator({ username: 'opt', token: TOKEN, env: { DOCKERHUB_USERNAME: 'env', DOCKERHUB_TOKEN: 'env' } });
    expect(await auth.getCredentials('docker.io')).toMatchObject({ username: 'opt', password: TOKEN });
  });

  test.each([[{ DOCKERHUB_USERNAME: 'me' }], [{ DOCKERHUB_TOKEN: TOKEN }], [{ DOCKERHUB_USERNAME: 'me', DOCKERHUB_TOKEN: '' }]])(
    'undefined when something is missing (%p)',
    async (env) => {
      expect(await new DockerHubAuthenticator({ env }).getCredentials('docker.io')).toBeUndefined();
    },
  );

  test('never hands its token to another registry', async () => {
    expect(await new DockerHubAuthenticator({ username: 'me', token: TOKEN }).getCredentials('ghcr.io')).toBeUndefined();
  });

  test('an empty token is refused eagerly, hidden', () => {
    const attempt = () => new DockerHubAuthenticator({ token: '' });
    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow('got (hidden) (an empty string)');
  });
});
