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

/** Entry name relative to `/` for a container path. */
function entryName(target: string): string {
  return path.posix.normalize(target).replace(/^\/+/, '');
}

function packPath(pack: tarStream.Pack, template: Extract<ResolvedTemplate, { kind: 'path' }>, owner: PackOwner): Promise<void> {
  const base = entryName(template.target);
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

function packContent(pack: tarStream.Pack, template: Extract<ResolvedTemplate, { kind: 'content' }>, owner: PackOwner): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry(
      { name: entryName(template.target), mode: template.mode, uid: owner.uid, gid: owner.gid, size: template.content.length, mtime: new Date() },
      template.content,
      (error) => (error ? reject(error) : resolve()),
    );
  });
}

/**
 * One uncompressed tar stream holding every template of a job, with entry names relative to `/` so a single
 * `putArchive(id, '/', stream)` places them all (the engine creates missing parent folders). Files are read as
 * the stream is consumed: a large folder is never held in memory.
 */
export function packTemplates(
  templates: readonly ResolvedTemplate[],
  owner: PackOwner,
  ownedDirectories: ReadonlyArray<{ path: string; mode: number }> = [],
): Readable {
  const pack = tarStream.pack();
  void (async () => {
    for (const directory of ownedDirectories) {
      await new Promise<void>((resolve, reject) => {
        pack.entry({ name: entryName(directory.path), type: 'directory', mode: directory.mode, uid: owner.uid, gid: owner.gid, mtime: new Date() }, (error) =>
          error ? reject(error) : resolve(),
        );
      });
    }
    for (const template of templates) {
      if (template.kind === 'content') await packContent(pack, template, owner);
      else await packPath(pack, template, owner);
    }
    pack.finalize();
  })().catch((error: unknown) => {
    const source = (error as { path?: string }).path ?? 'a template';
    pack.destroy(new TemplateError(source, `Template ${source} could not be packed: ${(error as Error).message}`, { cause: error }));
  });
  return pack as unknown as Readable;
}
