import { escapeHtml, formatCount, plural, seconds } from './html-text.js';
import { FAILED, SUCCEEDED, type ReportData } from './report-data.js';

/** Colours of the three statuses; any other status is drawn grey. */
export const STATUS_COLORS: Readonly<Record<string, string>> = { succeeded: '#2e9d5b', failed: '#d64541', cancelled: '#9aa0a6' };
export const statusColor = (status: string): string => STATUS_COLORS[status] ?? '#9aa0a6';

/** A run with at most this many started jobs is drawn with one bar per job; a larger one is aggregated. */
export const MAX_JOB_BARS = 400;
/** The most runs drawn (the first ones); the others are counted. */
export const MAX_RUN_FIGURES = 20;
/** Intervals of the aggregated chart of running jobs, and of each worker slot's busy strip. */
const BINS = 200;
const HEAT_BINS = 100;
/** The most worker slots drawn in a run's busy strips (the lowest-numbered). */
const MAX_LANES = 64;

const WIDTH = 1000;
const LEFT = 70;

/** One run: its id and its jobs (indexes, in job order). */
export interface RunJobs {
  runId: string;
  jobs: Int32Array;
}

/** The jobs of each run, the runs in the order their first job appears (as the report has always listed them). */
export function jobsByRun(data: ReportData): RunJobs[] {
  const counts = new Int32Array(data.runs.values.length);
  const order: number[] = [];
  for (let i = 0; i < data.jobCount; i++) {
    const run = data.columns.run[i] ?? 0;
    if (counts[run] === 0) order.push(run);
    counts[run] = (counts[run] ?? 0) + 1;
  }
  const groups = Array.from(counts, (count) => new Int32Array(count));
  const filled = new Int32Array(counts.length);
  for (let i = 0; i < data.jobCount; i++) {
    const run = data.columns.run[i] ?? 0;
    const group = groups[run];
    const at = filled[run] ?? 0;
    if (group) group[at] = i;
    filled[run] = at + 1;
  }
  return order.map((run) => ({ runId: data.runs.values[run] ?? '', jobs: groups[run] ?? new Int32Array(0) }));
}

/** When a job ended, for drawing: its finish time, else start + duration, never before its start. */
function endOf(data: ReportData, i: number, start: number): number {
  const finished = data.columns.finishedMs[i] ?? Number.NaN;
  const end = Number.isNaN(finished) ? start + (data.columns.durationMs[i] ?? 0) : finished;
  return Number.isNaN(end) ? start : Math.max(end, start);
}

/** The started jobs of a run and the time they span. */
export function runSpan(data: ReportData, jobs: Int32Array): { started: number[]; t0: number; t1: number } {
  const started: number[] = [];
  let t0 = Number.POSITIVE_INFINITY;
  let t1 = Number.NEGATIVE_INFINITY;
  for (const i of jobs) {
    const start = data.columns.startedMs[i] ?? Number.NaN;
    if (Number.isNaN(start)) continue;
    started.push(i);
    t0 = Math.min(t0, start);
    t1 = Math.max(t1, endOf(data, i, start));
  }
  return { started, t0, t1 };
}

function axis(span: number, y: number, right: number): string {
  return [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<text x="${(LEFT + f * (WIDTH - LEFT - right)).toFixed(1)}" y="${y}" class="tick" text-anchor="${f === 0 ? 'start' : f === 1 ? 'end' : 'middle'}">${seconds(f * span)} s</text>`)
    .join('');
}

function caption(runId: string, t0: number, span: number, extra = ''): string {
  return `<figcaption>Run <code>${escapeHtml(runId)}</code>, started ${escapeHtml(new Date(t0).toISOString())}, ${seconds(span)} s${extra}</figcaption>`;
}

/** A small run: one lane per worker slot and one bar per job that started (hover for the job). */
function jobBars(data: ReportData, runId: string, started: readonly number[], t0: number, t1: number): string {
  const span = Math.max(t1 - t0, 1);
  const slots = [...new Set(started.map((i) => (Number.isNaN(data.columns.slot[i] ?? Number.NaN) ? 0 : (data.columns.slot[i] ?? 0))))].sort((a, b) => a - b);
  const laneHeight = 22;
  const height = slots.length * laneHeight + 30;
  const x = (time: number): number => LEFT + ((time - t0) / span) * (WIDTH - LEFT - 10);
  const lanes = slots
    .map((slot, n) => `<text x="4" y="${n * laneHeight + 15}" class="lane">worker ${slot + 1}</text><line x1="${LEFT}" x2="${WIDTH - 10}" y1="${n * laneHeight + 20}" y2="${n * laneHeight + 20}" class="grid"/>`)
    .join('');
  const bars = started
    .map((i) => {
      const slot = data.columns.slot[i] ?? Number.NaN;
      const lane = slots.indexOf(Number.isNaN(slot) ? 0 : slot);
      const begin = data.columns.startedMs[i] ?? t0;
      const start = x(begin);
      const end = Math.max(x(endOf(data, i, begin)), start + 2);
      const status = data.statuses.values[data.columns.status[i] ?? 0] ?? '';
      const exitCode = data.columns.exitCode[i] ?? Number.NaN;
      const attempts = data.columns.attempts[i] ?? 0;
      const job = data.names[i] ?? '';
      const tip = `${job}: ${status}, ${seconds(data.columns.durationMs[i] ?? 0)} s${Number.isNaN(exitCode) ? '' : `, exit ${exitCode}`}${attempts > 1 ? `, ${attempts} attempts` : ''}`;
      return `<rect class="bar" data-job="${escapeHtml(job)}" data-status="${escapeHtml(status)}" x="${start.toFixed(1)}" y="${lane * laneHeight + 3}" width="${(end - start).toFixed(1)}" height="${laneHeight - 6}" rx="3" fill="${statusColor(status)}"><title>${escapeHtml(tip)}</title></rect>`;
    })
    .join('');
  return `<figure class="run" data-run="${escapeHtml(runId)}">${caption(runId, t0, span)}<svg class="timeline" viewBox="0 0 ${WIDTH} ${height}" width="100%" role="img" aria-label="Timeline of run ${escapeHtml(runId)}">${lanes}${bars}${axis(span, height - 5, 10)}</svg></figure>`;
}

/**
 * Adds an interval [from, to] (in units of intervals, 0 <= from <= to <= bins) to per-interval totals: the
 * partial first and last intervals directly, the whole ones in between through a difference array (`whole`), so
 * a job costs the same however many intervals it spans.
 */
function spread(partial: Float64Array, whole: Float64Array, from: number, to: number): void {
  const last = partial.length - 1;
  const a = Math.min(Math.floor(from), last);
  const b = Math.min(Math.floor(to), last);
  if (a === b) {
    partial[a] = (partial[a] ?? 0) + (to - from);
    return;
  }
  partial[a] = (partial[a] ?? 0) + (a + 1 - from);
  partial[b] = (partial[b] ?? 0) + (to - b);
  if (b > a + 1) {
    whole[a + 1] = (whole[a + 1] ?? 0) + 1;
    whole[b] = (whole[b] ?? 0) - 1;
  }
}

/** The per-interval totals of `spread` (in intervals' worth of job time: the average number of jobs running). */
function totals(partial: Float64Array, whole: Float64Array): Float64Array {
  const out = new Float64Array(partial.length);
  let running = 0;
  for (let k = 0; k < partial.length; k++) {
    running += whole[k] ?? 0;
    out[k] = (partial[k] ?? 0) + running;
  }
  return out;
}

/** The most jobs running at one instant (a job ending when another starts does not overlap it). */
function peakRunning(starts: Float64Array, ends: Float64Array): number {
  starts.sort();
  ends.sort();
  let running = 0;
  let peak = 0;
  for (let s = 0, e = 0; s < starts.length; ) {
    if ((starts[s] ?? 0) < (ends[e] ?? Number.POSITIVE_INFINITY)) {
      running++;
      s++;
      peak = Math.max(peak, running);
    } else {
      running--;
      e++;
    }
  }
  return peak;
}

/**
 * A large run, aggregated: the number of jobs running over time (the average over each of `BINS` intervals,
 * stacked by how the jobs ended, against the number of worker slots), then one strip per worker slot shaded by
 * how busy it was over time. Its size does not depend on the number of jobs.
 */
function aggregated(data: ReportData, runId: string, started: readonly number[], t0: number, t1: number): string {
  const span = Math.max(t1 - t0, 1);
  const partial = [new Float64Array(BINS), new Float64Array(BINS), new Float64Array(BINS)];
  const whole = [new Float64Array(BINS + 1), new Float64Array(BINS + 1), new Float64Array(BINS + 1)];
  const starts = new Float64Array(started.length);
  const ends = new Float64Array(started.length);
  const slots = [...new Set(started.map((i) => (Number.isNaN(data.columns.slot[i] ?? Number.NaN) ? 0 : (data.columns.slot[i] ?? 0))))].sort((a, b) => a - b);
  const laneOf = new Map(slots.map((slot, lane) => [slot, lane]));
  const shownLanes = Math.min(slots.length, MAX_LANES);
  const heatPartial = Array.from({ length: shownLanes }, () => new Float64Array(HEAT_BINS));
  const heatWhole = Array.from({ length: shownLanes }, () => new Float64Array(HEAT_BINS + 1));
  const busyMs = new Float64Array(slots.length);
  const laneJobs = new Int32Array(slots.length);
  started.forEach((i, n) => {
    const start = data.columns.startedMs[i] ?? t0;
    const end = endOf(data, i, start);
    starts[n] = start;
    ends[n] = end;
    const status = data.columns.status[i];
    const group = status === SUCCEEDED ? 0 : status === FAILED ? 1 : 2;
    spread(partial[group] ?? new Float64Array(BINS), whole[group] ?? new Float64Array(BINS + 1), ((start - t0) / span) * BINS, ((end - t0) / span) * BINS);
    const slot = data.columns.slot[i] ?? Number.NaN;
    const lane = laneOf.get(Number.isNaN(slot) ? 0 : slot) ?? 0;
    busyMs[lane] = (busyMs[lane] ?? 0) + (end - start);
    laneJobs[lane] = (laneJobs[lane] ?? 0) + 1;
    const heat = heatPartial[lane];
    const heatSum = heatWhole[lane];
    if (heat && heatSum) spread(heat, heatSum, ((start - t0) / span) * HEAT_BINS, ((end - t0) / span) * HEAT_BINS);
  });
  const [succeeded, failed, other] = partial.map((p, g) => totals(p, whole[g] ?? new Float64Array(BINS + 1)));
  if (!succeeded || !failed || !other) return '';
  const peak = peakRunning(starts, ends);
  const busyTotal = busyMs.reduce((sum, ms) => sum + ms, 0);
  const utilisation = busyTotal / (slots.length * span);

  // Running jobs over time.
  const right = 60;
  const top = 8;
  const chartHeight = 150;
  const plotWidth = WIDTH - LEFT - right;
  const stacked = { succeeded, failed: new Float64Array(BINS), all: new Float64Array(BINS) };
  let highest = 0;
  for (let k = 0; k < BINS; k++) {
    stacked.failed[k] = (succeeded[k] ?? 0) + (failed[k] ?? 0);
    stacked.all[k] = (stacked.failed[k] ?? 0) + (other[k] ?? 0);
    highest = Math.max(highest, stacked.all[k] ?? 0);
  }
  const yMax = Math.max(Math.ceil(Math.max(highest, slots.length) * 1.05), 1);
  const xAt = (bin: number): string => (LEFT + (bin / BINS) * plotWidth).toFixed(1);
  const yAt = (value: number): string => (top + chartHeight - (value / yMax) * chartHeight).toFixed(1);
  const base = yAt(0);
  const area = (values: Float64Array, cls: string): string => {
    let d = `M${xAt(0)},${base}`;
    for (let k = 0; k < BINS; k++) d += `V${yAt(values[k] ?? 0)}H${xAt(k + 1)}`;
    return `<path class="${cls}" d="${d}V${base}Z"/>`;
  };
  const binWidthMs = span / BINS;
  const hovers: string[] = [];
  for (let k = 0; k < BINS; k++) {
    const tip = `${seconds(k * binWidthMs)}–${seconds((k + 1) * binWidthMs)} s: ${(stacked.all[k] ?? 0).toFixed(1)} running on average (${(succeeded[k] ?? 0).toFixed(1)} that succeeded, ${(failed[k] ?? 0).toFixed(1)} that failed)`;
    hovers.push(`<rect class="hover" x="${xAt(k)}" y="${top}" width="${(plotWidth / BINS).toFixed(2)}" height="${chartHeight}"><title>${tip}</title></rect>`);
  }
  const capacity = yAt(slots.length);
  const yTicks = [0, Math.round(yMax / 2), yMax]
    .map((v) => `<text class="tick" x="${LEFT - 6}" y="${(Number(yAt(v)) + 4).toFixed(1)}" text-anchor="end">${v}</text><line class="grid" x1="${LEFT}" x2="${WIDTH - right}" y1="${yAt(v)}" y2="${yAt(v)}"/>`)
    .join('');
  const runningChart =
    `<svg class="timeline aggregated" data-jobs="${started.length}" data-peak="${peak}" viewBox="0 0 ${WIDTH} ${top + chartHeight + 22}" width="100%" role="img" aria-label="Jobs running over time in run ${escapeHtml(runId)}">` +
    `${yTicks}${area(stacked.all, 'area-other')}${area(stacked.failed, 'area-failed')}${area(succeeded, 'area-succeeded')}` +
    `<line class="capacity" x1="${LEFT}" x2="${WIDTH - right}" y1="${capacity}" y2="${capacity}"/><text class="tick" x="${WIDTH - right + 4}" y="${(Number(capacity) + 4).toFixed(1)}">${plural(slots.length, 'slot')}</text>` +
    `<text class="lane" x="4" y="${top + 12}">running</text><g class="hovers">${hovers.join('')}</g>${axis(span, top + chartHeight + 18, right)}</svg>`;

  // How busy each worker slot was over time.
  // Many slots: thinner strips, every fourth one labelled (hover any strip for its figures).
  const isCompact = shownLanes > 16;
  const laneHeight = isCompact ? 7 : 14;
  const strips: string[] = [];
  for (let lane = 0; lane < shownLanes; lane++) {
    const heat = totals(heatPartial[lane] ?? new Float64Array(HEAT_BINS), heatWhole[lane] ?? new Float64Array(HEAT_BINS + 1));
    const y = lane * laneHeight;
    const cells: string[] = [];
    // Shades in tenths; neighbouring intervals of the same shade are one rectangle.
    for (let k = 0; k < HEAT_BINS; ) {
      const level = Math.min(Math.round((heat[k] ?? 0) * 10), 10);
      let next = k + 1;
      while (next < HEAT_BINS && Math.min(Math.round((heat[next] ?? 0) * 10), 10) === level) next++;
      if (level > 0) cells.push(`<rect x="${(LEFT + (k / HEAT_BINS) * plotWidth).toFixed(1)}" y="${y + 1}" width="${(((next - k) / HEAT_BINS) * plotWidth).toFixed(1)}" height="${laneHeight - 2}" fill-opacity="${level / 10}"/>`);
      k = next;
    }
    const busy = (busyMs[lane] ?? 0) / span;
    const slot = slots[lane] ?? 0;
    strips.push(
      `<g class="heat" data-slot="${slot}"><title>worker ${slot + 1}: ${plural(laneJobs[lane] ?? 0, 'job')}, busy ${(busy * 100).toFixed(0)}% of the run</title><rect class="idle" x="${LEFT}" y="${y + 1}" width="${plotWidth}" height="${laneHeight - 2}"/>${cells.join('')}` +
        (isCompact && lane % 4 !== 0 ? '' : `<text class="lane" x="4" y="${y + 11}">worker ${slot + 1}</text><text class="tick" x="${WIDTH - right + 4}" y="${y + 11}">${(busy * 100).toFixed(0)}%</text>`) +
        '</g>',
    );
  }
  const laneNote = slots.length > shownLanes ? ` (the first ${shownLanes} of ${formatCount(slots.length)} worker slots)` : '';
  const laneChart = `<svg class="lanes" viewBox="0 0 ${WIDTH} ${shownLanes * laneHeight + (isCompact ? 8 : 2)}" width="100%" role="img" aria-label="How busy each worker slot of run ${escapeHtml(runId)} was">${strips.join('')}</svg>`;
  const extra = ` · ${plural(started.length, 'job')} started · at most ${formatCount(peak)} running at once · ${plural(slots.length, 'worker slot')}, busy ${(utilisation * 100).toFixed(0)}% of the time`;
  return `<figure class="run" data-run="${escapeHtml(runId)}">${caption(runId, t0, span, extra)}${runningChart}<div class="muted small">How busy each worker slot was over time${laneNote}: darker is busier.</div>${laneChart}</figure>`;
}

/**
 * The timeline section: one figure per run (the first `MAX_RUN_FIGURES`): a run with at most `MAX_JOB_BARS`
 * started jobs gets one bar per job on one lane per worker slot; a larger one gets the number of jobs running
 * over time and a busy strip per worker slot, so the page stays small whatever the number of jobs.
 */
export function renderTimelines(data: ReportData, runs: readonly RunJobs[]): string {
  const figures = runs.slice(0, MAX_RUN_FIGURES).map(({ runId, jobs }) => {
    const { started, t0, t1 } = runSpan(data, jobs);
    if (started.length === 0) return `<p class="muted">Run ${escapeHtml(runId)}: no job started.</p>`;
    return started.length <= MAX_JOB_BARS ? jobBars(data, runId, started, t0, t1) : aggregated(data, runId, started, t0, t1);
  });
  const hidden = runs.length - MAX_RUN_FIGURES;
  if (hidden > 0) figures.push(`<p class="muted" id="runs-not-drawn">${plural(hidden, 'more run')} not drawn; their jobs are in the table.</p>`);
  return figures.join('\n');
}
