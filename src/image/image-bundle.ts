import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError } from '../errors/integrity-error.js';
import { ValidationError } from '../errors/validation-error.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { DockerodeRuntime, type DockerConnection } from '../runtime/dockerode-runtime.js';

/** Where an image bundle goes, and which engine it comes from. */
export interface SaveImageOptions {
  /** The image to save: a reference or an id. */
  image: string;
  /** The bundle file (`docker save` format). `<file>.sha256` is written beside it. */
  file: string;
  /** Replace an existing bundle. @default false */
  overwrite?: boolean;
  /** A dockerode instance or options. @default DOCKER_HOST, else the local socket */
  docker?: DockerConnection;
  /** Another container runtime (tests). Overrides `docker`. */
  runtime?: ContainerRuntime;
}

/** Which bundle to load, and into which engine. */
export interface LoadImageOptions {
  /** The bundle file written by `saveImage` (or `docker save` with a `<file>.sha256` beside it). */
  file: string;
  docker?: DockerConnection;
  runtime?: ContainerRuntime;
}

/** What a save wrote. */
export interface SaveImageResult {
  file: string;
  checksumFile: string;
  sha256: string;
  bytes: number;
}

function hashing(hash: ReturnType<typeof createHash>, counter: { bytes: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      counter.bytes += chunk.length;
      callback(null, chunk);
    },
  });
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Saves an image as a reproducible bundle: `file` in `docker save` format and `file.sha256` (sha256sum format).
 * Streams to disk (never the whole image in memory) through a temporary name, renamed only when complete.
 *
 * @example
 * ```ts
 * import { saveImage } from 'docker-sim-manager';
 * const { sha256 } = await saveImage({ image: 'ghcr.io/me/sim:1.2', file: './sim-1.2.tar' });
 * ```
 */
export async function saveImage(options: SaveImageOptions): Promise<SaveImageResult> {
  const file = path.resolve(options.file);
  const checksumFile = `${file}.sha256`;
  if (!options.overwrite) {
    for (const existing of [file, checksumFile]) {
      if (await stat(existing).then(() => true, () => false)) {
        throw new ValidationError('file', existing, `${existing} already exists. Choose another file or pass overwrite: true.`);
      }
    }
  }
  const runtime = options.runtime ?? new DockerodeRuntime(options.docker);
  const partial = `${file}.partial-${process.pid}`;
  const hash = createHash('sha256');
  const counter = { bytes: 0 };
  try {
    await pipeline(await runtime.saveImage(options.image), hashing(hash, counter), createWriteStream(partial, { flags: 'wx' }));
    const sha256 = hash.digest('hex');
    await rename(partial, file);
    await writeFile(checksumFile, `${sha256}  ${path.basename(file)}\n`);
    return { file, checksumFile, sha256, bytes: counter.bytes };
  } finally {
    await rm(partial, { force: true });
  }
}

/**
 * Loads an image bundle after checking it against `file.sha256`: a tampered or truncated bundle is refused with an
 * `IntegrityError` before the engine sees a byte of it. Resolves with what the engine loaded (ids and tags).
 *
 * @example
 * ```ts
 * import { loadImage } from 'docker-sim-manager';
 * const loaded = await loadImage({ file: './sim-1.2.tar' });
 * ```
 */
export async function loadImage(options: LoadImageOptions): Promise<string[]> {
  const file = path.resolve(options.file);
  const checksumFile = `${file}.sha256`;
  const recorded = await readFile(checksumFile, 'utf8').then(
    (text) => /^([0-9a-f]{64})\b/.exec(text.trim())?.[1],
    (error: NodeJS.ErrnoException) => {
      throw new IntegrityError(file, `Cannot verify ${file}: its checksum file ${checksumFile} cannot be read (${error.code}). Bundles are loaded only with their .sha256.`, { cause: error });
    },
  );
  if (recorded === undefined) throw new IntegrityError(file, `${checksumFile} does not hold a sha256 checksum.`);
  const actual = await sha256Of(file).catch((error: NodeJS.ErrnoException) => {
    throw new IntegrityError(file, `Cannot read the bundle ${file} (${error.code}).`, { cause: error });
  });
  if (actual !== recorded) {
    throw new IntegrityError(file, `${file} does not match its checksum (expected ${recorded}, got ${actual}): the bundle was changed or truncated. It was not loaded.`);
  }
  const runtime = options.runtime ?? new DockerodeRuntime(options.docker);
  return runtime.loadImage(createReadStream(file));
}
