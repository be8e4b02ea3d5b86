import { escapeHtml, formatCount, plural } from './html-text.js';
import type { ReportData } from './report-data.js';

/** The most jobs a usage chart draws (the ones with the highest peak memory, or CPU time). */
const MAX_BARS = 60;
/** Intervals of the histogram drawn when more jobs than `MAX_BARS` have a value. */
const HISTOGRAM_BINS = 40;
/** A job whose peak memory reaches this share of its limit is counted as close to it. */
const NEAR_LIMIT = 0.9;

/** `512 MiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

interface BarRow {
  job: string;
  value: number;
  limit: number | undefined;
  label: string;
  limitLabel: string | undefined;
}

/**
 * The indexes of the `limit` jobs with the largest value (values NaN are skipped), largest first; equal values
 * keep the jobs' order. One pass, whatever the number of jobs.
 */
export function largest(count: number, value: (i: number) => number, limit: number): number[] {
  const top: number[] = [];
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = value(i);
    if (Number.isNaN(v) || (top.length === limit && !(v > (values[limit - 1] ?? Number.NEGATIVE_INFINITY)))) continue;
    let low = 0;
    let high = top.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((values[middle] ?? 0) >= v) low = middle + 1;
      else high = middle;
    }
    top.splice(low, 0, i);
    values.splice(low, 0, v);
    if (top.length > limit) {
      top.pop();
      values.pop();
    }
  }
  return top;
}

/**
 * One horizontal bar per job (the given rows, largest first), its value against the job's limit when it had one
 * (a dark tick), so the next sweep can ask for what the jobs really need.
 */
function barChart(title: string, shown: readonly BarRow[], total: number): string {
  if (shown.length === 0) return '';
  const scale = Math.max(...shown.map((r) => Math.max(r.value, r.limit ?? 0)), 1);
  const left = 170;
  const width = 1000;
  const rowHeight = 16;
  const x = (value: number): number => left + (value / scale) * (width - left - 150);
  const bars = shown
    .map((r, i) => {
      const y = i * rowHeight;
      const tick = r.limit === undefined ? '' : `<line class="limit" x1="${x(r.limit).toFixed(1)}" x2="${x(r.limit).toFixed(1)}" y1="${y}" y2="${y + rowHeight - 2}"/>`;
      const tip = `${r.job}: ${r.label}${r.limitLabel ? ` of ${r.limitLabel}` : ''}`;
      return `<text class="lane" x="4" y="${y + 12}">${escapeHtml(r.job.length > 26 ? `${r.job.slice(0, 25)}…` : r.job)}</text><rect class="use" data-job="${escapeHtml(r.job)}" x="${left}" y="${y + 2}" width="${Math.max(x(r.value) - left, 1).toFixed(1)}" height="${rowHeight - 5}" rx="2"><title>${escapeHtml(tip)}</title></rect>${tick}<text class="tick" x="${(Math.max(x(r.value), x(r.limit ?? 0)) + 6).toFixed(1)}" y="${y + 12}">${escapeHtml(r.label)}${r.limitLabel ? ` / ${escapeHtml(r.limitLabel)}` : ''}</text>`;
    })
    .join('');
  const more = total > shown.length ? ` (the ${shown.length} largest of ${formatCount(total)})` : '';
  return `<figure><figcaption>${escapeHtml(title)}${more}; a dark tick marks the job's limit</figcaption><svg class="usage" viewBox="0 0 ${width} ${shown.length * rowHeight + 4}" width="100%" role="img" aria-label="${escapeHtml(title)}">${bars}</svg></figure>`;
}

/** How the values of every job are distributed: `HISTOGRAM_BINS` equal intervals from 0 to the largest value. */
function histogram(title: string, values: Float64Array, format: (value: number) => string): string {
  let max = 0;
  for (const v of values) max = Math.max(max, v);
  if (values.length === 0 || max <= 0) return '';
  const counts = new Float64Array(HISTOGRAM_BINS);
  for (const v of values) {
    const bin = Math.min(Math.floor((Math.max(v, 0) / max) * HISTOGRAM_BINS), HISTOGRAM_BINS - 1);
    counts[bin] = (counts[bin] ?? 0) + 1;
  }
  const most = Math.max(...counts);
  const left = 70;
  const width = 1000;
  const height = 120;
  const barWidth = (width - left - 10) / HISTOGRAM_BINS;
  const bars = [...counts]
    .map((count, k) => {
      const h = (count / most) * height;
      const tip = `${format((k * max) / HISTOGRAM_BINS)} – ${format(((k + 1) * max) / HISTOGRAM_BINS)}: ${plural(count, 'job')}`;
      return `<rect class="hist" x="${(left + k * barWidth + 1).toFixed(1)}" y="${(height - h + 4).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${Math.max(h, count > 0 ? 1 : 0).toFixed(1)}"><title>${escapeHtml(tip)}</title></rect>`;
    })
    .join('');
  const labels = `<text class="tick" x="${left - 6}" y="12" text-anchor="end">${formatCount(most)}</text><text class="tick" x="${left - 6}" y="${height + 4}" text-anchor="end">0</text><text class="tick" x="${left}" y="${height + 20}">0</text><text class="tick" x="${width - 10}" y="${height + 20}" text-anchor="end">${escapeHtml(format(max))}</text>`;
  return `<figure><figcaption>${escapeHtml(title)} (${plural(values.length, 'job')}; hover a bar for its range)</figcaption><svg class="usage histogram" viewBox="0 0 ${width} ${height + 26}" width="100%" role="img" aria-label="${escapeHtml(title)}">${labels}${bars}</svg></figure>`;
}

/** The values of the jobs that have one (NaN is absent). */
function present(count: number, value: (i: number) => number): Float64Array {
  let n = 0;
  for (let i = 0; i < count; i++) if (!Number.isNaN(value(i))) n++;
  const values = new Float64Array(n);
  for (let i = 0, k = 0; i < count; i++) {
    const v = value(i);
    if (!Number.isNaN(v)) values[k++] = v;
  }
  return values;
}

/**
 * The usage section of the report: peak memory and CPU time per job against their limits (the `MAX_BARS`
 * largest), and with more jobs than that, how all of them are distributed and how many came close to their
 * memory limit. Its size does not depend on the number of jobs.
 */
export function renderUsage(data: ReportData): string {
  const count = data.jobCount;
  const memory = (i: number): number => data.columns.peakMemoryBytes[i] ?? Number.NaN;
  const cpu = (i: number): number => data.columns.cpuMs[i] ?? Number.NaN;
  const memoryValues = present(count, memory);
  const cpuValues = present(count, cpu);
  if (memoryValues.length === 0 && cpuValues.length === 0) return '<p class="muted">No resource usage recorded (the engine did not report it, or the jobs ended before its first sample).</p>';

  const memoryRows = largest(count, memory, MAX_BARS).map((i): BarRow => {
    const limit = data.columns.memoryLimitBytes[i] ?? Number.NaN;
    const value = memory(i);
    return { job: data.names[i] ?? '', value, limit: Number.isNaN(limit) ? undefined : limit, label: formatBytes(value), limitLabel: Number.isNaN(limit) ? undefined : formatBytes(limit) };
  });
  // CPU time against what the limit allowed over the job's wall time (cores x duration).
  const cpuRows = largest(count, cpu, MAX_BARS).map((i): BarRow => {
    const cpus = data.columns.cpusLimit[i] ?? Number.NaN;
    const allowed = Number.isNaN(cpus) ? undefined : cpus * (data.columns.durationMs[i] ?? 0);
    return { job: data.names[i] ?? '', value: cpu(i), limit: allowed, label: `${(cpu(i) / 1000).toFixed(2)} s CPU`, limitLabel: allowed === undefined ? undefined : `${(allowed / 1000).toFixed(2)} s (${cpus} cores)` };
  });

  let limited = 0;
  let nearLimit = 0;
  for (let i = 0; i < count; i++) {
    const limit = data.columns.memoryLimitBytes[i] ?? Number.NaN;
    const value = memory(i);
    if (Number.isNaN(limit) || Number.isNaN(value)) continue;
    limited++;
    if (value >= NEAR_LIMIT * limit) nearLimit++;
  }
  const near = limited === 0 ? '' : `<p id="near-memory-limit">${formatCount(nearLimit)} of ${plural(limited, 'job')} with a memory limit peaked at ${NEAR_LIMIT * 100}% of it or more.</p>`;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
  return [
    near,
    barChart('Peak memory per job', memoryRows, memoryValues.length),
    memoryValues.length > MAX_BARS ? histogram('Peak memory of all jobs', memoryValues, formatBytes) : '',
    barChart('CPU time per job', cpuRows, cpuValues.length),
    cpuValues.length > MAX_BARS ? histogram('CPU time of all jobs', cpuValues, seconds) : '',
  ].join('');
}
