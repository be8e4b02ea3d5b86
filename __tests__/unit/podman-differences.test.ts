/**
 * Podman's differences from the Docker API, handled in the runtime layer: archives put at a path are split at
 * the container's mounts, archives Podman makes of a mount's root get Docker's entry names, and the start
 * refusals that are the job's own fault are told from engine failures. The conformance suite runs the same
 * behaviour against a real Podman; these pin the translations themselves on real tar streams.
 */
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { packTemplates } from '../../src/archive/pack-templates.js';
import { dockerArchiveNames, splitArchiveByMounts } from '../../src/runtime/podman-archives.js';
import { podmanStartRefusal } from '../../src/runtime/podman-start-refusal.js';

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
