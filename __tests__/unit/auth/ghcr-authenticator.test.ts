import { inspect } from 'node:util';
import { ValidationError } from '../../../src/index.js';
import { GhcrAuthenticator } from '../../../src/auth/ghcr-authenticator.js';

const TOKEN = 'ghp_S3cretTokenValue123';

describe('GhcrAuthenticator', () => {
  test('supports ghcr.io only', () => {
    const auth = new GhcrAuthenticator({ env: {} });
    expect(auth.supports('ghcr.io')).toBe(true);
    expect(auth.supports('https://GHCR.io')).toBe(true);
    expect(auth.supports('docker.io')).toBe(false);
    expect(auth.supports('ghcr.io:5000')).toBe(false);
    expect(auth.supports('')).toBe(false);
  });

  test('explicit options win over the environment', async () => {
    const auth = new GhcrAuthenticator({ username: 'octo', token: TOKEN, env: { GITHUB_ACTOR: 'bot', GITHUB_TOKEN: 'other' } });
    expect(await auth.getCredentials('ghcr.io')).toEqual({ username: 'octo', password: TOKEN, serveraddress: 'ghcr.io' });
  });

  test.each([
    [{ GITHUB_USERNAME: 'u1', GITHUB_ACTOR: 'u2', GITHUB_PAT: 'p1', CR_PAT: 'p2', GITHUB_TOKEN: 'p3' }, 'u1', 'p1'],
    [{ GITHUB_ACTOR: 'u2', CR_PAT: 'p2', GITHUB_TOKEN: 'p3' }, 'u2', 'p2'],
    [{ GITHUB_USERNAME: '', GITHUB_ACTOR: 'u2', GITHUB_PAT: '', GITHUB_TOKEN: 'p3' }, 'u2', 'p3'],
  ])('environment defaults in order of precedence (%p)', async (env, username, password) => {
    expect(await new GhcrAuthenticator({ env }).getCredentials('ghcr.io')).toEqual({ username, password, serveraddress: 'ghcr.io' });
  });

  test.each([[{ GITHUB_ACTOR: 'bot' }], [{ GITHUB_TOKEN: TOKEN }], [{}]])('undefined when the user or the token is missing (%p)', async (env) => {
    expect(await new GhcrAuthenticator({ env }).getCredentials('ghcr.io')).toBeUndefined();
  });

  test('reads process.env when credentials are asked for, not when constructed', async () => {
    const names = ['GITHUB_USERNAME', 'GITHUB_ACTOR', 'GITHUB_PAT', 'CR_PAT', 'GITHUB_TOKEN'];
    const saved = new Map(names.map((name) => [name, process.env[name]]));
    for (const name of names) delete process.env[name];
    try {
      const auth = new GhcrAuthenticator();
      expect(await auth.getCredentials('ghcr.io')).toBeUndefined();
      process.env.GITHUB_ACTOR = 'late';
      process.env.GITHUB_TOKEN = TOKEN;
      expect(await auth.getCredentials('ghcr.io')).toEqual({ username: 'late', password: TOKEN, serveraddress: 'ghcr.io' });
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('never hands its token to another registry', async () => {
    expect(await new GhcrAuthenticator({ username: 'octo', token: TOKEN }).getCredentials('docker.io')).toBeUndefined();
  });

  test('the token does not show when the authenticator is printed', () => {
    const auth = new GhcrAuthenticator({ username: 'octo', token: TOKEN });
    expect(inspect(auth, { showHidden: true, depth: null })).not.toContain(TOKEN);
    expect(JSON.stringify(auth)).not.toContain(TOKEN);
  });

  test('a bad token is refused eagerly without echoing it', () => {
    const attempt = () => new GhcrAuthenticator({ token: 42 as unknown as string });
    expect(attempt).toThrow(ValidationError);
    expect(attempt).toThrow('Expected `token` to be a non-empty string or left out, got (hidden) (number).');
    expect(() => new GhcrAuthenticator({ username: '' })).toThrow("Expected `username` to be a non-empty string or left out, got '' (string).");
  });
});
