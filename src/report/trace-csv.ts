import type { ReportData } from './report-data.js';

/** Rows per yielded chunk. */
const ROWS_PER_CHUNK = 2_000;

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const numberField = (value: number | undefined): string => (value === undefined || Number.isNaN(value) ? '' : String(value));
const idField = (values: readonly string[], id: number | undefined): string => (id === undefined || id < 0 ? '' : csvField(values[id]));

/**
 * trace.csv, in chunks of rows: one row per job (its newest record), parameters as `param_<name>` columns.
 * The text is the same as it has always been; only the way it is produced changed (in pieces, for a stream).
 */
export function* traceCsvChunks(data: ReportData): Generator<string, void, undefined> {
  const parameters = data.reportedParameters();
  const header = ['job', 'run_id', 'slot', 'status', 'exit_code', 'attempts', 'started_at', 'finished_at', 'duration_ms', 'cpu_ms', 'peak_memory_bytes', 'memory_limit_bytes', 'cpus_limit', 'spec_hash', 'image_id', 'image_digest', 'error_code', ...parameters.map((k) => `param_${data.parameterNames[k] ?? ''}`)];
  yield `${header.join(',')}\n`;
  let lines: string[] = [];
  for (let i = 0; i < data.jobCount; i++) {
    const cpuMs = data.columns.cpuMs[i] ?? Number.NaN;
    const cells = [
      csvField(data.names[i]),
      idField(data.runs.values, data.columns.run[i]),
      numberField(data.columns.slot[i]),
      idField(data.statuses.values, data.columns.status[i]),
      numberField(data.columns.exitCode[i]),
      numberField(data.columns.attempts[i]),
      csvField(data.startedAt(i)),
      csvField(data.finishedAt(i)),
      numberField(data.columns.durationMs[i]),
      numberField(Math.round(cpuMs)),
      numberField(data.columns.peakMemoryBytes[i]),
      numberField(data.columns.memoryLimitBytes[i]),
      numberField(data.columns.cpusLimit[i]),
      csvField(data.specHash(i)),
      idField(data.images.values, data.columns.imageId[i]),
      idField(data.images.values, data.columns.imageDigest[i]),
      idField(data.errorCodes.values, data.columns.errorCode[i]),
    ];
    for (const k of parameters) cells.push(csvField(data.parameter(k, i)));
    lines.push(cells.join(','));
    if (lines.length === ROWS_PER_CHUNK) {
      yield `${lines.join('\n')}\n`;
      lines = [];
    }
  }
  if (lines.length > 0) yield `${lines.join('\n')}\n`;
}
