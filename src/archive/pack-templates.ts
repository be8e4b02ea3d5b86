import path from 'node:path';
import type { Readable } from 'node:stream';
import tarFs from 'tar-fs';
import tarStream from 'tar-stream';
import { TemplateError } from '../errors/template-error.js';

/** A template resolved to its place in the container. */
export type ResolvedTemplate =
  | { kind: 'path'; source: string; target: string; isDirectory: boolean }
  | { kind: 'content'; content: Buffer; target: string; mode: number };

export interface PackOwner {
  uid: number;
  gid: number;
}

/** Entry name of a container path, relative to the folder the archive is extracted at. */
function entryName(target: string, root: string): string {
  return path.posix.relative(root, path.posix.normalize(target)) || '.';
}

function packPath(pack: tarStream.Pack, template: Extract<ResolvedTemplate, { kind: 'path' }>, owner: PackOwner, root: string): Promise<void> {
  const base = entryName(template.target, root);
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    pack.once('error', onError);
    tarFs.pack(template.isDirectory ? template.source : path.dirname(template.source), {
      pack,
      finalize: false,
      dereference: false, // never pack the contents a symlink points to (possibly a host secret)
      ...(template.isDirectory ? {} : { entries: [path.basename(template.source)] }),
      map: (header) => {
        header.name = template.isDirectory ? path.posix.join(base, header.name) : base;
        header.uid = owner.uid;
        header.gid = owner.gid;
        return header;
      },
      finish: () => {
        pack.off('error', onError);
        resolve();
      },
    });
  });
}

function packContent(pack: tarStream.Pack, template: Extract<ResolvedTemplate, { kind: 'content' }>, owner: PackOwner, root: string): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(
      { name: entryName(template.target, root), mode: template.mode, uid: owner.uid, gid: owner.gid, size: template.content.length, mtime: new Date() },
      template.content,
      (error) => (error ? reject(error) : resolve()),
    );
  });
}

/**
 * One uncompressed tar stream holding every template of a job, with entry names relative to `root` (every
 * target must lie under it) so a single `putArchive(id, root, stream)` places them all (the engine creates
 * missing parent folders). Files are read as the stream is consumed: a large folder is never held in memory.
 */
export function packTemplates(
  templates: readonly ResolvedTemplate[],
  owner: PackOwner,
  ownedDirectories: ReadonlyArray<{ path: string; mode: number }> = [],
  root = '/',
): Readable {
  const pack = tarStream.pack();
  void (async () => {
    for (const directory of ownedDirectories) {
      await new Promise<void>((resolve, reject) => {
        pack.entry({ name: entryName(directory.path, root), type: 'directory', mode: directory.mode, uid: owner.uid, gid: owner.gid, mtime: new Date() }, (error) =>
          error ? reject(error) : resolve(),
        );
      });
    }
    for (const template of templates) {
      if (template.kind === 'content') await packContent(pack, template, owner, root);
      else await packPath(pack, template, owner, root);
    }
    pack.finalize();
  })().catch((error: unknown) => {
    const source = (error as { path?: string }).path ?? 'a template';
    pack.destroy(new TemplateError(source, `Template ${source} could not be packed: ${(error as Error).message}`, { cause: error }));
  });
  return pack as unknown as Readable;
}
