import { escapeHtml, formatCount, plural } from './html-text.js';
import { FAILED, type ReportData } from './report-data.js';

/** The most failed jobs listed (the first ones); the table's status filter pages through all of them. */
export const MAX_LISTED_FAILURES = 1_000;

/** The failures section: the first `MAX_LISTED_FAILURES` failed jobs with their exit code, attempts and error. */
export function renderFailures(data: ReportData): string {
  const items: string[] = [];
  let failed = 0;
  for (let i = 0; i < data.jobCount; i++) {
    if (data.columns.status[i] !== FAILED) continue;
    failed++;
    if (items.length === MAX_LISTED_FAILURES) continue;
    const job = data.names[i] ?? '';
    const exitCode = data.columns.exitCode[i] ?? Number.NaN;
    const attempts = data.columns.attempts[i] ?? Number.NaN;
    const code = data.errorCodes.values[data.columns.errorCode[i] ?? -1];
    const message = data.messages.values[data.columns.errorMessage[i] ?? -1];
    const facts = [Number.isNaN(exitCode) ? '' : `exit ${exitCode}`, Number.isNaN(attempts) ? '' : plural(attempts, 'attempt'), code ?? ''].filter((fact) => fact !== '');
    items.push(`<li data-job="${escapeHtml(job)}"><code>${escapeHtml(job)}</code> <span class="muted">${escapeHtml(facts.join(', '))}</span>${message === undefined ? '' : `<div class="error">${escapeHtml(message)}</div>`}</li>`);
  }
  if (failed === 0) return '<p class="muted" id="no-failures">No job failed.</p>';
  const more = failed > items.length ? `<p class="muted" id="more-failures">${formatCount(failed - items.length)} more failed jobs are not listed here: choose the status <q>failed</q> in the table below to page through all ${formatCount(failed)}.</p>` : '';
  const intro = `<p class="muted small">${failed > items.length ? `The first ${formatCount(items.length)} of ${formatCount(failed)} failed jobs` : plural(failed, 'failed job')}; click one to show it in the table.</p>`;
  return `${intro}<ol class="failures" id="failures">${items.join('\n')}</ol>${more}`;
}
