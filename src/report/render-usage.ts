import type { ManifestRecord } from '../manifest/run-manifest.js';

/** The most jobs a usage chart draws (the ones with the highest peak memory, or CPU time). */
const MAX_BARS = 60;

function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}

/** `512 MiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(0)} KiB`;
}

/**
 * One horizontal bar per job (the `MAX_BARS` largest), its value against the job's limit when it had one (a
 * dark tick), so the next sweep can ask for what the jobs really need.
 */
function barChart(title: string, rows: Array<{ job: string; value: number; limit: number | undefined; label: string; limitLabel: string | undefined }>): string {
  if (rows.length === 0) return '';
  const shown = [...rows].sort((a, b) => b.value - a.value).slice(0, MAX_BARS);
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
  const more = rows.length > shown.length ? ` (the ${shown.length} largest of ${rows.length})` : '';
  return `<figure><figcaption>${escapeHtml(title)}${more}; a dark tick marks the job's limit</figcaption><svg class="usage" viewBox="0 0 ${width} ${shown.length * rowHeight + 4}" width="100%" role="img" aria-label="${escapeHtml(title)}">${bars}</svg></figure>`;
}

/** The usage section of the report: peak memory and CPU time per job against their limits. */
export function renderUsage(jobs: readonly ManifestRecord[]): string {
  const memory = jobs
    .filter((r) => r.usage?.peakMemoryBytes !== undefined)
    .map((r) => ({ job: r.job, value: r.usage?.peakMemoryBytes ?? 0, limit: r.limits?.memoryBytes, label: formatBytes(r.usage?.peakMemoryBytes ?? 0), limitLabel: r.limits?.memoryBytes === undefined ? undefined : formatBytes(r.limits.memoryBytes) }));
  // CPU time against what the limit allowed over the job's wall time (cores x duration).
  const cpu = jobs
    .filter((r) => r.usage?.cpuMs !== undefined)
    .map((r) => {
      const allowed = r.limits?.cpus === undefined ? undefined : r.limits.cpus * r.durationMs;
      return { job: r.job, value: r.usage?.cpuMs ?? 0, limit: allowed, label: `${((r.usage?.cpuMs ?? 0) / 1000).toFixed(2)} s CPU`, limitLabel: allowed === undefined ? undefined : `${(allowed / 1000).toFixed(2)} s (${r.limits?.cpus} cores)` };
    });
  if (memory.length === 0 && cpu.length === 0) return '<p class="muted">No resource usage recorded (the engine did not report it, or the jobs ended before its first sample).</p>';
  return `${barChart('Peak memory per job', memory)}${barChart('CPU time per job', cpu)}`;
}
