import { inspect } from 'node:util';
import { ValidationError } from '../../../src/index.js';
import { CustomRegistryAuthenticator, type CustomRegistryAuthenticatorOptions } from '../../../src/auth/custom-registry-authenticator.js';

const PASSWORD = 'Hunter2-S3cret';

function secretForms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64'), Buffer.from(`ci:${secret}`).toString('base64')];
}

describe('CustomRegistryAuthenticator', () => {
  test('supports exactly its host and port', () => {
    const auth = new CustomRegistryAuthenticator({ registry: 'https://Registry.Example.com:5000/', username: 'ci', password: PASSWORD });
    expect(auth.registry).toBe('registry.example.com:5000');
    expect(auth.supports('registry.example.com:5000')).toBe(true);
    expect(auth.supports('registry.example.com')).toBe(false);
    expect(auth.supports('registry.example.com:5001')).toBe(false);
    expect(auth.supports('other.example.com:5000')).toBe(false);
  });

  test('answers username and password for its registry, nothing for another', async () => {
    const auth = new CustomRegistryAuthenticator({ registry: 'localhost:5000', username: 'ci', password: PASSWORD });
    expect(await auth.getCredentials('localhost:5000')).toEqual({ username: 'ci', password: PASSWORD, serveraddress: 'localhost:5000' });
    expect(await auth.getCredentials('localhost:5001')).toBeUndefined();
  });

  test('answers an identity token', async () => {
    const auth = new CustomRegistryAuthenticator({ registry: 'registry.example.com', identityToken: 'refresh-token-value' });
    expect(await auth.getCredentials('registry.example.com')).toEqual({ identitytoken: 'refresh-token-value', serveraddress: 'registry.example.com' });
  });

  test('Docker Hub aliases are one registry with the CLI server address', async () => {
    const auth = new CustomRegistryAuthenticator({ registry: 'index.docker.io', username: 'ci', password: PASSWORD });
    expect(auth.supports('docker.io')).toBe(true);
    expect(await auth.getCredentials('registry-1.docker.io')).toMatchObject({ serveraddress: 'https://index.docker.io/v1/' });
  });

  test('the password does not show when the authenticator is printed', () => {
    const auth = new CustomRegistryAuthenticator({ registry: 'localhost:5000', username: 'ci', password: PASSWORD });
    const printed = `${inspect(auth, { showHidden: true, depth: null })} ${JSON.stringify(auth)}`;
    for (const form of secretForms(PASSWORD)) expect(printed).not.toContain(form);
  });

  test.each<[string, unknown, string | RegExp]>([
    ['no registry', { username: 'ci', password: PASSWORD }, /Expected a registry host/],
    ['an empty registry', { registry: ' ', username: 'ci', password: PASSWORD }, /Expected a registry host/],
    ['no credentials', { registry: 'localhost:5000' }, 'Expected `username` and `password`, or `identityToken`, for registry localhost:5000; got none of them.'],
    ['a password without user', { registry: 'localhost:5000', password: PASSWORD }, "Expected `username` to be a non-empty string, got undefined (undefined)."],
    ['an empty password', { registry: 'localhost:5000', username: 'ci', password: '' }, 'Expected `password` to be a non-empty string, got (hidden) (an empty string).'],
    ['a numeric password', { registry: 'localhost:5000', username: 'ci', password: 987654321 }, 'Expected `password` to be a non-empty string, got (hidden) (number).'],
    ['both kinds', { registry: 'localhost:5000', username: 'ci', password: PASSWORD, identityToken: 'tok' }, /either `username` and `password` or `identityToken`/],
    ['an empty identity token', { registry: 'localhost:5000', identityToken: '' }, /`identityToken`.*\(hidden\)/],
    ['not an object', null, /Expected CustomRegistryAuthenticator options/],
  ])('refuses %s eagerly, with a ValidationError that hides secrets', (_label, options, message) => {
    let caught: unknown;
    try {
      new CustomRegistryAuthenticator(options as CustomRegistryAuthenticatorOptions);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    const error = caught as ValidationError;
    if (typeof message === 'string') expect(error.message).toBe(message);
    else expect(error.message).toMatch(message);
    const everything = `${error.message} ${error.stack} ${inspect(error, { showHidden: true, depth: null })} ${JSON.stringify(error)}`;
    for (const form of [...secretForms(PASSWORD), '987654321']) expect(everything).not.toContain(form);
  });
});
