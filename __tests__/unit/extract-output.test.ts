import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { ArchiveError } from '../../src/index.js';
import { extractOutput, type SkippedEntry } from '../../src/archive/extract-output.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'dsim-extract-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Entry = Partial<tarStream.Header> & { name: string; content?: string };

function tar(entries: Entry[]): Readable {
  const pack = tarStream.pack();
  for (const { content, ...header } of entries) pack.entry(header as tarStream.Header, content ?? '');
  pack.finalize();
  return pack as unknown as Readable;
}

async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(root)) {
    const full = path.join(root, name);
    out.push(path.relative(dir, full));
    if ((await lstat(full)).isDirectory()) out.push(...(await walk(full)));
  }
  return out;
}

const limits = { maxBytes: 1024 * 1024, maxEntries: 100 };

test('hostile entries are skipped and reported; nothing lands outside the destination', async () => {
  const destination = path.join(dir, 'job', 'out');
  const skipped: SkippedEntry[] = [];
  await writeFile(path.join(dir, 'victim.txt'), 'original');
  await extractOutput(
    tar([
      { name: 'data', type: 'directory', mode: 0o755 },
      { name: 'data/ok.txt', mode: 0o644, content: 'fine' },
      { name: 'data/sub', type: 'directory', mode: 0o777 },
      { name: 'data/sub/deep.txt', mode: 0o4755, content: 'setuid' },
      { name: 'data/../../../victim.txt', mode: 0o644, content: 'pwned' },
      { name: '/etc/evil', mode: 0o644, content: 'pwned' },
      { name: 'data/etc', type: 'symlink', linkname: '/etc' },
      { name: 'data/d/up', type: 'symlink', linkname: '..' },
      { name: 'data/esc', type: 'symlink', linkname: 'd/up/..' },
      { name: 'data/hard', type: 'link', linkname: '/etc/passwd' },
      { name: 'data/pipe', type: 'fifo', mode: 0o644 },
      { name: 'data/dev', type: 'character-device', mode: 0o644, devmajor: 1, devminor: 3 },
    ]),
    destination,
    { containerPath: '/mnt/data', stripFirst: true, limits, budget: { bytes: 0, entries: 0 }, skipped },
  );
  expect(await readFile(path.join(dir, 'victim.txt'), 'utf8')).toBe('original');
  expect((await walk(dir)).sort()).toEqual(['job', 'job/out', 'job/out/ok.txt', 'job/out/sub', 'job/out/sub/deep.txt', 'victim.txt']);
  expect((await stat(path.join(destination, 'sub', 'deep.txt'))).mode & 0o7777).toBe(0o755); // setuid dropped
  expect((await stat(path.join(destination, 'sub'))).mode & 0o777).toBe(0o755); // world-writable dropped
  expect(skipped.map((s) => `${s.type} ${s.path}`).sort()).toEqual([
    'character-device /mnt/data/dev',
    'fifo /mnt/data/pipe',
    'file /etc/evil',
    'file data/../../../victim.txt',
    'link /mnt/data/hard',
    'symlink /mnt/data/d/up',
    'symlink /mnt/data/esc',
    'symlink /mnt/data/etc',
  ]);
});

test('the byte cap stops the extraction with an ArchiveError', async () => {
  const big = 'x'.repeat(600 * 1024);
  const promise = extractOutput(
    tar([
      { name: 'data', type: 'directory', mode: 0o755 },
      { name: 'data/a.bin', mode: 0o644, content: big },
      { name: 'data/b.bin', mode: 0o644, content: big },
    ]),
    path.join(dir, 'out'),
    { containerPath: '/mnt/data', stripFirst: true, limits, budget: { bytes: 0, entries: 0 }, skipped: [] },
  );
  await expect(promise).rejects.toThrow(ArchiveError);
  await expect(promise).rejects.toThrow(/more than maxOutputBytes \(1048576 bytes\)/);
});

test('the entry cap counts across archives of one job', async () => {
  const budget = { bytes: 0, entries: 0 };
  const entries = (prefix: string): Entry[] => Array.from({ length: 60 }, (_, i) => ({ name: `${prefix}/f${i}`, mode: 0o644, content: 'x' }));
  await mkdir(path.join(dir, 'out'));
  await extractOutput(tar(entries('a')), path.join(dir, 'out'), { containerPath: '/a', stripFirst: false, limits, budget, skipped: [] });
  await expect(
    extractOutput(tar(entries('b')), path.join(dir, 'out'), { containerPath: '/b', stripFirst: false, limits, budget, skipped: [] }),
  ).rejects.toThrow(/more than maxOutputEntries \(100 entries\)/);
});
