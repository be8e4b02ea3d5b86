import { manifestRecords } from '../manifest/run-manifest.js';
import { ReportData } from './report-data.js';

/**
 * Streams a run manifest (`manifestRecords`: torn lines skipped, absent manifest empty) into a `ReportData`, the
 * newest record of each job in compact form, never holding more than one parsed record.
 *
 * @example
 * ```ts
 * const data = await readReportData(manifestPath('./out'), { baseDirectory: path.resolve('./out') });
 * console.log(`${data.jobCount} jobs`);
 * ```
 */
export async function readReportData(file: string, options: { baseDirectory?: string } = {}): Promise<ReportData> {
  const data = new ReportData(options.baseDirectory);
  for await (const record of manifestRecords(file)) data.add(record);
  return data;
}
