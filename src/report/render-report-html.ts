import { escapeHtml, escapeScriptJson, formatCount, plural, seconds } from './html-text.js';
import { renderFailures } from './render-failures.js';
import { jobsByRun, renderTimelines, runSpan, statusColor, STATUS_COLORS } from './render-timeline.js';
import { renderUsage } from './render-usage.js';
import { CANCELLED, FAILED, SUCCEEDED, type ReportData } from './report-data.js';
import { REPORT_SCRIPT, REPORT_STYLE } from './report-page.js';

/** What `renderReportHtml` and `reportHtmlChunks` take besides the data. */
export interface ReportHtmlOptions {
  /** @default 'docker-sim-manager report' */
  title?: string;
  /** Shown under the title; log links are relative to it. */
  dataDirectory?: string;
}

/** Values per piece of the embedded data. */
const VALUES_PER_CHUNK = 10_000;
/** The most images named in the summary. */
const MAX_IMAGES = 10;

const number = (value: number | undefined): string => (value === undefined || !Number.isFinite(value) ? 'null' : String(value));

/** A JSON array of `count` items, in pieces (each made safe for a script element). */
function* jsonArray(count: number, item: (i: number) => string): Generator<string, void, undefined> {
  yield '[';
  for (let start = 0; start < count; start += VALUES_PER_CHUNK) {
    const end = Math.min(count, start + VALUES_PER_CHUNK);
    const parts = new Array<string>(end - start);
    for (let i = start; i < end; i++) parts[i - start] = item(i);
    yield `${start === 0 ? '' : ','}${escapeScriptJson(parts.join(','))}`;
  }
  yield ']';
}

const json = (value: unknown): string => escapeScriptJson(JSON.stringify(value));

/**
 * The table's data, column by column: one array per field with one value per job (absent: null), strings that
 * repeat (statuses, runs, engines, error codes and messages) as indexes into a list, start times as ms after
 * `t0`, and errors and unusual log folders as [job, ...] pairs for the jobs that have them.
 */
function* tableData(data: ReportData, parameters: readonly number[]): Generator<string, void, undefined> {
  const count = data.jobCount;
  let t0 = Number.POSITIVE_INFINITY;
  for (let i = 0; i < count; i++) {
    const ms = data.columns.startedMs[i] ?? Number.NaN;
    if (ms < t0) t0 = ms; // NaN (never started) is never less
  }
  if (!Number.isFinite(t0)) t0 = 0;
  // Only the messages of the newest records, renumbered.
  const messageIds = new Map<number, number>();
  const messages: string[] = [];
  const errors: string[] = [];
  for (let i = 0; i < count; i++) {
    const code = data.columns.errorCode[i] ?? -1;
    const message = data.columns.errorMessage[i] ?? -1;
    if (code < 0 && message < 0) continue;
    let id = messageIds.get(message);
    if (id === undefined && message >= 0) {
      id = messages.length;
      messageIds.set(message, id);
      messages.push(data.messages.values[message] ?? '');
    }
    errors.push(`[${i},${code},${id ?? -1}]`);
  }
  const column = (values: Float64Array, offset = 0): Generator<string, void, undefined> => jsonArray(count, (i) => number((values[i] ?? Number.NaN) - offset));
  const ids = (values: Int32Array): Generator<string, void, undefined> => jsonArray(count, (i) => ((values[i] ?? -1) < 0 ? 'null' : String(values[i])));

  yield `{"t0":${t0},"statuses":${json(data.statuses.values)},"runs":${json(data.runs.values)},"engines":${json(data.engines.values)},"codes":${json(data.errorCodes.values)}`;
  yield `,"params":${json(parameters.map((k) => data.parameterNames[k]))},"messages":`;
  yield* jsonArray(messages.length, (k) => JSON.stringify(messages[k]));
  yield ',"errors":';
  yield* jsonArray(errors.length, (k) => errors[k] ?? 'null');
  yield ',"folders":';
  const folders = [...data.unusualFolders()];
  yield* jsonArray(folders.length, (k) => JSON.stringify(folders[k]));
  yield ',"name":';
  yield* jsonArray(count, (i) => JSON.stringify(data.names[i]));
  yield ',"status":';
  yield* ids(data.columns.status);
  yield ',"run":';
  yield* ids(data.columns.run);
  yield ',"exit":';
  yield* column(data.columns.exitCode);
  yield ',"attempts":';
  yield* column(data.columns.attempts);
  yield ',"duration":';
  yield* column(data.columns.durationMs);
  yield ',"cpu":';
  yield* column(data.columns.cpuMs);
  yield ',"memory":';
  yield* column(data.columns.peakMemoryBytes);
  yield ',"memoryLimit":';
  yield* column(data.columns.memoryLimitBytes);
  yield ',"started":';
  yield* column(data.columns.startedMs, t0);
  yield ',"slot":';
  yield* column(data.columns.slot);
  yield ',"engine":';
  yield* ids(data.columns.engine);
  yield ',"p":[';
  for (const [n, k] of parameters.entries()) {
    if (n > 0) yield ',';
    yield* jsonArray(count, (i) => {
      const value = data.parameter(k, i);
      return value === undefined ? 'null' : JSON.stringify(value);
    });
  }
  yield ']}';
}

function median(sorted: Float64Array): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? 0 : sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * report.html in pieces, for a stream: one self-contained page (inline style, data and script; nothing is
 * loaded from the network). The summary, timeline, usage and failures are static HTML whose size does not
 * grow with the number of jobs (beyond the first few hundred); the job table is rendered in the browser from
 * the embedded data, one page of rows at a time.
 */
export function* reportHtmlChunks(data: ReportData, options: ReportHtmlOptions = {}): Generator<string, void, undefined> {
  const count = data.jobCount;
  const statusCounts = new Array<number>(data.statuses.values.length).fill(0);
  let startedCount = 0;
  for (let i = 0; i < count; i++) {
    const status = data.columns.status[i] ?? 0;
    statusCounts[status] = (statusCounts[status] ?? 0) + 1;
    if (!Number.isNaN(data.columns.startedMs[i] ?? Number.NaN)) startedCount++;
  }
  const durations = new Float64Array(startedCount);
  for (let i = 0, k = 0; i < count; i++) if (!Number.isNaN(data.columns.startedMs[i] ?? Number.NaN)) durations[k++] = data.columns.durationMs[i] ?? Number.NaN;
  durations.sort();
  const runs = jobsByRun(data);
  const wall = runs.reduce((total, run) => {
    const { started, t0, t1 } = runSpan(data, run.jobs);
    return started.length === 0 ? total : total + t1 - t0;
  }, 0);
  const images = new Set<string>();
  for (let i = 0; i < count; i++) {
    const id = data.images.values[data.columns.imageId[i] ?? -1] ?? '';
    const digest = data.images.values[data.columns.imageDigest[i] ?? -1];
    images.add(`${id}${digest ? ` (${digest})` : ''}`);
  }
  const imageList = [...images];
  const parameters = data.reportedParameters();
  const isMultiRun = runs.length > 1;
  const title = options.title ?? 'docker-sim-manager report';
  const card = (id: string, value: string, label: string, color?: string): string => `<div class="card" id="count-${id}"><b${color ? ` style="color:${color}"` : ''}>${value}</b>${label}</div>`;
  const headers = [
    ['name', 'job'],
    ['status', 'status'],
    ['exit', 'exit'],
    ['attempts', 'attempts'],
    ['duration', 'duration (s)'],
    ['cpu', 'CPU (s)'],
    ['memory', 'peak memory / limit'],
    ['started', 'started'],
    ['worker', 'worker'],
    ...(isMultiRun ? [['run', 'run']] : []),
    ...parameters.map((k, n) => [`p${n}`, data.parameterNames[k] ?? '']),
    ['logs', 'logs'],
    ['error', 'error'],
  ];
  const statusOptions = data.statuses.values
    .map((status, id) => ({ status, n: statusCounts[id] ?? 0 }))
    .filter(({ n }) => n > 0)
    .map(({ status, n }) => `<option value="${escapeHtml(status)}">${escapeHtml(status)} (${formatCount(n)})</option>`)
    .join('');

  yield `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
${REPORT_STYLE}</style></head><body>
<h1>${escapeHtml(title)}</h1>
<div class="muted">${options.dataDirectory ? `${escapeHtml(options.dataDirectory)} · ` : ''}${plural(count, 'job')} in ${plural(runs.length, 'run')} · generated ${escapeHtml(new Date().toISOString())}</div>
<div class="cards">
${card('jobs', formatCount(count), 'jobs')}${card('succeeded', formatCount(statusCounts[SUCCEEDED] ?? 0), 'succeeded', STATUS_COLORS.succeeded)}
${card('failed', formatCount(statusCounts[FAILED] ?? 0), 'failed', STATUS_COLORS.failed)}${card('cancelled', formatCount(statusCounts[CANCELLED] ?? 0), 'cancelled', STATUS_COLORS.cancelled)}
${card('wall', `${seconds(wall)} s`, 'wall time')}
${card('job-time', `${seconds(durations[0] ?? 0)} / ${seconds(median(durations))} / ${seconds(durations[durations.length - 1] ?? 0)} s`, 'job time min / median / max')}
</div>
<div>Image: ${imageList
    .slice(0, MAX_IMAGES)
    .map((image) => `<code>${escapeHtml(image)}</code>`)
    .join(', ')}${imageList.length > MAX_IMAGES ? ` and ${formatCount(imageList.length - MAX_IMAGES)} more` : ''}</div>
<h2>Timeline</h2>
<div class="muted">One lane per worker slot; hover a bar for the job (a run of more jobs shows how many ran at once and how busy each slot was). ${(['succeeded', 'failed', 'cancelled'] as const).map((status) => `<span class="dot" style="background:${statusColor(status)}"></span>${status}`).join(' ')}</div>
`;
  yield renderTimelines(data, runs);
  yield `
<h2>Resource usage</h2>
${renderUsage(data)}
<h2>Failures</h2>
${renderFailures(data)}
<h2>Jobs</h2>
<div class="controls">
<label>status <select id="status-filter"><option value="">all (${formatCount(count)})</option>${statusOptions}</select></label>
<label>job <input id="job-search" type="search" placeholder="search job names" autocomplete="off"></label>
<span class="pager"><button type="button" id="first-page">« first</button><button type="button" id="prev-page">‹ previous</button><span id="page-label"></span><button type="button" id="next-page">next ›</button><button type="button" id="last-page">last »</button></span>
</div>
<div class="muted" id="table-status">Loading ${plural(count, 'job')}…</div>
<table id="jobs"><thead><tr>${headers.map(([key, label]) => `<th data-key="${key ?? ''}">${escapeHtml(label)}</th>`).join('')}</tr></thead>
<tbody></tbody></table>
<noscript><p>The table needs JavaScript; trace.csv next to this file has every job.</p></noscript>
<script type="application/json" id="report-data">`;
  yield* tableData(data, parameters);
  yield `</script>
<script>
${REPORT_SCRIPT}
</script>
</body></html>
`;
}
