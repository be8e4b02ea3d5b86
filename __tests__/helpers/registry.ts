import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { CustomRegistryAuthenticator, DockerSimManager, type DockerSimManagerOptions, type RunSummary } from '../../src/index.js';
import { registryAuthHeader } from '../../src/runtime/dockerode-runtime.js';
import { docker } from './engine.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const INSTALL_HINT = 'Install the Debian packages: `apt-get install -y docker-registry apache2-utils`.';

/** A CNCF distribution registry with htpasswd auth, running on 127.0.0.1 for one test file. */
export interface TestRegistry {
  /** `127.0.0.1:<port>`: the registry part of image references and the `serveraddress` of credentials. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly username: string;
  readonly password: string;
  /** The end of the registry's own log, for failure messages. */
  log(): string;
  /** Kills the registry and removes its storage. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** @default 'dsim' */
  username?: string;
  /** @default a random password */
  password?: string;
  /** @default 15000 */
  startTimeoutMs?: number;
  /**
   * The loopback address to listen on. Docker talks plain HTTP to all of 127.0.0.0/8; Podman only to what
   * registries.conf marks insecure (scripts/podman-service.sh marks 127.0.0.1), so another address is a registry
   * Podman was not told about.
   * @default '127.0.0.1'
   */
  address?: string;
}

/**
 * Starts a real registry (Debian's `docker-registry`, the CNCF distribution registry) with htpasswd auth on
 * 127.0.0.1 (or `address`) and a free port, storing into a temporary folder. Resolves once `GET /v2/` answers 401
 * (auth is on). Docker talks plain HTTP to registries on 127.0.0.0/8, so nothing needs configuring there; Podman
 * needs the registry marked insecure in registries.conf (scripts/podman-service.sh does it for 127.0.0.1).
 *
 * @example
 * ```ts
 * const registry = await startRegistry();
 * afterAll(() => registry.stop());
 * ```
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const registryBinary = await findOnPath('docker-registry');
  const htpasswdBinary = await findOnPath('htpasswd');
  if (!registryBinary || !htpasswdBinary) {
    const missing = [!registryBinary && '`docker-registry`', !htpasswdBinary && '`htpasswd`'].filter(Boolean).join(' and ');
    throw new Error(`The registry tests need ${missing} on PATH, which is not there. ${INSTALL_HINT}`);
  }
  const username = options.username ?? 'dsim';
  const address = options.address ?? '127.0.0.1';
  const password = options.password ?? `pw-${randomBytes(12).toString('hex')}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-registry-'));
  try {
    const { stdout } = await run(htpasswdBinary, ['-Bbn', username, password]);
    await writeFile(path.join(dir, 'htpasswd'), `${stdout.trim()}\n`, { mode: 0o600 });
    // A free port can be taken between finding and binding it: try a few.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const port = await freePort(address);
      const configFile = path.join(dir, `config-${port}.yml`);
      await writeFile(configFile, registryConfig(dir, address, port));
      const started = await launch(registryBinary, configFile, address, port, options.startTimeoutMs ?? 15_000).catch((error: unknown) => {
        lastError = error;
        return undefined;
      });
      if (!started) continue;
      const host = `${address}:${port}`;
      let isStopped = false;
      return {
        host,
        url: `http://${host}`,
        username,
        password,
        log: started.log,
        stop: async () => {
          if (isStopped) return;
          isStopped = true;
          await terminate(started.child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    }
    throw lastError;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Tags a local image as `<registryHost>/<repo>` and pushes it with the given credentials through dockerode,
 * checking every line of the push stream for an error (the engine reports failures inside a 200 stream). The
 * tag is removed again afterwards unless `keepLocalTag`, so a later pull must really go to the registry.
 * Resolves with the pushed reference (`127.0.0.1:41234/sim:1`).
 *
 * @example
 * ```ts
 * const reference = await pushImage(MONTE_CARLO, registry.host, 'dsim/monte-carlo:1', registry);
 * ```
 */
export async function pushImage(
  localTag: string,
  registryHost: string,
  repo: string,
  credentials: { username: string; password: string },
  options: { keepLocalTag?: boolean } = {},
): Promise<string> {
  const lastSlash = repo.lastIndexOf('/');
  const colon = repo.indexOf(':', lastSlash + 1);
  const name = `${registryHost}/${colon === -1 ? repo : repo.slice(0, colon)}`;
  const tag = colon === -1 ? 'latest' : repo.slice(colon + 1);
  const reference = `${name}:${tag}`;
  await docker.getImage(localTag).tag({ repo: name, tag });
  try {
    const stream = (await docker.getImage(name).push({
      tag,
      authconfig: { username: credentials.username, password: credentials.password, serveraddress: registryHost },
    })) as NodeJS.ReadableStream;
    await followPushStream(stream, reference);
  } finally {
    if (!options.keepLocalTag) await docker.getImage(reference).remove({ noprune: true }).catch(() => undefined);
  }
  return reference;
}

/**
 * Runs four Monte Carlo jobs of `image` with `pullPolicy: 'always'` and a CustomRegistryAuthenticator holding the
 * registry's credentials, in this process; resolves with the summary and what the pull reported on the way.
 */
export async function runPullingSweep(options: { image: string; registry: TestRegistry; dataDirectory: string; maxWorkers: number; docker?: DockerSimManagerOptions['docker'] }): Promise<{ summary: RunSummary; progress: string[]; ready: boolean[] }> {
  const { registry } = options;
  const auth = new CustomRegistryAuthenticator({ registry: registry.host, username: registry.username, password: registry.password });
  const manager = new DockerSimManager({ image: options.image, pullPolicy: 'always', dataDirectory: options.dataDirectory, maxWorkers: options.maxWorkers, auth, ...(options.docker ? { docker: options.docker } : {}) });
  for (let i = 1; i <= 4; i++) manager.addSimJob({ name: `R${i}`, command: `-o /mnt/data -r ${i} -i 50` });
  const progress: string[] = [];
  const ready: boolean[] = [];
  manager.on('image:pull-progress', ({ status }) => progress.push(status));
  manager.on('image:ready', ({ wasPulled }) => ready.push(wasPulled));
  return { summary: await manager.startComputation(), progress, ready };
}

/** The registry's own digest of a tag (what `docker pull` would pin to). */
export async function registryDigest(registry: TestRegistry, repo: string, tag: string): Promise<string> {
  const response = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      authorization: `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`,
      accept: 'application/vnd.docker.distribution.manifest.v2+json',
    },
  });
  return response.headers.get('docker-content-digest') ?? '';
}

/**
 * Every form a registry password can take on the wire or in a log: itself, base64 of it and of `user:password`,
 * the X-Registry-Auth JSON in base64 and base64url, and the package's own header value.
 */
export function secretForms(registry: TestRegistry, password = registry.password): string[] {
  const { username } = registry;
  const authJson = JSON.stringify({ username, password, serveraddress: registry.host });
  return [
    password,
    Buffer.from(password).toString('base64'),
    Buffer.from(`${username}:${password}`).toString('base64'),
    Buffer.from(authJson).toString('base64'),
    Buffer.from(authJson).toString('base64url'),
    registryAuthHeader({ username, password, serveraddress: registry.host }),
  ];
}

/** What {@link runAuthenticatedSweep} printed, how it exited, and the text of every file its run wrote. */
export interface AuthenticatedSweepRun {
  code: number | null;
  stdout: string;
  stderr: string;
  files: string[];
}

/**
 * Runs a two-job sweep of `image` (`-o /mnt/data -r 1 -i 20`, the monte-carlo-pi image's arguments) with
 * `pullPolicy: 'always'` and a CustomRegistryAuthenticator in its own process under DEBUG=* (the engine client
 * then prints every request it makes). It prints every event, then `{ summary }` or `{ error }`, as JSON lines;
 * its outputs go to `<dir>/out`. `socketPath` points it at another engine the way a user would
 * (`docker: { socketPath }`).
 */
export async function runAuthenticatedSweep(options: {
  image: string;
  registry: TestRegistry;
  dir: string;
  /** @default registry.password */
  password?: string;
  /** @default DOCKER_HOST, else the local socket */
  socketPath?: string;
}): Promise<AuthenticatedSweepRun> {
  const script = path.join(options.dir, 'sweep.mts');
  const out = path.join(options.dir, 'out');
  await writeFile(
    script,
    `import { CustomRegistryAuthenticator, DockerSimManager } from ${JSON.stringify(path.join(ROOT, 'src/index.ts'))};
const [image, host, username, password, dataDirectory, socketPath] = process.argv.slice(2);
const manager = new DockerSimManager({
  image, pullPolicy: 'always', dataDirectory, auth: new CustomRegistryAuthenticator({ registry: host, username, password }),
  ...(socketPath ? { docker: { socketPath } } : {}),
});
for (const name of ['S1', 'S2']) manager.addSimJob({ name, command: '-o /mnt/data -r 1 -i 20', env: { NOTE: 'secret-scan' } });
for (const event of ['run:started', 'image:pull-progress', 'image:ready', 'job:queued', 'job:started', 'job:log', 'job:succeeded', 'job:failed', 'run:finished']) {
  manager.on(event as 'job:log', (payload) => console.log(JSON.stringify({ event, payload })));
}
try {
  const summary = await manager.startComputation();
  console.log(JSON.stringify({ summary }));
} catch (error) {
  const { name, code, registry, message, stack } = error as Error & { code?: string; registry?: string };
  console.log(JSON.stringify({ error: { name, code, registry, message, stack } }));
  process.exitCode = 1;
}
`,
  );
  const args = [script, options.image, options.registry.host, options.registry.username, options.password ?? options.registry.password, out, options.socketPath ?? ''];
  const { code, stdout, stderr } = await run(path.join(ROOT, 'node_modules/.bin/tsx'), args, {
    cwd: ROOT,
    env: { ...process.env, DEBUG: '*' },
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    (done) => ({ code: 0, stdout: done.stdout, stderr: done.stderr }),
    (failed: { code?: number; stdout?: string; stderr?: string }) => ({ code: failed.code ?? null, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' }),
  );
  const files = await Promise.all((await filesUnder(out)).map((file) => readFile(file, 'utf8')));
  return { code, stdout, stderr, files };
}

/** Every regular file under `dir` (none when it does not exist). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** Reads a push progress stream to its end; rejects on the first `{error}` line (or a stream error). */
function followPushStream(stream: NodeJS.ReadableStream, reference: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let failure: string | undefined;
    const inspectLine = (line: string): void => {
      if (line.trim() === '' || failure !== undefined) return;
      try {
        const event = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        if (event.error !== undefined || event.errorDetail !== undefined) failure = event.errorDetail?.message ?? event.error ?? 'unknown error';
      } catch {
        failure = `the engine sent a line that is not JSON (${line.length} characters)`;
      }
    };
    stream.on('data', (chunk: Buffer | string) => {
      pending += chunk.toString();
      const lines = pending.split(/\r?\n/);
      pending = lines.pop() ?? '';
      lines.forEach(inspectLine);
    });
    stream.on('error', (error: Error) => reject(new Error(`Pushing ${reference} failed: ${error.message}`, { cause: error })));
    stream.on('end', () => {
      inspectLine(pending);
      if (failure !== undefined) reject(new Error(`Pushing ${reference} failed: ${failure}`));
      else resolve();
    });
  });
}

function registryConfig(dir: string, address: string, port: number): string {
  const q = (value: string): string => JSON.stringify(value); // a JSON string is a YAML string
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(path.join(dir, 'data'))}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${q(`${address}:${port}`)}`,
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    'auth:',
    '  htpasswd:',
    '    realm: docker-sim-manager-test',
    `    path: ${q(path.join(dir, 'htpasswd'))}`,
    '',
  ].join('\n');
}

async function launch(
  binary: string,
  configFile: string,
  address: string,
  port: number,
  timeoutMs: number,
): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(binary, ['serve', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: string | undefined;
  child.on('exit', (code, signal) => {
    exit = signal ? `was killed by ${signal}` : `exited with code ${code}`;
  });
  child.on('error', (error) => {
    exit = `could not start (${error.message})`;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exit !== undefined) throw new Error(`docker-registry on ${address}:${port} ${exit}. Its log:\n${output}`);
    if ((await statusOf(`http://${address}:${port}/v2/`)) === 401) return { child, log: () => output };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await terminate(child);
  throw new Error(`docker-registry on ${address}:${port} did not answer GET /v2/ with 401 within ${timeoutMs} ms. Its log:\n${output}`);
}

function statusOf(url: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode);
    });
    request.on('timeout', () => request.destroy());
    request.on('error', () => resolve(undefined));
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, address, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function findOnPath(program: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/sbin', '/usr/bin')) {
    if (dir === '') continue;
    const candidate = path.join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
