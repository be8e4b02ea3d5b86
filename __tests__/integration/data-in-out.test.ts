import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, readFile, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ArchiveError, DockerSimManager } from '../../src/index.js';
import { SHELL_IMAGE, describeEngine, docker, tempDir, useEngineSuite } from '../helpers/engine.js';

async function volumeCount(): Promise<number> {
  return (await docker.listVolumes()).Volumes?.length ?? 0;
}

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every path below `root` (relative), links not followed. */
async function walk(root: string, base = root): Promise<Array<{ path: string; isSymlink: boolean; mode: number }>> {
  const out: Array<{ path: string; isSymlink: boolean; mode: number }> = [];
  for (const name of await readdir(root)) {
    const full = path.join(root, name);
    const info = await lstat(full);
    out.push({ path: path.relative(base, full), isSymlink: info.isSymbolicLink(), mode: info.mode & 0o7777 });
    if (info.isDirectory()) out.push(...(await walk(full, base)));
  }
  return out;
}

describeEngine('data in and out of containers', () => {
  const data = useEngineSuite({ expectNoLeftovers: true });

  test('copy mode: templates in, outputs, collected paths and split logs out; container and volume gone', async () => {
    const volumesBefore = await volumeCount();
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'out'), defaults: { outputMode: 'copy', user: '1000:1000' } });
    manager.addSimJob({
      name: 'copy',
      templates: [{ content: 'alpha=1\n', target: '/mnt/data/config.txt' }, { content: 'beta\n', target: '/sim/other.txt' }],
      collect: ['/tmp/extra', '/sim/other.txt', '/does/not/exist'],
      command: [
        'id -u; cat /mnt/data/config.txt >&2; mkdir -p /mnt/data/sub /tmp/extra && echo result > /mnt/data/sub/r.txt && echo more > /tmp/extra/m.txt',
      ],
    });
    const summary = await manager.startComputation();
    const [result] = summary.results;
    expect(result).toMatchObject({ status: 'succeeded', outputMode: 'copy' });
    const out = path.join(data.dir, 'out', 'job_copy');
    expect(await readFile(path.join(out, 'config.txt'), 'utf8')).toBe('alpha=1\n');
    expect(await readFile(path.join(out, 'sub', 'r.txt'), 'utf8')).toBe('result\n');
    expect(await readFile(path.join(out, 'extra', 'm.txt'), 'utf8')).toBe('more\n');
    expect(await readFile(path.join(out, 'other.txt'), 'utf8')).toBe('beta\n');
    expect(await readFile(path.join(out, 'stdout.log'), 'utf8')).toBe('1000\n'); // ran as the requested user
    expect(await readFile(path.join(out, 'stderr.log'), 'utf8')).toBe('alpha=1\n');
    expect(await readFile(path.join(out, 'log.txt'), 'utf8')).toMatch(/1000\n|alpha=1\n/);
    expect(result?.skippedEntries).toEqual([{ path: '/does/not/exist', type: 'missing', reason: 'not found in the container' }]);
    expect(await volumeCount()).toBe(volumesBefore);
    expect(await readdir(path.join(data.dir, 'out', '.docker-sim-manager', 'staging'))).toEqual([]);
  });

  test('a hostile container cannot write outside its job folder, and what was refused is listed', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'out'), defaults: { outputMode: 'copy', user: '0:0' } });
    const skippedEvents: string[] = [];
    manager.on('job:output-skipped', ({ job, entries }) => skippedEvents.push(`${job.name}:${entries.length}`));
    manager.addSimJob({
      name: 'hostile',
      entrypoint: ['/bin/sh', '-c'],
      command: [
        [
          'cd /mnt/data',
          'echo ok > ok.txt',
          'ln -s /etc etc-link',
          'mkdir d && ln -s .. d/up && ln -s d/up/.. esc',
          'echo data > original && ln original hardlink',
          'mkfifo pipe',
          'echo x > setuid && chmod 4777 setuid',
          'mkdir wide && chmod 0777 wide',
        ].join(' && '),
      ],
    });
    const summary = await manager.startComputation();
    const [result] = summary.results;
    expect(result?.status).toBe('succeeded');
    const files = await walk(path.join(data.dir, 'out'));
    expect(files.filter((f) => f.isSymlink)).toEqual([]);
    const jobFiles = files.filter((f) => f.path.startsWith('job_hostile/')).map((f) => f.path.replace('job_hostile/', ''));
    // Of two hard-linked names the archive carries the first as a file and the second as a link (refused).
    const linkName = jobFiles.includes('original') ? 'hardlink' : 'original';
    expect(jobFiles.sort()).toEqual(['d', 'log.txt', 'ok.txt', linkName === 'hardlink' ? 'original' : 'hardlink', 'setuid', 'stderr.log', 'stdout.log', 'wide'].sort());
    for (const file of files) expect(file.mode & 0o7022).toBe(0); // no setuid/setgid/sticky, not group/world-writable
    const refused = result!.skippedEntries.map((e) => `${e.type} ${e.path}`).sort();
    expect(refused).toEqual([
      'fifo /mnt/data/pipe',
      `link /mnt/data/${linkName}`,
      'symlink /mnt/data/d/up',
      'symlink /mnt/data/esc',
      'symlink /mnt/data/etc-link',
    ]);
    expect(skippedEvents).toEqual(['hostile:5']);
    // Nothing appeared next to the job folder.
    expect((await readdir(path.join(data.dir, 'out'))).sort()).toEqual(['.docker-sim-manager', 'job_hostile']);
  });

  test('maxOutputBytes exceeded: the job fails with ArchiveError and no partial output remains', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: data.dir, defaults: { outputMode: 'copy', maxOutputBytes: 1024 * 1024 } });
    manager.addSimJob({ name: 'big', command: ['head -c 700000 /dev/zero > /mnt/data/a.bin && head -c 700000 /dev/zero > /mnt/data/b.bin'] });
    const summary = await manager.startComputation();
    const [result] = summary.results;
    expect(result).toMatchObject({ status: 'failed', exitCode: 0 });
    expect(result?.error).toBeInstanceOf(ArchiveError);
    expect(result?.error?.message).toMatch(/more than maxOutputBytes \(1048576 bytes\)/);
    expect((await readdir(path.join(data.dir, 'job_big'))).sort()).toEqual(['log.txt', 'stderr.log', 'stdout.log']);
    expect(await readdir(path.join(data.dir, '.docker-sim-manager', 'staging'))).toEqual([]);
  });

  test('maxLogBytes caps a runaway log with one marker line and one event', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: data.dir, defaults: { maxLogBytes: 10_000 } });
    manager.addSimJob({ name: 'noisy', command: ['yes spam | head -c 200000'] });
    const truncated: number[] = [];
    manager.on('job:log-truncated', ({ limitBytes }) => truncated.push(limitBytes));
    const summary = await manager.startComputation();
    expect(summary.results[0]?.status).toBe('succeeded');
    const log = await readFile(path.join(data.dir, 'job_noisy', 'log.txt'), 'utf8');
    expect(log.startsWith('spam\n'.repeat(2000))).toBe(true);
    expect(log.match(/output truncated/g)).toHaveLength(1);
    expect(log.length).toBeLessThan(10_200);
    expect(truncated).toEqual([10_000]);
  });

  test("a template folder's link to a host secret never brings the secret into the container", async () => {
    const secretDir = await tempDir('dsim-secret-');
    try {
      await writeFile(path.join(secretDir.dir, 'secret.txt'), 'TOP-SECRET-VALUE');
      const templateDir = path.join(data.dir, 'template');
      await mkdir(templateDir);
      await writeFile(path.join(templateDir, 'input.txt'), 'visible');
      await symlink(path.join(secretDir.dir, 'secret.txt'), path.join(templateDir, 'secret-link'));
      const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: path.join(data.dir, 'out') });
      manager.addSimJob({
        name: 'leak',
        templates: [{ source: templateDir, target: '/sim/template' }],
        command: ['cat /sim/template/input.txt; cat /sim/template/secret-link; grep -r TOP-SECRET /sim /mnt/data /tmp 2>/dev/null; true'],
      });
      const summary = await manager.startComputation();
      expect(summary.results[0]?.status).toBe('succeeded');
      const log = await readFile(path.join(data.dir, 'out', 'job_leak', 'log.txt'), 'utf8');
      expect(log).toContain('visible');
      expect(log).not.toContain('TOP-SECRET-VALUE');
    } finally {
      await secretDir.cleanup();
    }
  });

  test('300 MB on stdout and a 300 MB output file in copy mode arrive complete, and the manager does not buffer them', async () => {
    const manager = new DockerSimManager({ image: SHELL_IMAGE, dataDirectory: data.dir, defaults: { outputMode: 'copy' } });
    manager.addSimJob({
      name: 'huge',
      command: [
        'head -c 314572800 /dev/urandom > /mnt/data/big.bin && sha256sum /mnt/data/big.bin | cut -d" " -f1 > /mnt/data/big.sha256 && ' +
          'head -c 314572800 /dev/urandom | tee /tmp/stdout.bin && sha256sum /tmp/stdout.bin | cut -d" " -f1 > /mnt/data/stdout.sha256',
      ],
    });
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    try {
      const summary = await manager.startComputation();
      expect(summary.results[0]?.status).toBe('succeeded');
    } finally {
      clearInterval(sampler);
    }
    const out = path.join(data.dir, 'job_huge');
    expect((await stat(path.join(out, 'big.bin'))).size).toBe(314_572_800);
    expect(await sha256(path.join(out, 'big.bin'))).toBe((await readFile(path.join(out, 'big.sha256'), 'utf8')).trim());
    expect((await stat(path.join(out, 'stdout.log'))).size).toBe(314_572_800);
    expect(await sha256(path.join(out, 'stdout.log'))).toBe((await readFile(path.join(out, 'stdout.sha256'), 'utf8')).trim());
    expect(peak - baseline).toBeLessThan(100 * 1024 * 1024);
  }, 300_000);
});
