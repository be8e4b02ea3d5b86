import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { latestRecords, manifestPath, readManifest, type ManifestRecord } from '../manifest/run-manifest.js';
import { ValidationError } from '../errors/validation-error.js';
import { formatBytes, renderUsage } from './render-usage.js';

/** Where `writeReport` wrote. */
export interface ReportFiles {
  html: string;
  csv: string;
  /** How many jobs the report covers (the newest record of each). */
  jobs: number;
}

const COLORS: Record<ManifestRecord['status'], string> = { succeeded: '#2e9d5b', failed: '#d64541', cancelled: '#9aa0a6' };

function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}

function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0 ? 0 : sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The newest record of each job, in the order the jobs first appear in the manifest. */
function jobRecords(records: readonly ManifestRecord[]): ManifestRecord[] {
  return [...latestRecords(records).values()];
}

function parameterNames(records: readonly ManifestRecord[]): string[] {
  return [...new Set(records.flatMap((r) => Object.keys(r.parameters ?? {})))];
}

/** trace.csv: one row per job (its newest record), parameters as `param_<name>` columns. */
export function renderTraceCsv(records: readonly ManifestRecord[]): string {
  const jobs = jobRecords(records);
  const params = parameterNames(jobs);
  const header = ['job', 'run_id', 'slot', 'status', 'exit_code', 'attempts', 'started_at', 'finished_at', 'duration_ms', 'cpu_ms', 'peak_memory_bytes', 'memory_limit_bytes', 'cpus_limit', 'spec_hash', 'image_id', 'image_digest', 'error_code', ...params.map((p) => `param_${p}`)];
  const rows = jobs.map((r) =>
    [r.job, r.runId, r.slot, r.status, r.exitCode, r.attempts, r.startedAt, r.finishedAt, r.durationMs, r.usage?.cpuMs === undefined ? undefined : Math.round(r.usage.cpuMs), r.usage?.peakMemoryBytes, r.limits?.memoryBytes, r.limits?.cpus, r.specHash, r.imageId, r.imageDigest, r.error?.code, ...params.map((p) => r.parameters?.[p])].map(csvField).join(','),
  );
  return `${[header.join(','), ...rows].join('\n')}\n`;
}

/** The timeline of one run: an SVG with one lane per worker slot and one bar per job that started. */
function renderTimeline(runId: string, records: readonly ManifestRecord[]): string {
  const started = records.filter((r) => r.startedAt !== null);
  if (started.length === 0) return `<p class="muted">Run ${escapeHtml(runId)}: no job started.</p>`;
  const t0 = Math.min(...started.map((r) => Date.parse(r.startedAt ?? '')));
  const t1 = Math.max(...started.map((r) => Date.parse(r.finishedAt)));
  const span = Math.max(t1 - t0, 1);
  const slots = [...new Set(started.map((r) => r.slot ?? 0))].sort((a, b) => a - b);
  const laneHeight = 22;
  const left = 70;
  const width = 1000;
  const height = slots.length * laneHeight + 30;
  const x = (time: number): number => left + ((time - t0) / span) * (width - left - 10);
  const lanes = slots
    .map((slot, i) => `<text x="4" y="${i * laneHeight + 15}" class="lane">worker ${slot + 1}</text><line x1="${left}" x2="${width - 10}" y1="${i * laneHeight + 20}" y2="${i * laneHeight + 20}" class="grid"/>`)
    .join('');
  const bars = started
    .map((r) => {
      const lane = slots.indexOf(r.slot ?? 0);
      const start = x(Date.parse(r.startedAt ?? ''));
      const end = Math.max(x(Date.parse(r.finishedAt)), start + 2);
      const tip = `${r.job}: ${r.status}, ${seconds(r.durationMs)} s${r.exitCode === null ? '' : `, exit ${r.exitCode}`}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}`;
      return `<rect class="bar" data-job="${escapeHtml(r.job)}" data-status="${r.status}" x="${start.toFixed(1)}" y="${lane * laneHeight + 3}" width="${(end - start).toFixed(1)}" height="${laneHeight - 6}" rx="3" fill="${COLORS[r.status]}"><title>${escapeHtml(tip)}</title></rect>`;
    })
    .join('');
  const axis = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<text x="${(left + f * (width - left - 10)).toFixed(1)}" y="${height - 5}" class="tick" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${seconds(f * span)} s</text>`)
    .join('');
  return `<figure><figcaption>Run <code>${escapeHtml(runId)}</code>, started ${escapeHtml(new Date(t0).toISOString())}, ${seconds(span)} s</figcaption><svg class="timeline" viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="Timeline of run ${escapeHtml(runId)}">${lanes}${bars}${axis}</svg></figure>`;
}

/** report.html: one self-contained page (inline style and script, nothing loaded from the network). */
export function renderReportHtml(records: readonly ManifestRecord[], options: { title?: string; dataDirectory?: string } = {}): string {
  const jobs = jobRecords(records);
  const params = parameterNames(jobs);
  const count = (status: ManifestRecord['status']): number => jobs.filter((r) => r.status === status).length;
  const durations = jobs.filter((r) => r.startedAt !== null).map((r) => r.durationMs);
  const runs = [...new Set(jobs.map((r) => r.runId))];
  const images = [...new Set(jobs.map((r) => `${r.imageId}${r.imageDigest ? ` (${r.imageDigest})` : ''}`))];
  const byRun = runs.map((runId) => renderTimeline(runId, jobs.filter((r) => r.runId === runId))).join('');
  const wall = runs.reduce((total, runId) => {
    const mine = jobs.filter((r) => r.runId === runId && r.startedAt !== null);
    if (mine.length === 0) return total;
    return total + Math.max(...mine.map((r) => Date.parse(r.finishedAt))) - Math.min(...mine.map((r) => Date.parse(r.startedAt ?? '')));
  }, 0);
  const link = (r: ManifestRecord, file: string): string => {
    const relative = path.relative(options.dataDirectory ?? path.dirname(r.outputDir), path.join(r.outputDir, file)).split(path.sep).join('/');
    return `<a href="${escapeHtml(encodeURI(relative))}">${file}</a>`;
  };
  const rows = jobs
    .map(
      (r) => `<tr class="status-${r.status}">
<td>${escapeHtml(r.job)}</td><td><span class="dot" style="background:${COLORS[r.status]}"></span>${r.status}</td>
<td data-value="${r.exitCode ?? ''}">${r.exitCode ?? '–'}</td><td data-value="${r.attempts}">${r.attempts}</td>
<td data-value="${r.durationMs}">${seconds(r.durationMs)}</td><td data-value="${r.usage?.cpuMs ?? ''}">${r.usage?.cpuMs === undefined ? '–' : seconds(r.usage.cpuMs)}</td><td data-value="${r.usage?.peakMemoryBytes ?? ''}">${r.usage?.peakMemoryBytes === undefined ? '–' : formatBytes(r.usage.peakMemoryBytes)}${r.limits?.memoryBytes === undefined ? '' : ` / ${formatBytes(r.limits.memoryBytes)}`}</td><td>${escapeHtml(r.startedAt ?? '–')}</td>
${params.map((p) => `<td data-value="${escapeHtml(r.parameters?.[p] ?? '')}">${escapeHtml(r.parameters?.[p] ?? '')}</td>`).join('')}
<td>${link(r, 'log.txt')} ${link(r, 'stdout.log')} ${link(r, 'stderr.log')}</td><td class="muted error">${escapeHtml(r.error?.message ?? '')}</td></tr>`,
    )
    .join('\n');
  const title = options.title ?? 'docker-sim-manager report';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#202124;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}.muted{color:#5f6368}.error{white-space:pre-wrap;font-size:12px;max-width:60ch}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}.card{border:1px solid #dadce0;border-radius:8px;padding:10px 14px;min-width:110px}
.card b{display:block;font-size:22px}.timeline{border:1px solid #dadce0;border-radius:6px;background:#fafafa}
.lane,.tick{font-size:11px;fill:#5f6368}.grid{stroke:#e8eaed}figure{margin:0 0 16px}figcaption{margin-bottom:4px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #e8eaed;padding:5px 8px;text-align:left;vertical-align:top}
th{cursor:pointer;user-select:none;background:#f8f9fa;position:sticky;top:0}th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
.usage{border:1px solid #dadce0;border-radius:6px;background:#fafafa}.use{fill:#4a7fd6}.limit{stroke:#202124;stroke-width:2}
.dot{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}code{font-size:12px}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
<div class="muted">${options.dataDirectory ? `${escapeHtml(options.dataDirectory)} · ` : ''}${jobs.length} jobs in ${runs.length} run${runs.length === 1 ? '' : 's'} · generated ${escapeHtml(new Date().toISOString())}</div>
<div class="cards">
<div class="card"><b>${jobs.length}</b>jobs</div><div class="card"><b style="color:${COLORS.succeeded}">${count('succeeded')}</b>succeeded</div>
<div class="card"><b style="color:${COLORS.failed}">${count('failed')}</b>failed</div><div class="card"><b style="color:${COLORS.cancelled}">${count('cancelled')}</b>cancelled</div>
<div class="card"><b>${seconds(wall)} s</b>wall time</div>
<div class="card"><b>${seconds(durations.length ? Math.min(...durations) : 0)} / ${seconds(median(durations))} / ${seconds(durations.length ? Math.max(...durations) : 0)} s</b>job time min / median / max</div>
</div>
<div>Image: ${images.map((i) => `<code>${escapeHtml(i)}</code>`).join(', ')}</div>
<h2>Timeline</h2>
<div class="muted">One lane per worker slot; hover a bar for the job. ${(['succeeded', 'failed', 'cancelled'] as const).map((status) => `<span class="dot" style="background:${COLORS[status]}"></span>${status}`).join(' ')}</div>
${byRun}
<h2>Resource usage</h2>
${renderUsage(jobs)}
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>job</th><th>status</th><th>exit</th><th>attempts</th><th>duration (s)</th><th>CPU (s)</th><th>peak memory / limit</th><th>started</th>${params.map((p) => `<th>${escapeHtml(p)}</th>`).join('')}<th>logs</th><th>error</th></tr></thead>
<tbody>
${rows}
</tbody></table>
<script>
(function () {
  var table = document.getElementById('jobs');
  var headers = table.querySelectorAll('th');
  headers.forEach(function (th, column) {
    th.addEventListener('click', function () {
      var ascending = th.getAttribute('aria-sort') !== 'ascending';
      headers.forEach(function (other) { other.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[column];
        var raw = cell.hasAttribute('data-value') ? cell.getAttribute('data-value') : cell.textContent;
        var number = Number(raw);
        return raw !== '' && !isNaN(number) ? number : raw.toLowerCase();
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = typeof x === typeof y ? (x < y ? -1 : x > y ? 1 : 0) : typeof x === 'number' ? -1 : 1;
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
})();
</script>
</body></html>
`;
}

/**
 * Writes `<dataDirectory>/report.html` and `<dataDirectory>/trace.csv` from the run manifest (the newest record
 * of each job), so it works for resumed and cancelled runs too.
 *
 * @example
 * ```ts
 * const { html } = await writeReport('./out');
 * console.log(`open ${html}`);
 * ```
 */
export async function writeReport(dataDirectory: string, options: { title?: string } = {}): Promise<ReportFiles> {
  const directory = path.resolve(dataDirectory);
  const records = await readManifest(manifestPath(directory));
  if (records.length === 0) {
    throw new ValidationError('dataDirectory', dataDirectory, `No run manifest in ${directory} (.docker-sim-manager/manifest.jsonl): nothing to report. Point at the dataDirectory of a run.`);
  }
  const html = path.join(directory, 'report.html');
  const csv = path.join(directory, 'trace.csv');
  await writeFile(html, renderReportHtml(records, { ...options, dataDirectory: directory }));
  await writeFile(csv, renderTraceCsv(records));
  return { html, csv, jobs: latestRecords(records).size };
}
