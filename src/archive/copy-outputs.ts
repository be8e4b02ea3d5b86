import { randomUUID } from 'node:crypto';
import { lstat, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { extractOutput, type ExtractLimits, type SkippedEntry } from './extract-output.js';

/** A container path to copy out; `stripFirst` puts a folder's contents (not the folder) into the job folder. */
export interface CopyOutItem {
  containerPath: string;
  stripFirst: boolean;
}

/**
 * Copies container paths out into `outputDir`: everything is extracted into a fresh staging folder inside the
 * data directory first and moved into place only when every archive was extracted within the limits, so a
 * failure leaves nothing half-written. A name that already exists in the job folder (its logs) is never
 * overwritten: it is reported as skipped. Returns the entries that were not extracted.
 */
export async function copyOutputs(
  runtime: ContainerRuntime,
  containerId: string,
  items: readonly CopyOutItem[],
  options: { outputDir: string; stagingRoot: string; limits: ExtractLimits },
): Promise<SkippedEntry[]> {
  const skipped: SkippedEntry[] = [];
  const staging = path.join(options.stagingRoot, `${path.basename(options.outputDir)}-${randomUUID().slice(0, 8)}`);
  const budget = { bytes: 0, entries: 0 };
  try {
    for (const item of items) {
      const archive = await runtime.getArchive(containerId, item.containerPath);
      if (archive === undefined) {
        skipped.push({ path: item.containerPath, type: 'missing', reason: 'not found in the container' });
        continue;
      }
      await extractOutput(archive, staging, { ...item, limits: options.limits, budget, skipped });
    }
    const names = await readdir(staging).catch(() => [] as string[]);
    for (const name of names) {
      const target = path.join(options.outputDir, name);
      const isTaken = await lstat(target).then(
        () => true,
        () => false,
      );
      if (isTaken) {
        skipped.push({ path: name, type: 'file', reason: `the job folder already holds ${name} (written by docker-sim-manager); it was not overwritten` });
        continue;
      }
      await rename(path.join(staging, name), target);
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return skipped;
}
