/**
 * Podman's differences from the Docker API, handled in the runtime layer: archives put at a path are split at
 * the container's mounts, archives Podman makes of a mount's root get Docker's entry names, and the start
 * refusals that are the job's own fault are told from engine failures, as are a plain-HTTP registry's answers to
 * Podman's login and pulls. The conformance suite and podman-engine.test.ts run the same behaviour against a real
 * Podman; these pin the translations themselves on real tar streams and Podman 4.3's own messages.
 */
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { packTemplates } from '../../src/archive/pack-templates.js';
import { dockerArchiveNames, splitArchiveByMounts } from '../../src/runtime/podman-archives.js';
import { podmanStartRefusal } from '../../src/runtime/podman-start-refusal.js';
import { loginVerdict } from '../../src/runtime/login-verdict.js';
import { pullFailure } from '../../src/runtime/pull-failure.js';
import { oneAtATime } from '../../src/util/one-at-a-time.js';
import { ImagePullError, RegistryAuthError } from '../../src/index.js';

interface Entry {
  name: string;
  type: string;
  uid: number;
  content: string;
}

async function entriesOf(archive: Readable): Promise<Entry[]> {
  const extract = tarStream.extract();
  const entries: Entry[] = [];
  extract.on('entry', (header, stream, next) => {
    let content = '';
    stream.on('data', (chunk: unknown) => (content += String(chunk)));
    stream.on('end', () => {
      entries.push({ name: header.name, type: header.type ?? 'file', uid: header.uid ?? 0, content });
      next();
    });
  });
  await new Promise<void>((resolve, reject) => {
    extract.once('finish', resolve);
    extract.once('error', reject);
    archive.once('error', reject);
    archive.pipe(extract);
  });
  return entries;
}

function archiveOf(entries: ReadonlyArray<{ name: string; content?: string; type?: 'directory' }>): Readable {
  const pack = tarStream.pack();
  for (const entry of entries) {
    if (entry.type === 'directory') pack.entry({ name: entry.name, type: 'directory', mode: 0o755 });
    else pack.entry({ name: entry.name, mode: 0o644 }, entry.content ?? '');
  }
  pack.finalize();
  return pack as unknown as Readable;
}

describe('an archive put at / is split at the container\'s mounts', () => {
  test('each entry goes to the deepest mount holding it, named relative to it; the rest stays at the root', async () => {
    const templates = packTemplates(
      [
        { kind: 'content', content: Buffer.from('conf\n'), target: '/etc/sim/conf.txt', mode: 0o644 },
        { kind: 'content', content: Buffer.from('seed\n'), target: '/mnt/data/in/seed.txt', mode: 0o644 },
        { kind: 'content', content: Buffer.from('deep\n'), target: '/mnt/data/cache/x.bin', mode: 0o644 },
      ],
      { uid: 1000, gid: 1000 },
      [{ path: '/mnt/data', mode: 0o755 }, { path: '/mnt/data/in', mode: 0o755 }],
    );
    const { parts, done } = splitArchiveByMounts(templates, '/', ['/mnt/data', '/mnt/data/cache', '/var/other']);
    const [byPath] = await Promise.all([Promise.all(parts.map(async (part) => [part.path, await entriesOf(part.tar)] as const)), done]);
    const names = Object.fromEntries(byPath.map(([where, entries]) => [where, entries.map((e) => `${e.name} ${e.uid}${e.content ? ` ${e.content.trim()}` : ''}`)]));
    expect(names).toEqual({
      // The mount's own folder is made in the image and its owner applied at the mount's root.
      '/': ['mnt/data 1000', 'etc/sim/conf.txt 1000 conf'],
      '/mnt/data': ['./ 1000', 'in 1000', 'in/seed.txt 1000 seed'],
      '/mnt/data/cache': ['x.bin 1000 deep'],
      '/var/other': [],
    });
  });

  test('a broken source rejects `done` and every part, instead of hanging', async () => {
    const source = new Readable({ read() {} });
    const { parts, done } = splitArchiveByMounts(source, '/', ['/mnt/data']);
    const reads = parts.map((part) => entriesOf(part.tar));
    source.destroy(new Error('disk went away'));
    await expect(done).rejects.toThrow('disk went away');
    for (const read of reads) await expect(read).rejects.toThrow();
  });
});

describe('archives Podman makes of a mount\'s root get the names Docker gives', () => {
  test('`/` and `/file` become `data/` and `data/file`; other archives pass unchanged', async () => {
    const podmanShaped = archiveOf([{ name: '/', type: 'directory' }, { name: '/out.txt', content: 'result' }, { name: '/sub/a.txt', content: 'a' }]);
    expect((await entriesOf(dockerArchiveNames(podmanShaped, '/mnt/data'))).map((e) => e.name)).toEqual(['data/', 'data/out.txt', 'data/sub/a.txt']);
    const dockerShaped = archiveOf([{ name: 'res/', type: 'directory' }, { name: 'res/a.txt', content: 'a' }]);
    expect((await entriesOf(dockerArchiveNames(dockerShaped, '/res/'))).map((e) => e.name)).toEqual(['res/', 'res/a.txt']);
  });
});

describe('a process Podman refuses to start is the job\'s fault only when the reason is the job\'s', () => {
  test.each([
    ['unable to find user nosuchuser: no matching entries in passwd file', 126],
    ['runc: runc create failed: unable to start container process: exec: "/nonexistent": stat /nonexistent: no such file or directory: OCI runtime attempted to invoke a command that was not found', 127],
    ['preparing container 8c28 for attach: unable to find user nosuchuser: no matching entries in passwd file', 126],
    ['runc: runc create failed: unable to start container process: chdir to cwd ("/nope") set in config.json failed: not a directory: OCI runtime error', 126],
  ])('%s → exit code %i', (message, exitCode) => {
    expect(podmanStartRefusal(message)).toEqual({ exitCode, reason: message });
  });

  test.each([
    'creating container storage: the container name "x" is already in use',
    'netavark: code: 1, msg: iptables: No chain/target/match by that name',
    'crun: error setting rlimit type 7: Operation not permitted: OCI runtime error',
    'runc: runc create failed: unable to start container process: error during container init: error setting rlimit type 7: operation not permitted: OCI runtime error',
  ])('%s → an engine failure', (message) => {
    expect(podmanStartRefusal(message)).toBeUndefined();
  });
});

describe('a plain-HTTP registry: Podman\'s login has no verdict, its pull has one', () => {
  const https = 'login attempt to 127.0.0.1:44013 failed with status: pinging container registry 127.0.0.1:44013: Get "https://127.0.0.1:44013/v2/": http: server gave HTTP response to HTTPS client';

  test('the login could not ask (HTTPS only): no verdict on Podman, an engine failure on Docker, never a refusal for the port\'s digits', () => {
    expect(loginVerdict(500, https, true)).toBe('no-verdict');
    expect(loginVerdict(500, https, false)).toBeUndefined();
    expect(loginVerdict(500, 'login attempt to 127.0.0.1:44013 failed with status: 401 Unauthorized', true)).toBe('refused');
    expect(loginVerdict(500, 'login attempt to http://127.0.0.1:40301/v2/ failed with status: 403 Forbidden', false)).toBe('refused');
    expect(loginVerdict(401, 'unauthorized: incorrect username or password', false)).toBe('refused');
    expect(loginVerdict(500, 'login attempt to 127.0.0.1:44013 failed with status: dial tcp 127.0.0.1:44013: connect: connection refused', false)).toBeUndefined();
  });

  test("Podman's pull refusing the credentials is a RegistryAuthError; a missing repository or any failure on Docker an ImagePullError", () => {
    const credentials = { username: 'u', password: 'p', serveraddress: '127.0.0.1:44013' };
    const refused = 'initializing source docker://127.0.0.1:44013/dsim/mc:1: reading manifest 1 in 127.0.0.1:44013/dsim/mc: unauthorized: authentication required';
    const auth = pullFailure('127.0.0.1:44013/dsim/mc:1', refused, { isPodman: true, credentials });
    expect(auth).toBeInstanceOf(RegistryAuthError);
    expect(auth).toMatchObject({ registry: '127.0.0.1:44013' });
    expect(pullFailure('127.0.0.1:44013/dsim/mc:1', refused, { isPodman: false, credentials })).toBeInstanceOf(ImagePullError);
    const missing = 'initializing source docker://127.0.0.1:44013/dsim/none:1: reading manifest 1 in 127.0.0.1:44013/dsim/none: manifest unknown: manifest unknown';
    expect(pullFailure('127.0.0.1:44013/dsim/none:1', missing, { isPodman: true, credentials })).toBeInstanceOf(ImagePullError);
  });

  test('a plain-HTTP registry Podman was not told about: the message names the registries.conf entry it needs', () => {
    const failure = 'initializing source docker://127.0.0.2:5000/dsim/mc:1: pinging container registry 127.0.0.2:5000: Get "https://127.0.0.2:5000/v2/": http: server gave HTTP response to HTTPS client';
    const error = pullFailure('127.0.0.2:5000/dsim/mc:1', failure, { isPodman: true });
    expect(error).toBeInstanceOf(ImagePullError);
    expect(error.message).toContain('[[registry]] location = "127.0.0.2:5000" insecure = true');
    expect(pullFailure('127.0.0.2:5000/dsim/mc:1', failure, { isPodman: false }).message).toBe(`Cannot pull image 127.0.0.2:5000/dsim/mc:1: ${failure}`);
  });
});

describe("rootless Podman's creations go one at a time (its libsubid is not thread-safe)", () => {
  test('a task starts only when the one before it settled, in the order given; a rejection stops only its own call', async () => {
    const gate = oneAtATime();
    const log: string[] = [];
    const releases: Array<() => void> = [];
    const task = (name: string, fails = false) => () =>
      new Promise<string>((resolve, reject) => {
        log.push(`start ${name}`);
        releases.push(() => (fails ? reject(new Error(`${name} failed`)) : resolve(name)));
      });
    const calls = [gate(task('a', true)), gate(task('b')), gate(task('c'))];
    const settled = Promise.allSettled(calls);
    const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    await tick();
    expect(log).toEqual(['start a']);
    releases[0]?.();
    await tick();
    expect(log).toEqual(['start a', 'start b']);
    releases[1]?.();
    await tick();
    releases[2]?.();
    expect((await settled).map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['a failed', 'b', 'c']);
  });
});
