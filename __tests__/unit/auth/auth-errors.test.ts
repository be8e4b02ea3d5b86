import { DockerSimError, ImagePullError, RegistryAuthError, isDockerSimError } from '../../../src/index.js';

describe('auth error classes', () => {
  test.each([
    [new RegistryAuthError('ghcr.io', 'ghcr.io refused the credentials.'), 'RegistryAuthError', 'E_REGISTRY_AUTH', { registry: 'ghcr.io' }],
    [new ImagePullError('ghcr.io/org/sim:1', 'Pulling ghcr.io/org/sim:1 failed.'), 'ImagePullError', 'E_IMAGE_PULL', { image: 'ghcr.io/org/sim:1' }],
  ])('%s has its name, stable code and field', (error, name, code, fields) => {
    expect(error).toBeInstanceOf(DockerSimError);
    expect(isDockerSimError(error)).toBe(true);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(error).toMatchObject(fields);
  });

  test('the cause is kept', () => {
    const cause = new Error('socket hang up');
    expect(new RegistryAuthError('ghcr.io', 'm', { cause }).cause).toBe(cause);
    expect(new ImagePullError('x', 'm', { cause }).cause).toBe(cause);
  });
});
