import { parseArgs } from 'node:util';
import { quote } from 'shell-quote';
import { DockerSimManager } from '../manager/docker-sim-manager.js';
import { DockerodeRuntime } from '../runtime/dockerode-runtime.js';
import { LABELS } from '../runtime/labels.js';
import { JobSourceError } from '../errors/job-source-error.js';
import { loadSweepFile } from '../sweep/expand-sweep.js';
import { writeReport } from '../report/write-report.js';
import { formatBytes } from '../report/render-usage.js';
import type { RunUsage } from '../job/job-result.js';
import { JSON_EVENT_NAMES, toJsonEvent } from './json-events.js';
import { lineDisplay, terminalDisplay, type ProgressDisplay } from './progress-display.js';
import { EXAMPLE_IMAGE, buildExampleImage, writeExampleFiles } from './example-image.js';
import { startMonitor } from '../monitor/monitor-server.js';
import { EXIT, reportError, type Out } from './cli-exit.js';
import { exportCommand } from './export-command.js';

export { EXIT } from './cli-exit.js';

export const HELP = `dsim: run containerized simulation sweeps with docker-sim-manager

Usage:
  dsim run <sweep.yaml|sweep.json> [--resume] [--dry-run] [--max-workers N] [--json] [--no-report] [--monitor [HOST:]PORT]
  dsim ps [--json]                  list running jobs of docker-sim-manager on the engine
  dsim clean [--json]               remove containers whose driver process is gone
  dsim report <dataDirectory>       write <dataDirectory>/report.html and trace.csv from the run manifest
  dsim export <sweep> --to kubernetes|argo [--output FILE] [--force]
                                    the sweep as a Kubernetes Indexed Job or an Argo Workflow (YAML on stdout),
                                    using the sweep's kubernetes: settings (see docs/kubernetes.md)
  dsim example-image [--tag T]      build the example simulation image (${EXAMPLE_IMAGE})
  dsim example-image --write DIR    write its Dockerfile and script into DIR, to build or adapt by hand
  dsim --help | --version

run options:
  --resume          skip jobs that already succeeded with the same spec; run the rest
  --dry-run         print the jobs (name and command) and exit; the engine is not contacted
  --max-workers N   override maxWorkers of the sweep file
  --json            print every event as one JSON line on stdout (see docs/cli.md)
  --no-report       do not write report.html and trace.csv at the end
  --monitor [HOST:]PORT  serve a live monitor (page, /metrics) on 127.0.0.1:PORT (0: a free port); its URL,
                    with the token that guards it, is printed once on stderr

The engine is DOCKER_HOST, else the local socket. Ctrl-C stops the run cleanly (a second Ctrl-C at once).

Exit codes:
  0    every job succeeded or was skipped
  1    some jobs failed
  2    bad input: the sweep file, an option, a template, a non-empty job folder without --resume, a bad
       row met while the sweep was read (the jobs before it ran; --resume continues)
  3    engine or registry problem: no engine, image missing or not pullable, credentials refused
  130  the run was cancelled (Ctrl-C, SIGTERM)
`;

async function runCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      resume: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      'max-workers': { type: 'string' },
      json: { type: 'boolean', default: false },
      'no-report': { type: 'boolean', default: false },
      monitor: { type: 'string' },
    },
  });
  const json = values.json ?? false;
  if (positionals.length !== 1) {
    out.stderr.write(`dsim run: expected one sweep file, got ${positionals.length}\n\n${HELP}`);
    return EXIT.badInput;
  }
  try {
    const sweep = await loadSweepFile(positionals[0] ?? '');
    const options = { ...sweep.options };
    if (values['max-workers'] !== undefined) {
      const workers = Number(values['max-workers']);
      if (!Number.isInteger(workers) || workers < 1) {
        out.stderr.write(`dsim run: --max-workers must be a whole number >= 1, got '${values['max-workers']}'\n`);
        return EXIT.badInput;
      }
      options.maxWorkers = workers;
    }
    if (values['dry-run']) {
      // One line per job as it is made, never the whole list: a sweep may have millions of jobs. A repeated
      // name or an invalid job is thrown here, after the lines before it, and reported as any error.
      const drained = (): Promise<void> =>
        new Promise((resolve, reject) => {
          const settle = (error?: Error): void => {
            out.stdout.off('drain', settle).off('error', settle);
            if (error) reject(error);
            else resolve();
          };
          out.stdout.once('drain', settle).once('error', settle);
        });
      for (const job of sweep.jobs) {
        const line = json
          ? `${JSON.stringify({ event: 'job:planned', time: new Date().toISOString(), job: job.name, command: job.settings.argv ?? null, parameters: job.parameters })}\n`
          : `${job.name}\t${quote([...(job.settings.entrypoint ?? []), ...(job.settings.argv ?? [])])}\n`;
        if (!out.stdout.write(line)) await drained();
      }
      if (!json) out.stderr.write(`${sweep.jobs.count} jobs; image ${sweep.options.image}; outputs in ${sweep.options.dataDirectory} (dry run: nothing ran)\n`);
      return EXIT.ok;
    }
    const manager = new DockerSimManager({ ...options, resume: values.resume ?? false, handleSignals: true });
    manager.addSimJobs(sweep.jobs, { total: sweep.jobs.count });
    if (values.monitor !== undefined) {
      const where = /^(?:(.+):)?(\d+)$/.exec(values.monitor);
      if (!where) {
        out.stderr.write(`dsim run: --monitor expects PORT or HOST:PORT (like 8089 or 127.0.0.1:8089), got '${values.monitor}'\n`);
        return EXIT.badInput;
      }
      const monitor = await startMonitor(manager, { port: Number(where[2]), ...(where[1] ? { host: where[1].replace(/^\[|\]$/g, '') } : {}) });
      out.stderr.write(`monitor: ${monitor.url}\n`);
      if (json) out.stdout.write(`${JSON.stringify({ event: 'monitor', time: new Date().toISOString(), port: monitor.port })}\n`);
    }
    let display: ProgressDisplay;
    if (json) {
      for (const event of JSON_EVENT_NAMES) {
        const write = (payload: unknown): void => {
          out.stdout.write(`${JSON.stringify(toJsonEvent(event, payload as never))}\n`);
        };
        manager.on(event, write as never);
      }
      display = { stop: () => undefined };
    } else {
      display = out.stderr.isTTY ? terminalDisplay(manager, out.stderr as NodeJS.WriteStream) : lineDisplay(manager, out.stderr);
    }
    let summary;
    // A row found bad while the sweep was read: what ran is recorded and reported, then the error.
    let sourceError: JobSourceError | undefined;
    try {
      summary = await manager.startComputation();
    } catch (error) {
      if (!(error instanceof JobSourceError)) throw error;
      sourceError = error;
      summary = error.summary;
    } finally {
      display.stop();
    }
    if (!values['no-report']) {
      const report = await writeReport(manager.config.dataDirectory).catch(() => undefined);
      if (report && json) out.stdout.write(`${JSON.stringify({ event: 'report', time: new Date().toISOString(), html: report.html, csv: report.csv })}\n`);
      if (report && !json) out.stderr.write(`report: ${report.html}\n`);
    }
    if (sourceError) return reportError(sourceError, json, out);
    if (!json) {
      // A run that stopped early never read the rest of the sweep: those jobs are counted, not left out.
      const notReached = Math.max(0, sweep.jobs.count - summary.total);
      out.stderr.write(
        `${summary.succeeded} succeeded, ${summary.failed} failed, ${summary.cancelled} cancelled, ${summary.skipped} skipped${notReached > 0 ? `, ${notReached} not reached` : ''} of ${summary.total + notReached} in ${(summary.durationMs / 1000).toFixed(1)} s; outputs in ${manager.config.dataDirectory}${
          summary.withoutOutputCount > 0 ? `; ${summary.withoutOutputCount} left nothing in their output folder (${summary.withoutOutput.slice(0, 5).join(', ')}${summary.withoutOutputCount > 5 ? ', ...' : ''})` : ''
        }\n`,
      );
    }
    if (!json) {
      const usage = usageLine(summary.usage);
      if (usage) out.stderr.write(`${usage}\n`);
    }
    if (summary.stopReason === 'signal' || summary.stopReason === 'cancelled') return EXIT.cancelled;
    return summary.failed > 0 || summary.cancelled > 0 ? EXIT.jobsFailed : EXIT.ok;
  } catch (error) {
    return reportError(error, json, out);
  }
}

/** `usage: 12.3 s CPU in all; peak memory 210.0 MiB at most (job c07), 95.2 MiB median`, when the engine told. */
export function usageLine(usage: RunUsage): string | undefined {
  const { cpuMs, maxPeakMemory, medianPeakMemoryBytes } = usage;
  const parts: string[] = [];
  if (cpuMs !== null) parts.push(`${(cpuMs / 1000).toFixed(1)} s CPU in all`);
  if (maxPeakMemory !== null) parts.push(`peak memory ${formatBytes(maxPeakMemory.bytes)} at most (job ${maxPeakMemory.job}), ${formatBytes(medianPeakMemoryBytes ?? 0)} median`);
  return parts.length === 0 ? undefined : `usage: ${parts.join('; ')}`;
}

function uptime(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${(s / 3600).toFixed(1)}h`;
}

async function psCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  try {
    const runtime = new DockerodeRuntime();
    await runtime.ping();
    const running = (await runtime.listContainers({ [LABELS.run]: undefined })).filter((c) => c.state === 'running');
    const rows = running.map((c) => ({
      runId: c.labels[LABELS.run] ?? '',
      job: c.labels[LABELS.job] ?? '',
      container: c.id.slice(0, 12),
      name: c.name,
      uptime: uptime(Date.now() - c.createdAt),
      ownerHost: c.labels[LABELS.ownerHost] ?? '',
      ownerPid: c.labels[LABELS.ownerPid] ?? '',
    }));
    if (values.json) {
      for (const row of rows) out.stdout.write(`${JSON.stringify(row)}\n`);
    } else {
      const table = [['RUN', 'JOB', 'CONTAINER', 'UPTIME', 'DRIVER'], ...rows.map((r) => [r.runId, r.job, r.container, r.uptime, `${r.ownerHost}:${r.ownerPid}`])];
      const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length))) ?? [];
      for (const row of table) out.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
    }
    return EXIT.ok;
  } catch (error) {
    return reportError(error, values.json ?? false, out);
  }
}

async function cleanCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean', default: false } } });
  try {
    const { removed, kept } = await DockerSimManager.reapOrphans();
    if (values.json) {
      out.stdout.write(`${JSON.stringify({ removed: removed.map((c) => c.name), kept: kept.map((c) => c.name) })}\n`);
    } else {
      for (const c of removed) out.stdout.write(`removed ${c.name} (run ${c.labels[LABELS.run] ?? '?'}, job ${c.labels[LABELS.job] ?? '?'})\n`);
      out.stdout.write(`${removed.length} orphaned containers removed; ${kept.length} kept (their driver is alive or on another host)\n`);
    }
    return EXIT.ok;
  } catch (error) {
    return reportError(error, values.json ?? false, out);
  }
}

async function exampleImageCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseArgs({ args, options: { tag: { type: 'string', default: EXAMPLE_IMAGE }, write: { type: 'string' } } });
  try {
    if (values.write !== undefined) {
      const files = await writeExampleFiles(values.write);
      out.stdout.write(`${files.join('\n')}\nBuild it with: docker build -t ${values.tag} ${values.write}\n`);
      return EXIT.ok;
    }
    const runtime = new DockerodeRuntime();
    await runtime.ping();
    const base = await buildExampleImage(runtime, values.tag);
    out.stdout.write(`image ready: ${values.tag} (from ${base}). Try: ${values.tag} -o /mnt/data -r 1 -i 1000\n`);
    return EXIT.ok;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      out.stderr.write(`dsim example-image: ${(error as Error).message}; nothing was overwritten. Choose an empty folder.\n`);
      return EXIT.badInput;
    }
    return reportError(error, false, out);
  }
}

async function reportCommand(args: string[], out: Out): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 1) {
    out.stderr.write(`dsim report: expected one dataDirectory\n`);
    return EXIT.badInput;
  }
  try {
    const report = await writeReport(positionals[0] ?? '');
    out.stdout.write(`${report.html}\n${report.csv}\n`);
    return EXIT.ok;
  } catch (error) {
    return reportError(error, false, out);
  }
}

/** Runs `dsim` with its arguments; resolves with the exit code. */
export async function runCli(args: string[], out: Out = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, out);
      case 'ps':
        return await psCommand(rest, out);
      case 'clean':
        return await cleanCommand(rest, out);
      case 'report':
        return await reportCommand(rest, out);
      case 'export':
        return await exportCommand(rest, out);
      case 'example-image':
        return await exampleImageCommand(rest, out);
      case '--version':
      case '-v':
        out.stdout.write(`${VERSION}\n`);
        return EXIT.ok;
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        out.stdout.write(HELP);
        return command === undefined ? EXIT.badInput : EXIT.ok;
      default:
        out.stderr.write(`dsim: unknown command '${command}'\n\n${HELP}`);
        return EXIT.badInput;
    }
  } catch (error) {
    // parseArgs: an unknown or malformed option
    out.stderr.write(`dsim ${command}: ${(error as Error).message}\n`);
    return EXIT.badInput;
  }
}

declare const __DSIM_VERSION__: string | undefined;
const VERSION = typeof __DSIM_VERSION__ === 'string' ? __DSIM_VERSION__ : 'development';
