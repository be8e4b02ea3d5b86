import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ManifestRecord } from '../manifest/run-manifest.js';
import { ReportData } from './report-data.js';

/** What `readManifest` accepts as a record. */
function isRecord(value: unknown): value is ManifestRecord {
  if (value === null || typeof value !== 'object') return false;
  const record = value as Partial<ManifestRecord>;
  return record.v === 1 && typeof record.job === 'string' && typeof record.status === 'string';
}

/**
 * Streams a run manifest line by line into a `ReportData` (the newest record of each job, compact), never holding
 * more than one parsed record. Lines that are not a complete version-1 record (a torn last line) are skipped,
 * as `readManifest` skips them. An absent manifest gives an empty `ReportData`.
 *
 * @example
 * ```ts
 * const data = await readReportData(manifestPath('./out'), { baseDirectory: path.resolve('./out') });
 * console.log(`${data.jobCount} jobs`);
 * ```
 */
export async function readReportData(file: string, options: { baseDirectory?: string } = {}): Promise<ReportData> {
  const data = new ReportData(options.baseDirectory);
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 1024 * 1024 });
  const opened = new Promise<boolean>((resolve, reject) => {
    input.once('open', () => resolve(true));
    input.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(false) : reject(error)));
  });
  if (!(await opened)) return data;
  try {
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        continue; // a blank or torn line: the job is treated as never recorded
      }
      if (isRecord(record)) data.add(record);
    }
  } finally {
    input.destroy();
  }
  return data;
}
