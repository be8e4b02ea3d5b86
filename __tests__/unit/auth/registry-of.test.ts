import { ValidationError } from '../../../src/index.js';
import { normalizeRegistry, registryOf } from '../../../src/auth/registry-of.js';

const DIGEST = 'sha256:' + 'a'.repeat(64);

describe('registryOf', () => {
  test.each([
    ['ubuntu', 'docker.io'],
    ['ubuntu:22.04', 'docker.io'],
    [`ubuntu@${DIGEST}`, 'docker.io'],
    [`ubuntu:22.04@${DIGEST}`, 'docker.io'],
    ['library/ubuntu', 'docker.io'],
    ['myorg/sim:1.0', 'docker.io'],
    ['myorg/team/sim', 'docker.io'],
    ['docker.io/library/ubuntu', 'docker.io'],
    ['index.docker.io/myorg/sim', 'docker.io'],
    ['registry-1.docker.io/myorg/sim:2', 'docker.io'],
    ['ghcr.io/myorg/sim:1.2', 'ghcr.io'],
    [`ghcr.io/myorg/sim@${DIGEST}`, 'ghcr.io'],
    ['GHCR.IO/myorg/sim', 'ghcr.io'],
    ['localhost/sim', 'localhost'],
    ['localhost:5000/sim', 'localhost:5000'],
    [`localhost:5000/team/sim:3@${DIGEST}`, 'localhost:5000'],
    ['127.0.0.1:41234/sim:latest', '127.0.0.1:41234'],
    ['registry.example.com:8443/a/b/c', 'registry.example.com:8443'],
    ['myhost:5000/sim', 'myhost:5000'],
    ['[::1]:5000/sim', '[::1]:5000'],
    // Not a host: no '.', no ':' and not 'localhost' (a Docker Hub namespace).
    ['myregistry/sim', 'docker.io'],
    ['localhostx/sim', 'docker.io'],
  ])('%s -> %s', (reference, registry) => {
    expect(registryOf(reference)).toBe(registry);
  });

  test.each([[''], ['  '], ['ghcr.io/my org/sim'], ['https://ghcr.io/org/sim'], [undefined], [42]])(
    '%p is refused with a ValidationError naming the image',
    (reference) => {
      expect(() => registryOf(reference as string)).toThrow(ValidationError);
      expect(() => registryOf(reference as string)).toThrow(/Expected an image reference/);
    },
  );
});

describe('normalizeRegistry', () => {
  test.each([
    ['docker.io', 'docker.io'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://index.docker.io/v1/', 'docker.io'],
    ['https://registry-1.docker.io/v2/', 'docker.io'],
    ['ghcr.io', 'ghcr.io'],
    ['https://ghcr.io', 'ghcr.io'],
    ['GHCR.io', 'ghcr.io'],
    ['http://localhost:5000/v2/', 'localhost:5000'],
    ['localhost:5000', 'localhost:5000'],
    [' registry.example.com:8443 ', 'registry.example.com:8443'],
  ])('%s -> %s', (host, normalized) => {
    expect(normalizeRegistry(host)).toBe(normalized);
  });

  test('keeps the port: two ports are two registries', () => {
    expect(normalizeRegistry('localhost:5000')).not.toBe(normalizeRegistry('localhost:5001'));
  });

  test.each([[''], ['https://'], ['a b'], [undefined]])('%p is refused', (host) => {
    expect(() => normalizeRegistry(host as string)).toThrow(ValidationError);
  });
});
