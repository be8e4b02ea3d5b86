/**
 * `npm run bench -- run`: 60 short monte-carlo-pi jobs at 4 workers, through DockerSimManager (A), the same with
 * `collectUsage: false` (A'), the package with the live monitor serving one open page (A") and a plain
 * `xargs -P 4 docker run --rm` loop (B), alternated on the same engine. Round 1 is a warm-up: it is shown
 * but left out of the medians.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureExampleImage } from '../examples/images.js';
import { DockerSimManager, LABELS, SimJob, startMonitor, type RunSummary } from '../src/index.js';
import {
  type RunStats,
  check,
  containerIds,
  isNoisy,
  observe,
  formatMiB,
  formatSeconds,
  median,
  printTable,
  sh,
  startCpuMeter,
  startRssSampler,
} from './lib.js';

const JOBS = 60;
const WORKERS = 4;
const ITERATIONS = 1000;
/** Rounds of A then B; the first one is the warm-up. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SEEDS = Array.from({ length: JOBS }, (_, index) => index + 1);

interface Measurement extends RunStats {
  /** `package`: usage collection on (the default); `no-usage`: `collectUsage: false`; `loop`: the shell loop. */
  kind: 'package' | 'no-usage' | 'monitor' | 'loop';
  round: number;
  /** The package runs only: this node process's CPU and peak RSS. */
  nodeCpu?: { userMs: number; systemMs: number };
  peakRssBytes?: number;
}

/** The label put on the shell loop's containers, so they can be told from other people's and checked for leftovers. */
const LOOP_LABEL = 'docker-sim-manager.bench';

/** Every job succeeded, wrote pi.txt with a plausible estimate, and no container of the run is left. */
async function verifyPackageRun(summary: RunSummary): Promise<void> {
  const failed = summary.results.filter((result) => result.status !== 'succeeded');
  check(
    summary.total === JOBS && failed.length === 0,
    `package run ${summary.runId}: ${summary.succeeded}/${JOBS} jobs succeeded; ${failed
      .slice(0, 5)
      .map((result) => `${result.name}: ${result.status} ${result.error?.message ?? ''}`)
      .join('; ')}`,
  );
  for (const result of summary.results) {
    const piFile = path.join(result.outputDir, 'pi.txt');
    check(existsSync(piFile), `package run ${summary.runId}: job ${result.name} has no ${piFile}`);
    const estimate = Number((await readFile(piFile, 'utf8')).trim());
    check(estimate > 2 && estimate < 4.01, `package run ${summary.runId}: job ${result.name} wrote an implausible pi estimate ${estimate}`);
  }
  const ours = await containerIds(`label=${LABELS.run}=${summary.runId}`);
  check(ours.length === 0, `${ours.length} containers of package run ${summary.runId} are left on the engine`);
  const others = await containerIds(`label=${LABELS.run}`);
  if (others.length > 0) console.warn(`warning: ${others.length} containers of another docker-sim-manager run are on the engine: it is shared, the figures are noisy`);
}

/** Reads a monitor's event stream to its end, as an open browser tab would. */
async function watchMonitor(url: string, signal: AbortSignal): Promise<number> {
  let snapshots = 0;
  try {
    const response = await fetch(url, { signal });
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) snapshots += Buffer.from(chunk).toString('utf8').split('event: snapshot').length - 1;
  } catch {
    // aborted at the end of the run
  }
  return snapshots;
}

async function runPackage(image: string, round: number, variant: 'package' | 'no-usage' | 'monitor' = 'package'): Promise<Measurement> {
  const collectUsage = variant !== 'no-usage';
  const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-'));
  try {
    const { value, stats } = await observe(
      async () => {
        const rss = startRssSampler(50);
        const nodeCpu = startCpuMeter();
        const manager = new DockerSimManager({ image, maxWorkers: WORKERS, dataDirectory, collectUsage, defaults: { network: 'none' } });
        for (const seed of SEEDS) manager.addSimJob(new SimJob({ name: `seed${seed}`, command: `-o /mnt/data -r ${seed} -i ${ITERATIONS}` }));
        // The monitor variant serves the live page and keeps one event stream open for the whole run.
        const monitor = variant === 'monitor' ? await startMonitor(manager) : undefined;
        const watching = new AbortController();
        const watched = monitor ? watchMonitor(`http://127.0.0.1:${monitor.port}/events?token=${monitor.token}`, watching.signal) : undefined;
        const summary = await manager.startComputation();
        watching.abort();
        if (watched) check((await watched) > 0, 'the monitor sent no snapshot during the run');
        await monitor?.close();
        return { summary, nodeCpu: nodeCpu(), peakRssBytes: rss.stop() };
      },
      (labels, { summary }) => labels[LABELS.run] === summary.runId,
    );
    await verifyPackageRun(value.summary);
    return { kind: variant, round, ...stats, nodeCpu: value.nodeCpu, peakRssBytes: value.peakRssBytes };
  } finally {
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

async function runLoop(image: string, round: number): Promise<Measurement> {
  const label = `${LOOP_LABEL}=loop-${process.pid}-${round}`;
  const command = `printf '%s\\n' ${SEEDS.join(' ')} | xargs -P ${WORKERS} -I{} docker run --rm --network none --label ${label} ${image} -o /tmp -r {} -i ${ITERATIONS} >/dev/null`;
  // sh() rejects when any docker run failed (xargs exits 123).
  const { stats } = await observe(() => sh(command), (labels) => `${LOOP_LABEL}=${labels[LOOP_LABEL]}` === label);
  const left = await containerIds(`label=${label}`);
  check(left.length === 0, `${left.length} containers of the shell loop (${label}) are left on the engine`);
  return { kind: 'loop', round, ...stats };
}

function describe(m: Measurement): string[] {
  return [
    `${{ package: 'A package', 'no-usage': "A' package, collectUsage: false", monitor: 'A\" package + monitor (one page open)', loop: 'B loop' }[m.kind]}`,
    m.round === 1 ? '1 (warm-up)' : String(m.round),
    formatSeconds(m.wallMs),
    m.nodeCpu === undefined ? '-' : formatSeconds(m.nodeCpu.userMs + m.nodeCpu.systemMs),
    m.peakRssBytes === undefined ? '-' : formatMiB(m.peakRssBytes),
    m.machineCpuMs === undefined ? '-' : formatSeconds(m.machineCpuMs),
    m.machineCpuMs === undefined ? '-' : `${(m.machineCpuMs / JOBS / 1000).toFixed(2)} s`,
    m.daemonCpuMs === undefined ? '-' : formatSeconds(m.daemonCpuMs),
    m.otherCpuMs === undefined ? '-' : formatSeconds(m.otherCpuMs),
    String(m.foreignContainers),
  ];
}

export async function runSuite(): Promise<void> {
  const baselineRssBytes = process.memoryUsage.rss();
  check(Number.isInteger(ROUNDS) && ROUNDS >= 2, `Expected BENCH_ROUNDS to be an integer >= 2 (one warm-up round, then measured rounds), got ${process.env.BENCH_ROUNDS}`);
  const engine = (await sh("docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'")).trim();
  const image = await ensureExampleImage('monte-carlo-pi');
  const present = await containerIds();
  if (present.length > 0) console.warn(`warning: ${present.length} containers are already on the engine: it is shared, the figures will be noisy`);

  console.log(`suite run: ${JOBS} jobs (${image} -i ${ITERATIONS}, seeds 1..${JOBS}), ${WORKERS} workers, ${ROUNDS} rounds of A then B, round 1 = warm-up`);
  console.log(`node ${process.version}, ${os.availableParallelism()} cores, ${os.type()} ${os.release()}, Docker engine ${engine}\n`);

  const measurements: Measurement[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const run of [runPackage, (img: string, r: number) => runPackage(img, r, 'no-usage'), (img: string, r: number) => runPackage(img, r, 'monitor'), runLoop]) {
      const m = await run(image, round);
      measurements.push(m);
      console.log(`round ${round}${round === 1 ? ' (warm-up)' : ''}: ${m.kind.padEnd(8)} ${formatSeconds(m.wallMs)}`);
    }
  }

  console.log('');
  printTable(['run', 'round', 'wall', 'node CPU', 'peak RSS', 'machine CPU', 'machine CPU/job', 'dockerd+containerd CPU', 'others\' CPU', 'others\' containers'], measurements.map(describe));

  const measured = measurements.filter((m) => m.round > 1);
  const packages = measured.filter((m) => m.kind === 'package');
  const loops = measured.filter((m) => m.kind === 'loop');
  const withoutUsage = measured.filter((m) => m.kind === 'no-usage');
  const withMonitor = measured.filter((m) => m.kind === 'monitor');
  const monitorWall = median(withMonitor.map((m) => m.wallMs));
  const packageWall = median(packages.map((m) => m.wallMs));
  const noUsageWall = median(withoutUsage.map((m) => m.wallMs));
  const machineCpu = (runs: Measurement[]): number => median(runs.map((m) => m.machineCpuMs ?? Number.NaN));
  const loopWall = median(loops.map((m) => m.wallMs));
  const nodeUser = median(packages.map((m) => m.nodeCpu?.userMs ?? Number.NaN));
  const nodeSystem = median(packages.map((m) => m.nodeCpu?.systemMs ?? Number.NaN));
  const nodeCpu = median(packages.map((m) => (m.nodeCpu ? m.nodeCpu.userMs + m.nodeCpu.systemMs : Number.NaN)));
  const peakRss = Math.max(...packages.map((m) => m.peakRssBytes ?? 0));
  console.log(`\nmedians over rounds 2..${ROUNDS}:`);
  printTable(
    ['figure', 'value'],
    [
      ['package wall (A)', formatSeconds(packageWall)],
      ['loop wall (B)', formatSeconds(loopWall)],
      ['ratio A/B', `${(packageWall / loopWall).toFixed(2)}x`],
      ["package wall without usage collection (A')", formatSeconds(noUsageWall)],
      ["usage collection: wall A/A'", `${(packageWall / noUsageWall).toFixed(2)}x`],
      ['package wall with the monitor (A")', formatSeconds(monitorWall)],
      ['monitor: wall A"/A', `${(monitorWall / packageWall).toFixed(2)}x`],
      ['monitor: node CPU A"/A', `${formatSeconds(median(withMonitor.map((m) => (m.nodeCpu ? m.nodeCpu.userMs + m.nodeCpu.systemMs : Number.NaN))))} / ${formatSeconds(median(packages.map((m) => (m.nodeCpu ? m.nodeCpu.userMs + m.nodeCpu.systemMs : Number.NaN))))}`],
      ["usage collection: machine CPU A/A'", `${formatSeconds(machineCpu(packages))} / ${formatSeconds(machineCpu(withoutUsage))} = ${(machineCpu(packages) / machineCpu(withoutUsage)).toFixed(2)}x`],
      ['package node CPU (user+sys)', `${formatSeconds(nodeCpu)} = ${formatSeconds(nodeUser)} + ${formatSeconds(nodeSystem)} (${(nodeCpu / JOBS).toFixed(1)} ms/job)`],
      ['package peak RSS (50 ms samples)', `${formatMiB(peakRss)} (${formatMiB(baselineRssBytes)} before the first run)`],
      ['process maxRSS (whole bench)', formatMiB(process.resourceUsage().maxRSS * 1024)],
    ],
  );
  const noisy = measured.filter(isNoisy);
  if (noisy.length > 0) {
    console.warn(`\nwarning: ${noisy.length} measured runs shared the machine (others' CPU above 5% of the machine's, or others' containers): rerun on an idle machine for clean figures`);
  }
}
