import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tarStream, { type Header } from 'tar-stream';

/** Part of an archive bound for one extraction point in a container. */
export interface ArchivePart {
  /** Where in the container the part is extracted. */
  path: string;
  tar: Readable;
}

function isUnder(target: string, directory: string): boolean {
  return target === directory || target.startsWith(directory === '/' ? '/' : `${directory}/`);
}

/**
 * Splits an archive to be extracted at `root` into one part per extraction point: Podman extracts an archive
 * only into the file system of the path it is given, so an entry that lies under a mount of the container (a
 * bind mount, a volume) would land in the image's layer underneath it, hidden once the container starts. Each
 * entry goes to the deepest mount that holds it, named relative to that mount; a mount's own folder entry is
 * kept in the root part (it makes the folder) and given to the mount as `./` (its mode and owner). The parts
 * stream side by side: every part must be consumed. `done` settles when the whole archive has been read.
 */
export function splitArchiveByMounts(tar: Readable, root: string, mounts: readonly string[]): { parts: ArchivePart[]; done: Promise<void> } {
  const points = [...new Set(mounts.filter((mount) => mount !== root && isUnder(mount, root)))].sort((a, b) => b.length - a.length);
  const packs = new Map([root, ...points].map((point) => [point, tarStream.pack()]));
  // A failure is reported once, through `done`; a part nobody reads yet must not crash the process with it.
  for (const pack of packs.values()) pack.on('error', () => undefined);
  const extract = tarStream.extract();
  const copy = (pack: tarStream.Pack, header: Header, entry: { pipe(destination: NodeJS.WritableStream): unknown }): Promise<void> =>
    new Promise((resolve, reject) => {
      const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
      entry.pipe(sink);
    });
  const folder = (pack: tarStream.Pack, header: Header): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry(header, (error) => (error ? reject(error) : resolve()));
    });
  extract.on('entry', (header, entry, next) => {
    const target = path.posix.join(root, header.name);
    const holder = points.find((point) => isUnder(target, point));
    let written: Promise<unknown>;
    if (holder === undefined) {
      written = copy(packs.get(root) as tarStream.Pack, header, entry);
    } else if (target === holder) {
      // The mount's own folder (an entry without content): made in the root part, its mode and owner applied
      // at the mount's root.
      entry.resume();
      written = Promise.all([folder(packs.get(root) as tarStream.Pack, header), folder(packs.get(holder) as tarStream.Pack, { ...header, name: './' })]);
    } else {
      written = copy(packs.get(holder) as tarStream.Pack, { ...header, name: path.posix.relative(holder, target) }, entry);
    }
    written.then(() => next(), (error: Error) => extract.destroy(error));
  });
  const done = pipeline(tar, extract).then(
    () => {
      for (const pack of packs.values()) pack.finalize();
    },
    (error: unknown) => {
      for (const pack of packs.values()) pack.destroy(error as Error);
      throw error;
    },
  );
  return { parts: [...packs].map(([point, pack]) => ({ path: point, tar: pack as unknown as Readable })), done };
}

/**
 * Gives an archive Podman made of `containerPath` the names the Docker API documents: Podman names the entries
 * of a mount's root `/`, `/file`..., where Docker names them after the folder (`data/`, `data/file`).
 */
export function dockerArchiveNames(archive: Readable, containerPath: string): Readable {
  const base = path.posix.basename(containerPath.replace(/\/+$/, '')) || '.';
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  extract.on('entry', (header, entry, next) => {
    const name = header.name.startsWith('/') ? `${base}${header.name === '/' ? '/' : header.name}` : header.name;
    entry.pipe(pack.entry({ ...header, name }, next));
  });
  extract.once('finish', () => pack.finalize());
  pipeline(archive, extract).catch((error: unknown) => pack.destroy(error as Error));
  return pack as unknown as Readable;
}
