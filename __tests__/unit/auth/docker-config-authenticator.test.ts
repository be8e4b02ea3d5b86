import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ValidationError } from '../../../src/index.js';
import { DockerConfigAuthenticator, type DockerConfigAuthenticatorOptions } from '../../../src/auth/docker-config-authenticator.js';

const PASSWORD = 'pa55-S3cret-value';
const HELPER_SECRET = 'helper-S3cret-value';

let work: string;
let configDir: string;
let binDir: string;
let debug: string[];

beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'dsim-docker-config-'));
  configDir = path.join(work, 'config');
  binDir = path.join(work, 'bin');
  await mkdir(configDir);
  await mkdir(binDir);
  debug = [];
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

function basic(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

async function writeConfig(config: unknown): Promise<void> {
  await writeFile(path.join(configDir, 'config.json'), JSON.stringify(config));
}

/** Writes `docker-credential-<name>` into the PATH folder of the tests. */
async function writeHelper(name: string, script: string): Promise<void> {
  const file = path.join(binDir, `docker-credential-${name}`);
  await writeFile(file, `#!/bin/sh\n${script}\n`);
  await chmod(file, 0o755);
}

/** A helper that echoes the server URL it was asked for as the user name (proves what the CLI would send). */
const ECHO_HELPER = `[ "$1" = get ] || exit 3\nurl=$(cat)\nprintf '{"ServerURL":"%s","Username":"%s","Secret":"${HELPER_SECRET}"}' "$url" "$url"`;

function authenticator(options: DockerConfigAuthenticatorOptions = {}, env: NodeJS.ProcessEnv = {}): DockerConfigAuthenticator {
  return new DockerConfigAuthenticator({
    env: { PATH: `${binDir}:${process.env.PATH ?? ''}`, DOCKER_CONFIG: configDir, ...env },
    onDebug: (message) => debug.push(message),
    ...options,
  });
}

/** False once the process is gone or a zombie (its parent was killed; init reaps it whenever it likes). */
async function isRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    try {
      process.kill(pid, 0);
      return process.platform !== 'linux';
    } catch {
      return false;
    }
  }
}

function expectNoSecretInDebug(...secrets: string[]): void {
  const text = debug.join('\n');
  for (const secret of secrets) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(secret).toString('base64'));
  }
}

describe('DockerConfigAuthenticator: auths', () => {
  test('supports every registry', () => {
    const auth = authenticator();
    expect(auth.supports('ghcr.io')).toBe(true);
    expect(auth.supports('localhost:5000')).toBe(true);
  });

  test('decodes a base64 `auth` entry for the exact host and port', async () => {
    await writeConfig({ auths: { 'localhost:5000': { auth: basic('ci', PASSWORD) }, 'localhost:5001': { auth: basic('other', 'x') } } });
    expect(await authenticator().getCredentials('localhost:5000')).toEqual({ username: 'ci', password: PASSWORD, serveraddress: 'localhost:5000' });
  });

  test('a password may contain colons (split at the first)', async () => {
    await writeConfig({ auths: { 'ghcr.io': { auth: basic('ci', 'a:b:c') } } });
    expect(await authenticator().getCredentials('ghcr.io')).toMatchObject({ username: 'ci', password: 'a:b:c' });
  });

  test.each(['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'https://registry-1.docker.io/v2/'])(
    'finds Docker Hub under the key %s',
    async (key) => {
      await writeConfig({ auths: { [key]: { auth: basic('hubuser', PASSWORD) } } });
      expect(await authenticator().getCredentials('docker.io')).toEqual({
        username: 'hubuser',
        password: PASSWORD,
        serveraddress: 'https://index.docker.io/v1/',
      });
    },
  );

  test('finds a key written with a scheme (https://host)', async () => {
    await writeConfig({ auths: { 'https://registry.example.com': { auth: basic('ci', PASSWORD) } } });
    expect(await authenticator().getCredentials('registry.example.com')).toMatchObject({ username: 'ci', password: PASSWORD });
  });

  test('an identitytoken wins over auth', async () => {
    await writeConfig({ auths: { 'registry.example.com': { auth: basic('ci', PASSWORD), identitytoken: 'refresh-tok' } } });
    expect(await authenticator().getCredentials('registry.example.com')).toEqual({ identitytoken: 'refresh-tok', serveraddress: 'registry.example.com' });
  });

  test('nothing for an unknown registry, and a debug message saying so', async () => {
    await writeConfig({ auths: { 'ghcr.io': { auth: basic('ci', PASSWORD) } } });
    expect(await authenticator().getCredentials('quay.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/No credentials for quay\.io in .*config\.json/);
    expectNoSecretInDebug(PASSWORD);
  });

  test('a malformed auth entry is skipped with a debug message that does not repeat it', async () => {
    const garbage = Buffer.from(`no-colon-${PASSWORD}`).toString('base64');
    await writeConfig({ auths: { 'ghcr.io': { auth: garbage } } });
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/`auth` entry for ghcr\.io .* is not base64 of 'username:password'/);
    expect(debug.join('\n')).not.toContain(garbage);
    expectNoSecretInDebug(PASSWORD);
  });

  test('a missing config file means no credentials', async () => {
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/No Docker config read from .*config\.json \(ENOENT\)/);
  });

  test('a config file that is not JSON means no credentials, without quoting it', async () => {
    await writeFile(path.join(configDir, 'config.json'), `{ "auths": ${PASSWORD}`);
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/is not a JSON object/);
    expectNoSecretInDebug(PASSWORD);
  });

  test('configDir wins over DOCKER_CONFIG', async () => {
    const other = path.join(work, 'other');
    await mkdir(other);
    await writeFile(path.join(other, 'config.json'), JSON.stringify({ auths: { 'ghcr.io': { auth: basic('from-option', PASSWORD) } } }));
    await writeConfig({ auths: { 'ghcr.io': { auth: basic('from-env', PASSWORD) } } });
    expect(await authenticator({ configDir: other }).getCredentials('ghcr.io')).toMatchObject({ username: 'from-option' });
  });
});

describe('DockerConfigAuthenticator: DOCKER_AUTH_CONFIG', () => {
  test('takes precedence over the file', async () => {
    await writeConfig({ auths: { 'ghcr.io': { auth: basic('from-file', 'file-pass') } } });
    const env = { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'ghcr.io': { auth: basic('from-env', PASSWORD) } } }) };
    expect(await authenticator({}, env).getCredentials('ghcr.io')).toEqual({ username: 'from-env', password: PASSWORD, serveraddress: 'ghcr.io' });
  });

  test('replaces the file entirely (like the docker CLI in CI)', async () => {
    await writeConfig({ auths: { 'quay.io': { auth: basic('from-file', 'file-pass') } } });
    const env = { DOCKER_AUTH_CONFIG: JSON.stringify({ auths: { 'ghcr.io': { auth: basic('from-env', PASSWORD) } } }) };
    expect(await authenticator({}, env).getCredentials('quay.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/No credentials for quay\.io in DOCKER_AUTH_CONFIG/);
  });

  test('an invalid value is ignored (not quoted) and the file is read instead', async () => {
    await writeConfig({ auths: { 'ghcr.io': { auth: basic('from-file', 'file-pass') } } });
    const auth = authenticator({}, { DOCKER_AUTH_CONFIG: `{"auths": "${PASSWORD}` });
    expect(await auth.getCredentials('ghcr.io')).toMatchObject({ username: 'from-file' });
    expect(debug.join('\n')).toMatch(/DOCKER_AUTH_CONFIG is set but is not a JSON object/);
    expectNoSecretInDebug(PASSWORD);
  });

  test('is read from process.env at getCredentials() time by default', async () => {
    const saved = process.env.DOCKER_AUTH_CONFIG;
    try {
      const auth = new DockerConfigAuthenticator({ configDir });
      process.env.DOCKER_AUTH_CONFIG = JSON.stringify({ auths: { 'ghcr.io': { auth: basic('late', PASSWORD) } } });
      expect(await auth.getCredentials('ghcr.io')).toMatchObject({ username: 'late' });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_AUTH_CONFIG;
      else process.env.DOCKER_AUTH_CONFIG = saved;
    }
  });
});

describe('DockerConfigAuthenticator: credential helpers', () => {
  test('credHelpers[registry] runs docker-credential-<name> get with the host on stdin', async () => {
    await writeHelper('echo', ECHO_HELPER);
    await writeConfig({ credHelpers: { 'ghcr.io': 'echo' }, auths: { 'ghcr.io': { auth: basic('from-auths', PASSWORD) } } });
    expect(await authenticator().getCredentials('ghcr.io')).toEqual({ username: 'ghcr.io', password: HELPER_SECRET, serveraddress: 'ghcr.io' });
  });

  test('for Docker Hub the helper is asked for https://index.docker.io/v1/, like the docker CLI', async () => {
    await writeHelper('echo', ECHO_HELPER);
    await writeConfig({ credHelpers: { 'index.docker.io': 'echo' } });
    expect(await authenticator().getCredentials('docker.io')).toEqual({
      username: 'https://index.docker.io/v1/',
      password: HELPER_SECRET,
      serveraddress: 'https://index.docker.io/v1/',
    });
  });

  test('credHelpers wins over credsStore, credsStore over auths', async () => {
    await writeHelper('first', `cat >/dev/null; echo '{"Username":"from-cred-helpers","Secret":"s1"}'`);
    await writeHelper('store', `cat >/dev/null; echo '{"Username":"from-creds-store","Secret":"s2"}'`);
    await writeConfig({
      credHelpers: { 'ghcr.io': 'first' },
      credsStore: 'store',
      auths: { 'ghcr.io': { auth: basic('from-auths', PASSWORD) }, 'quay.io': { auth: basic('from-auths', PASSWORD) } },
    });
    expect(await authenticator().getCredentials('ghcr.io')).toMatchObject({ username: 'from-cred-helpers' });
    expect(await authenticator().getCredentials('quay.io')).toMatchObject({ username: 'from-creds-store' });
  });

  test("Username '<token>' means the secret is an identity token", async () => {
    await writeHelper('oauth', `cat >/dev/null; echo '{"ServerURL":"ghcr.io","Username":"<token>","Secret":"${HELPER_SECRET}"}'`);
    await writeConfig({ credsStore: 'oauth' });
    expect(await authenticator().getCredentials('ghcr.io')).toEqual({ identitytoken: HELPER_SECRET, serveraddress: 'ghcr.io' });
  });

  test('"credentials not found" from a helper falls through to auths', async () => {
    await writeHelper('empty', `cat >/dev/null; echo 'credentials not found in native keychain'; exit 1`);
    await writeConfig({ credsStore: 'empty', auths: { 'ghcr.io': { auth: basic('from-auths', PASSWORD) } } });
    expect(await authenticator().getCredentials('ghcr.io')).toMatchObject({ username: 'from-auths', password: PASSWORD });
    expect(debug.join('\n')).toMatch(/Credential helper 'empty' \(credsStore in .*\) has no credentials for ghcr\.io/);
  });

  test('a failing helper (exit 1) means no credentials, with a debug message that does not repeat its output', async () => {
    await writeHelper('broken', `cat >/dev/null; echo "fatal: ${HELPER_SECRET}"; echo "oops ${HELPER_SECRET}" >&2; exit 1`);
    await writeConfig({ credHelpers: { 'ghcr.io': 'broken' } });
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/Credential helper 'broken' \(credHelpers in .*\) gave no credentials for ghcr\.io: docker-credential-broken get exited with code 1/);
    expectNoSecretInDebug(HELPER_SECRET);
  });

  test('a helper printing something that is not JSON means no credentials', async () => {
    await writeHelper('garbled', `cat >/dev/null; echo "user=${HELPER_SECRET}"`);
    await writeConfig({ credsStore: 'garbled' });
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/printed something that is not JSON/);
    expectNoSecretInDebug(HELPER_SECRET);
  });

  test('a missing helper means no credentials', async () => {
    await writeConfig({ credHelpers: { 'ghcr.io': 'not-installed' }, auths: { 'ghcr.io': { auth: basic('from-auths', PASSWORD) } } });
    expect(await authenticator().getCredentials('ghcr.io')).toMatchObject({ username: 'from-auths' });
    expect(debug.join('\n')).toMatch(/docker-credential-not-installed was not found on PATH/);
  });

  test('a helper name that is a path is not run', async () => {
    await writeHelper('echo', ECHO_HELPER);
    await writeConfig({ credHelpers: { 'ghcr.io': '../bin/docker-credential-echo' } });
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/is not a plain program name/);
  });

  test('a hanging helper is killed after helperTimeoutMs, with what it started, and means no credentials', async () => {
    const pidFile = path.join(work, 'sleep.pid');
    await writeHelper('hang', `sleep 30 &\necho $! > '${pidFile}'\nwait`);
    await writeConfig({ credHelpers: { 'ghcr.io': 'hang' } });
    const started = Date.now();
    expect(await authenticator({ helperTimeoutMs: 300 }).getCredentials('ghcr.io')).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(3000);
    expect(debug.join('\n')).toMatch(/docker-credential-hang did not answer within 300 ms and was killed/);
    const sleepPid = Number((await readFile(pidFile, 'utf8')).trim());
    // SIGKILL was sent; the process is gone once the kernel delivered it: wait for that, with a generous bound.
    for (let waited = 0; waited < 5000 && (await isRunning(sleepPid)); waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await isRunning(sleepPid)).toBe(false);
  });

  test('the default helper timeout is 5 s', async () => {
    await writeHelper('hang', 'exec sleep 30');
    await writeConfig({ credsStore: 'hang' });
    const started = Date.now();
    expect(await authenticator().getCredentials('ghcr.io')).toBeUndefined();
    expect(debug.join('\n')).toMatch(/docker-credential-hang did not answer within 5000 ms and was killed/);
    // A timer never fires early; how late it fires depends on the machine's load, so the upper bound only
    // tells a kill from the helper's own end after 30 s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    expect(Date.now() - started).toBeLessThan(25_000);
  }, 40_000);
});

describe('DockerConfigAuthenticator: options', () => {
  test.each<[string, DockerConfigAuthenticatorOptions, string]>([
    ['helperTimeoutMs 0', { helperTimeoutMs: 0 }, 'Expected `helperTimeoutMs` to be an integer >= 1, got 0 (number).'],
    ['helperTimeoutMs 1.5', { helperTimeoutMs: 1.5 }, 'Expected `helperTimeoutMs` to be an integer >= 1, got 1.5 (number).'],
    ['configDir empty', { configDir: '' }, "Expected `configDir` to be a folder path, got '' (string)."],
    ['onDebug not a function', { onDebug: 'log' as unknown as () => void }, "Expected `onDebug` to be a function, got 'log' (string)."],
  ])('%s is refused eagerly', (_label, options, message) => {
    expect(() => new DockerConfigAuthenticator(options)).toThrow(ValidationError);
    expect(() => new DockerConfigAuthenticator(options)).toThrow(message);
  });

  test('a throwing onDebug does not break the lookup', async () => {
    await writeConfig({ auths: { 'ghcr.io': { auth: basic('ci', PASSWORD) } } });
    const auth = new DockerConfigAuthenticator({
      env: { DOCKER_CONFIG: configDir },
      onDebug: () => {
        throw new Error('listener bug');
      },
    });
    expect(await auth.getCredentials('quay.io')).toBeUndefined();
    expect(await auth.getCredentials('ghcr.io')).toMatchObject({ username: 'ci' });
  });
});
