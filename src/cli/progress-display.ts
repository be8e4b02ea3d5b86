import cliProgress from 'cli-progress';
import type { DockerSimManager } from '../manager/docker-sim-manager.js';
import type { DockerSimError } from '../errors/docker-sim-error.js';

/** Something that shows a run's progress; `stop()` ends it (before the summary is printed). */
export interface ProgressDisplay {
  stop(): void;
}

interface Counts {
  total: number;
  done: number;
  failed: number;
  cancelled: number;
  skipped: number;
  running: number;
}

function track(manager: DockerSimManager, onChange: (counts: Counts) => void): Counts {
  const counts: Counts = { total: 0, done: 0, failed: 0, cancelled: 0, skipped: 0, running: 0 };
  const running = new Set<string>();
  // A lazy source may not say how many jobs it holds: the total then grows with the jobs read.
  let known: number | null = null;
  let read = 0;
  const changed = (): void => {
    counts.running = running.size;
    counts.total = known ?? read;
    onChange(counts);
  };
  manager.on('run:started', ({ total }) => {
    known = total;
    read = 0;
    changed();
  });
  manager.on('job:queued', () => {
    read += 1;
    changed();
  });
  manager.on('job:started', ({ job }) => {
    running.add(job.name);
    changed();
  });
  manager.on('job:retrying', ({ job }) => {
    running.delete(job.name);
    changed();
  });
  manager.on('job:skipped', () => {
    counts.skipped += 1;
    read += 1;
    changed();
  });
  const ended = (key: 'done' | 'failed' | 'cancelled', name: string): void => {
    counts[key] += 1;
    running.delete(name);
    changed();
  };
  manager.on('job:succeeded', ({ job }) => ended('done', job.name));
  manager.on('job:failed', ({ job }) => ended('failed', job.name));
  manager.on('job:cancelled', ({ job }) => ended('cancelled', job.name));
  return counts;
}

/**
 * A failure on one line: the message's first sentence, the last line the job wrote to stderr (usually the
 * reason: an exception, an assertion) and where the whole log is.
 */
export function describeFailure(error: DockerSimError): string {
  const first = (error.message.split('\n')[0] ?? '').replace(/ The last lines of its stderr:$/, '');
  const { stderrTail, logFile } = error as DockerSimError & { stderrTail?: readonly string[]; logFile?: string };
  const last = stderrTail?.[stderrTail.length - 1]?.trim();
  return `${first}${last ? ` Last stderr line: ${last}` : ''}${logFile && !first.includes(logFile) ? ` (log: ${logFile})` : ''}`;
}

function failureLine(name: string, error: DockerSimError): string {
  return `✘ ${name}: ${describeFailure(error)}`;
}

/**
 * A live display for a terminal (cli-progress): a bar with done, failed, running and queued counts, throughput
 * and ETA, plus a bar for the image pull while it lasts. Failures are printed above the bars.
 */
export function terminalDisplay(manager: DockerSimManager, stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      clearOnComplete: false,
      hideCursor: true,
      format: '{label} {bar} {value}/{total} | {details}',
      autopadding: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let jobsBar: cliProgress.SingleBar | undefined;
  let pullBar: cliProgress.SingleBar | undefined;
  const layers = new Map<string, { current: number; total: number }>();
  const startedAt = Date.now();
  const details = (c: Counts): string => {
    const finished = c.done + c.failed + c.cancelled;
    const minutes = (Date.now() - startedAt) / 60_000;
    const rate = minutes > 0 ? (finished / minutes).toFixed(1) : '0.0';
    const queued = Math.max(0, c.total - finished - c.skipped - c.running);
    const left = c.total - finished - c.skipped;
    const etaSeconds = finished > 0 && left > 0 ? Math.round((left * (Date.now() - startedAt)) / finished / 1000) : undefined;
    const eta = left === 0 ? 'done' : etaSeconds === undefined ? 'ETA -' : `ETA ${etaSeconds >= 60 ? `${Math.floor(etaSeconds / 60)}m ${etaSeconds % 60}s` : `${etaSeconds}s`}`;
    return `${c.done} done, ${c.failed} failed, ${c.running} running, ${queued} queued${c.skipped ? `, ${c.skipped} skipped` : ''} | ${rate} jobs/min | ${eta}`;
  };
  const counts = track(manager, (c) => {
    jobsBar ??= multibar.create(c.total, 0, { label: 'jobs', details: details(c) });
    jobsBar.setTotal(c.total);
    jobsBar.update(c.done + c.failed + c.cancelled + c.skipped, { details: details(c) });
  });
  manager.on('image:pull-progress', ({ image, layer, current, total }) => {
    if (layer && total) layers.set(layer, { current: current ?? 0, total });
    const sum = [...layers.values()].reduce((acc, l) => ({ current: acc.current + l.current, total: acc.total + l.total }), { current: 0, total: 0 });
    const mb = (bytes: number): number => Math.round(bytes / 1e6);
    pullBar ??= multibar.create(1, 0, { label: 'pull', details: image });
    pullBar.setTotal(Math.max(mb(sum.total), 1));
    pullBar.update(mb(sum.current), { details: `${image} (MB)` });
  });
  manager.on('image:ready', () => {
    if (pullBar) {
      pullBar.update(pullBar.getTotal());
      pullBar.stop();
    }
  });
  // Lines above the bars: cli-progress prints them at its next redraw, so before the first bar exists they go
  // straight to the stream, and stop() forces a last redraw: no event the plain display prints is dropped.
  const log = (text: string): void => {
    if (jobsBar || pullBar) multibar.log(`${text}\n`);
    else stream.write(`${text}\n`);
  };
  manager.on('job:failed', ({ job, error }) => log(failureLine(job.name, error)));
  manager.on('job:stalled', ({ job, silentMs }) => log(`… ${job.name}: no output for ${(silentMs / 1000).toFixed(0)} s, stopping it as stalled`));
  manager.on('job:retrying', ({ job, attempt, delayMs, error }) => log(`↻ ${job.name}: attempt ${attempt} in ${(delayMs / 1000).toFixed(1)} s (${error.code})`));
  manager.on('run:cancelling', ({ reason }) => log(`Stopping the run (${reason}): running containers are being stopped and removed...`));
  manager.on('run:orphans-removed', ({ containers }) => log(`Removed ${containers.length} containers left by a driver that is gone.`));
  manager.on('run:warning', ({ message }) => log(`! ${message}`));
  return {
    stop: () => {
      if (jobsBar) jobsBar.update({ details: details(counts) });
      multibar.update();
      multibar.stop();
    },
  };
}

/** One plain line per job event, for logs and pipes (no escape codes). */
export function lineDisplay(manager: DockerSimManager, stream: NodeJS.WritableStream = process.stderr): ProgressDisplay {
  const print = (text: string): void => {
    stream.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
  };
  let total: number | null = 0;
  let finished = 0;
  manager.on('run:started', ({ runId, total: jobs }) => {
    total = jobs;
    print(`run ${runId}: ${jobs ?? 'a stream of'} jobs`);
  });
  manager.on('image:ready', ({ image, id, wasPulled }) => print(`image ${image} = ${id.slice(0, 19)}${wasPulled ? ' (pulled)' : ''}`));
  manager.on('job:started', ({ job, attempt }) => print(`started   ${job.name}${attempt > 1 ? ` (attempt ${attempt})` : ''}`));
  manager.on('job:skipped', ({ job }) => print(`skipped   ${job.name} (succeeded earlier with the same spec)`));
  manager.on('job:succeeded', ({ job, result }) => print(`succeeded ${job.name} in ${(result.durationMs / 1000).toFixed(1)} s [${++finished}/${total ?? '?'}]`));
  manager.on('job:failed', ({ job, error }) => print(`failed    ${job.name}: ${describeFailure(error)} [${++finished}/${total ?? '?'}]`));
  manager.on('job:cancelled', ({ job }) => print(`cancelled ${job.name} [${++finished}/${total ?? '?'}]`));
  manager.on('job:stalled', ({ job, silentMs }) => print(`stalled   ${job.name}: no output for ${(silentMs / 1000).toFixed(0)} s`));
  manager.on('job:retrying', ({ job, attempt, delayMs, error }) => print(`retrying  ${job.name}: attempt ${attempt} in ${(delayMs / 1000).toFixed(1)} s (${error.code})`));
  manager.on('run:cancelling', ({ reason }) => print(`stopping the run (${reason})`));
  manager.on('run:orphans-removed', ({ containers }) => print(`removed ${containers.length} containers left by a driver that is gone`));
  manager.on('run:warning', ({ message }) => print(`warning: ${message}`));
  return { stop: () => undefined };
}
