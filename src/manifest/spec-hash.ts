import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedTemplate } from '../archive/pack-templates.js';

/** What decides a job's outputs, for `resume`: a job whose spec is unchanged and that succeeded is not run again. */
export interface JobSpecForHash {
  imageId: string;
  entrypoint: readonly string[] | undefined;
  cmd: readonly string[] | undefined;
  env: Readonly<Record<string, string>>;
  workingDir: string | undefined;
  templates: readonly ResolvedTemplate[];
}

async function hashFile(hash: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

/** Hashes a host file or folder: names, types, modes and contents, in a stable order; links by their target. */
async function hashTree(hash: Hash, source: string, name: string): Promise<void> {
  const info = await lstat(source);
  if (info.isSymbolicLink()) {
    hash.update(`link\0${name}\0${await readlink(source)}\0`);
  } else if (info.isDirectory()) {
    hash.update(`dir\0${name}\0${info.mode & 0o7777}\0`);
    for (const entry of (await readdir(source)).sort()) await hashTree(hash, path.join(source, entry), `${name}/${entry}`);
  } else if (info.isFile()) {
    hash.update(`file\0${name}\0${info.mode & 0o7777}\0${info.size}\0`);
    await hashFile(hash, source);
  }
}

/** `sha256:<hex>` of a job's spec. Template files are read (streamed), so a changed input file changes the hash. */
export async function specHash(spec: JobSpecForHash): Promise<string> {
  const hash = createHash('sha256');
  const env = Object.entries(spec.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  hash.update(JSON.stringify({ imageId: spec.imageId, entrypoint: spec.entrypoint ?? null, cmd: spec.cmd ?? null, env, workingDir: spec.workingDir ?? null }));
  for (const template of spec.templates) {
    if (template.kind === 'content') {
      hash.update(`\0content\0${template.target}\0${template.mode}\0${template.content.length}\0`);
      hash.update(template.content);
    } else {
      hash.update(`\0template\0${template.target}\0`);
      await hashTree(hash, template.source, '.');
    }
  }
  return `sha256:${hash.digest('hex')}`;
}
