import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import tarFs from 'tar-fs';
import { ArchiveError } from '../errors/archive-error.js';

/** An archive entry that was not extracted, and why. */
export interface SkippedEntry {
  /** The path inside the container. */
  path: string;
  /** `file`, `directory`, `symlink`, `link` (hard link), `fifo`, `character-device`... */
  type: string;
  reason: string;
}

/** Caps on what one extraction may write. */
export interface ExtractLimits {
  maxBytes: number;
  maxEntries: number;
}

/** The running total of one job's extractions, shared across its archives so the caps are per job. */
export interface ExtractBudget {
  bytes: number;
  entries: number;
}

const SAFE_TYPES = new Set(['file', 'directory']);

/**
 * Extracts an archive that came out of a container, treating it as untrusted: only regular files and folders
 * are written (links, devices and fifos are skipped and reported), setuid/setgid/sticky bits are dropped,
 * ownership is never taken from the archive, no entry can land outside `destination`, and the byte and entry
 * caps stop the extraction with an `ArchiveError`. `stripFirst` drops the archive's top folder (the copied
 * folder's own name); `containerRoot` names entries in reports.
 */
export async function extractOutput(
  archive: Readable,
  destination: string,
  options: { containerPath: string; stripFirst: boolean; limits: ExtractLimits; budget: ExtractBudget; skipped: SkippedEntry[] },
): Promise<void> {
  const { containerPath, stripFirst, limits, budget, skipped } = options;
  const containerBase = stripFirst ? containerPath : path.posix.dirname(containerPath);
  await mkdir(destination, { recursive: true });
  let failure: ArchiveError | undefined;

  const extract = tarFs.extract(destination, {
    ...({ chown: false } as object), // never take ownership from the archive (option newer than @types/tar-fs)
    map: (header) => {
      const original = header.name;
      const parts = original.split('/').filter((part) => part !== '' && part !== '.');
      const inContainer = path.posix.join(containerBase, ...(stripFirst ? parts.slice(1) : parts));
      const type = header.type ?? 'file';
      let reason: string | undefined;
      if (original.startsWith('/') || parts.includes('..')) reason = 'path leaves the output folder';
      else if (!SAFE_TYPES.has(type)) reason = `${type} entries are not extracted`;
      if (stripFirst) parts.shift();
      if (reason === undefined && parts.length === 0) reason = 'root'; // the copied folder itself
      if (reason !== undefined) {
        // A name that tries to leave is reported as the archive gave it.
        if (reason !== 'root') skipped.push({ path: reason === 'path leaves the output folder' ? original : inContainer, type, reason });
        header.name = '__dsim_skipped__';
        return header;
      }
      budget.entries += 1;
      budget.bytes += type === 'file' ? header.size ?? 0 : 0;
      if (failure === undefined && (budget.bytes > limits.maxBytes || budget.entries > limits.maxEntries)) {
        const which = budget.bytes > limits.maxBytes ? `more than maxOutputBytes (${limits.maxBytes} bytes)` : `more than maxOutputEntries (${limits.maxEntries} entries)`;
        failure = new ArchiveError(containerPath, `The outputs of ${containerPath} hold ${which}; nothing was kept. Raise the limit or write less.`);
        // Stop reading at once. Never `throw` inside map (it would crash the process) and never push the error
        // into the tar streams (an entry being written would re-emit it): from here `ignore` refuses every
        // entry, and the source is closed; the pipeline then rejects and `failure` is reported.
        queueMicrotask(() => archive.destroy(failure));
      }
      header.name = parts.join('/');
      header.mode = type === 'directory' ? (header.mode & 0o755) | 0o700 : (header.mode & 0o755) | 0o600;
      return header;
    },
    ignore: (_name, header) => header?.name === '__dsim_skipped__' || failure !== undefined,
  });
  try {
    // Wired by hand rather than with stream/promises' pipeline: closing an HTTP source early made that
    // pipeline leave a rejection nobody could catch. This settles once; later errors are ignored.
    await new Promise<void>((resolve, reject) => {
      archive.on('error', reject);
      extract.on('error', reject);
      let hasEnded = false;
      archive.once('end', () => {
        hasEnded = true;
      });
      archive.once('close', () => {
        if (!hasEnded) reject(failure ?? new Error('the archive stream closed before its end'));
      });
      extract.once('finish', () => resolve());
      archive.pipe(extract);
    });
  } catch (error) {
    if (failure) throw failure;
    throw new ArchiveError(containerPath, `Copying ${containerPath} out of the container failed: ${(error as Error).message}`, { cause: error });
  }
  if (failure) throw failure;
}
