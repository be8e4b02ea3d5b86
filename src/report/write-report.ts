import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { manifestPath, type ManifestRecord } from '../manifest/run-manifest.js';
import { ValidationError } from '../errors/validation-error.js';
import { readReportData } from './read-report-data.js';
import { reportHtmlChunks, type ReportHtmlOptions } from './render-report-html.js';
import { ReportData } from './report-data.js';
import { traceCsvChunks } from './trace-csv.js';

/** Where `writeReport` wrote. */
export interface ReportFiles {
  html: string;
  csv: string;
  /** How many jobs the report covers (the newest record of each). */
  jobs: number;
}

/** trace.csv: one row per job (its newest record), parameters as `param_<name>` columns. */
export function renderTraceCsv(records: readonly ManifestRecord[]): string {
  return [...traceCsvChunks(ReportData.from(records))].join('');
}

/**
 * report.html: one self-contained page (inline style, data and script, nothing loaded from the network), for
 * the newest record of each job. `writeReport` writes the same page without building it as one string.
 */
export function renderReportHtml(records: readonly ManifestRecord[], options: ReportHtmlOptions = {}): string {
  return [...reportHtmlChunks(ReportData.from(records, options.dataDirectory), options)].join('');
}

/** Writes `chunks` to `file` through a stream, under a temporary name renamed at the end (never a half file). */
async function writeChunks(file: string, chunks: Iterable<string>): Promise<void> {
  const partial = `${file}.${process.pid}.partial`;
  try {
    await pipeline(Readable.from(chunks), createWriteStream(partial));
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

/**
 * Writes `<dataDirectory>/report.html` and `<dataDirectory>/trace.csv` from the run manifest (the newest record
 * of each job), so it works for resumed and cancelled runs too. The manifest is read line by line into a
 * compact form and both files are written as streams, so a sweep of a million jobs needs no more than a few
 * hundred megabytes; the page shows the table 100 rows at a time and aggregates the timeline of large runs.
 *
 * @example
 * ```ts
 * const { html } = await writeReport('./out');
 * console.log(`open ${html}`);
 * ```
 */
export async function writeReport(dataDirectory: string, options: { title?: string } = {}): Promise<ReportFiles> {
  const directory = path.resolve(dataDirectory);
  const data = await readReportData(manifestPath(directory), { baseDirectory: directory });
  if (data.jobCount === 0) {
    throw new ValidationError('dataDirectory', dataDirectory, `No run manifest in ${directory} (.docker-sim-manager/manifest.jsonl): nothing to report. Point at the dataDirectory of a run.`);
  }
  const html = path.join(directory, 'report.html');
  const csv = path.join(directory, 'trace.csv');
  await writeChunks(html, reportHtmlChunks(data, { ...options, dataDirectory: directory }));
  await writeChunks(csv, traceCsvChunks(data));
  return { html, csv, jobs: data.jobCount };
}
