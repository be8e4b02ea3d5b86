/** Helpers shared by the benchmark suites: timing, CPU and memory meters, statistics, shell, tables. */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** A benchmark whose result cannot be trusted (a job failed, an output is missing, a container leaked). */
export class BenchFailure extends Error {
  override name = 'BenchFailure';
}

/** Throws a `BenchFailure` with `message` unless `condition` holds. */
export function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new BenchFailure(message);
}

/** Runs `fn` and returns its value and its wall time. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; wallMs: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, wallMs: performance.now() - started };
}

/** The median; rejects an empty list. */
export function median(values: readonly number[]): number {
  check(values.length > 0, 'median() of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

/** Samples this process's resident set size every `intervalMs`; `stop()` returns the peak in bytes. */
export function startRssSampler(intervalMs = 50): { stop(): number } {
  let peakBytes = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peakBytes = Math.max(peakBytes, process.memoryUsage.rss());
  }, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peakBytes, process.memoryUsage.rss());
    },
  };
}

/** Milliseconds of CPU (user + system) this process spent since `startCpuMeter()` was called. */
export function startCpuMeter(): () => { userMs: number; systemMs: number } {
  const start = process.cpuUsage();
  return () => {
    const { user, system } = process.cpuUsage(start);
    return { userMs: user / 1000, systemMs: system / 1000 };
  };
}

/** Busy CPU time of the whole machine (every process, every core) from /proc/stat, in ms; undefined off Linux. */
function machineBusyMs(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [, ...fields] = line.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
    const busyTicks = fields.reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
    return (busyTicks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Machine-wide busy CPU ms since the call (all processes: engine, shims, containers, clients). */
export function startMachineCpuMeter(): () => number | undefined {
  const start = machineBusyMs();
  return () => {
    const end = machineBusyMs();
    return start === undefined || end === undefined ? undefined : end - start;
  };
}

interface ProcessInfo {
  ppid: number;
  comm: string;
  /** user + system CPU ms over the process's life so far. */
  cpuMs: number;
}

/** Every process in /proc with its parent, name and CPU; empty off Linux. */
function listProcesses(): Map<number, ProcessInfo> {
  const processes = new Map<number, ProcessInfo>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return processes;
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' '); // fields[0] is field 3 (state): ppid is 4, utime 14, stime 15
      const ticks = Number(fields[11]) + Number(fields[12]);
      processes.set(Number(entry), { ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, close), cpuMs: ticks * 10 }); // USER_HZ = 100
    } catch {
      // the process ended meanwhile
    }
  }
  return processes;
}

const DAEMONS = new Set(['dockerd', 'containerd']);
/** The engine's processes: daemons, shims (`containerd-shim` is the 15-character comm), runc, docker-init. */
const isEngineProcess = (comm: string): boolean => DAEMONS.has(comm) || /^(containerd-shim|runc|docker-init)/.test(comm);

/** Who a process belongs to: this process and its children, the engine (and the containers under its shims), the kernel, or someone else. */
function ownerOf(pid: number, processes: Map<number, ProcessInfo>): 'self' | 'engine' | 'kernel' | 'other' {
  for (let current = pid, hops = 0; hops < 64; hops++) {
    const info = processes.get(current);
    if (current === process.pid) return 'self';
    if (info === undefined || current <= 1) return 'other';
    if (current === 2 || info.ppid === 2) return 'kernel';
    if (isEngineProcess(info.comm)) return 'engine';
    current = info.ppid;
  }
  return 'other';
}

/**
 * CPU ms spent since the call by the engine's daemons (dockerd + containerd) and by other people's processes (not
 * this process or its children, not the engine or its containers, not kernel threads). The second figure is a
 * noise indicator and a lower bound: a process that started and ended between the two readings is not seen.
 * Both are undefined off Linux.
 */
export function startProcessCpuMeter(): () => { daemonsMs: number; othersMs: number } | undefined {
  const before = listProcesses();
  return () => {
    const after = listProcesses();
    if (after.size === 0) return undefined;
    let daemonsMs = 0;
    let othersMs = 0;
    for (const [pid, info] of after) {
      const spentMs = info.cpuMs - (before.get(pid)?.cpuMs ?? 0);
      if (DAEMONS.has(info.comm)) daemonsMs += spentMs;
      else if (ownerOf(pid, after) === 'other') othersMs += spentMs;
    }
    return { daemonsMs, othersMs };
  };
}

/** Runs `command` with `sh -c`; resolves with stdout, rejects with stderr in the message. */
export function sh(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', command], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new BenchFailure(`\`${command}\` failed (${error.code ?? error.message}): ${stderr.trim()}`, { cause: error }));
      else resolve(stdout);
    });
  });
}

/**
 * Records the labels (and `image`, `name`) of every container the engine creates from now on, through a live
 * `docker events` child process (the engine keeps only its last 256 events, too few to ask afterwards).
 * `event` picks another container event instead: `exec_create` records one entry per exec (its container's
 * labels, `execID`). `stop()` may be called more than once.
 */
export function watchContainerCreates(event = 'create'): { stop(): Promise<Array<Record<string, string>>> } {
  const since = (Date.now() / 1000).toFixed(3); // events between this instant and the subscription are replayed
  const child = spawn('docker', ['events', '--since', since, '--filter', 'type=container', '--filter', `event=${event}`, '--format', '{{json .Actor.Attributes}}'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  let stopped: Promise<Array<Record<string, string>>> | undefined;
  const stop = async (): Promise<Array<Record<string, string>>> => {
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the last events arrive
    child.kill();
    await exited;
    return output
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, string>);
  };
  return { stop: () => (stopped ??= stop()) };
}

export const formatSeconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const formatMiB = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Prints rows as an aligned plain-text table (first column left-aligned, the others right-aligned). */
export function printTable(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  console.log(format(headers));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(format(row));
}

/** What is measured around every run, package or loop. */
export interface RunStats {
  wallMs: number;
  /** Busy CPU of the whole machine during the run (engine, shims, containers, clients). */
  machineCpuMs: number | undefined;
  /** CPU of the engine's daemons, dockerd + containerd (not the shims, runc or the containers). */
  daemonCpuMs: number | undefined;
  /** CPU of other people's processes during the run (a lower bound): non-zero means the figures are noisy. */
  otherCpuMs: number | undefined;
  /** Containers someone else created on the engine during the run: non-zero means the figures are noisy. */
  foreignContainers: number;
}

/**
 * Runs `fn` timed, under a machine CPU meter and a watcher of container creations; counts the containers created
 * meanwhile that `isOurs` does not claim.
 */
export async function observe<T>(
  fn: () => Promise<T>,
  isOurs: (labels: Record<string, string>, value: T) => boolean,
): Promise<{ value: T; stats: RunStats }> {
  const watcher = watchContainerCreates();
  try {
    const machineCpu = startMachineCpuMeter();
    const processCpu = startProcessCpuMeter();
    const { value, wallMs } = await timed(fn);
    const machineCpuMs = machineCpu();
    const byOwner = processCpu();
    const created = await watcher.stop();
    const foreignContainers = created.filter((labels) => !isOurs(labels, value)).length;
    return { value, stats: { wallMs, machineCpuMs, daemonCpuMs: byOwner?.daemonsMs, otherCpuMs: byOwner?.othersMs, foreignContainers } };
  } finally {
    await watcher.stop();
  }
}

/** Ids of the engine's containers, in any state, that match `filter` (all of them without one). */
export async function containerIds(filter?: string): Promise<string[]> {
  return (await sh(`docker ps -aq --no-trunc${filter === undefined ? '' : ` --filter ${filter}`}`)).split('\n').filter((id) => id !== '');
}

/** Someone else used the machine or the engine noticeably during the run. */
export const isNoisy = (m: RunStats): boolean => m.foreignContainers > 0 || (m.otherCpuMs ?? 0) > 0.05 * (m.machineCpuMs ?? Number.POSITIVE_INFINITY);

