/**
 * `npm run bench -- pool`: 60 short monte-carlo-pi jobs at 4 workers, four ways, alternated in each round on the
 * same engine: the package in executionMode 'pool' (A), the package in 'container' mode (B), a plain
 * `xargs -P 4 docker run --rm` loop (C), and the raw floor (D): `xargs -P 4 docker exec` into 4 containers
 * started before the clock. Round 1 is a warm-up. (The manager's own cost per job, with no engine, is the
 * `scale` suite.)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureExampleImage } from '../examples/images.js';
import { DockerSimManager, LABELS, type ExecutionMode, type RunSummary } from '../src/index.js';
import { type RunStats, check, containerIds, formatSeconds, isNoisy, median, observe, printTable, sh } from './lib.js';

const JOBS = 60;
const WORKERS = 4;
const ITERATIONS = 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SEEDS = Array.from({ length: JOBS }, (_, index) => index + 1);
const BENCH_LABEL = 'docker-sim-manager.bench';

type Kind = 'pool' | 'container' | 'run loop' | 'exec floor';
interface Measurement extends RunStats {
  kind: Kind;
  round: number;
}

async function runPackage(image: string, round: number, mode: ExecutionMode): Promise<Measurement> {
  const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-pool-'));
  try {
    const { value: summary, stats } = await observe(
      async (): Promise<RunSummary> => {
        const manager = new DockerSimManager({ image, maxWorkers: WORKERS, dataDirectory, executionMode: mode, defaults: { network: 'none' } });
        manager.addSimJobs(SEEDS.map((seed) => ({ name: `seed${seed}`, command: `-o /mnt/data -r ${seed} -i ${ITERATIONS}` })));
        return manager.startComputation();
      },
      (labels, result) => labels[LABELS.run] === result.runId,
    );
    check(summary.succeeded === JOBS, `${mode} run: ${summary.succeeded}/${JOBS} succeeded: ${summary.results.find((r) => r.error)?.error?.message ?? ''}`);
    const left = await containerIds(`label=${LABELS.run}=${summary.runId}`);
    check(left.length === 0, `${left.length} containers of ${mode} run ${summary.runId} are left`);
    return { kind: mode, round, ...stats };
  } finally {
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

async function runLoop(image: string, round: number): Promise<Measurement> {
  const label = `${BENCH_LABEL}=pool-loop-${process.pid}-${round}`;
  const command = `printf '%s\\n' ${SEEDS.join(' ')} | xargs -P ${WORKERS} -I{} docker run --rm --network none --label ${label} ${image} -o /tmp -r {} -i ${ITERATIONS} >/dev/null`;
  const { stats } = await observe(() => sh(command), (labels) => `${BENCH_LABEL}=${labels[BENCH_LABEL]}` === label);
  check((await containerIds(`label=${label}`)).length === 0, `containers of the run loop (${label}) are left`);
  return { kind: 'run loop', round, ...stats };
}

/** The floor: `docker exec` of the same argv into 4 containers that were started before the clock. */
async function runExecFloor(image: string, round: number): Promise<Measurement> {
  const label = `${BENCH_LABEL}=pool-floor-${process.pid}-${round}`;
  const names = Array.from({ length: WORKERS }, (_, i) => `dsim-bench-floor-${process.pid}-${round}-${i}`);
  const entrypoint = (await sh(`docker image inspect --format '{{join .Config.Entrypoint " "}}' ${image}`)).trim();
  await Promise.all(names.map((name) => sh(`docker run -d --init --network none --label ${label} --name ${name} --entrypoint sleep ${image} infinity`)));
  try {
    // Seed s goes to container s % 4: xargs -P 4 keeps four execs in flight, as the pool does.
    const command = `printf '%s\\n' ${SEEDS.join(' ')} | xargs -P ${WORKERS} -I{} sh -c 'docker exec ${names[0]?.slice(0, -1)}$(( {} % ${WORKERS} )) ${entrypoint} -o /tmp -r {} -i ${ITERATIONS} >/dev/null'`;
    const { stats } = await observe(() => sh(command), (labels) => `${BENCH_LABEL}=${labels[BENCH_LABEL]}` === label);
    return { kind: 'exec floor', round, ...stats };
  } finally {
    await sh(`docker rm -f ${names.join(' ')} >/dev/null`);
  }
}

export async function poolSuite(): Promise<void> {
  check(Number.isInteger(ROUNDS) && ROUNDS >= 2, `Expected BENCH_ROUNDS to be an integer >= 2, got ${process.env.BENCH_ROUNDS}`);
  const engine = (await sh("docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'")).trim();
  const image = await ensureExampleImage('monte-carlo-pi');
  console.log(`suite pool: ${JOBS} jobs (${image} -i ${ITERATIONS}), ${WORKERS} workers, ${ROUNDS} rounds of pool, container, run loop, exec floor; round 1 = warm-up`);
  console.log(`node ${process.version}, ${os.availableParallelism()} cores, ${os.type()} ${os.release()}, Docker engine ${engine}\n`);

  const measurements: Measurement[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const run of [() => runPackage(image, round, 'pool'), () => runPackage(image, round, 'container'), () => runLoop(image, round), () => runExecFloor(image, round)]) {
      const m = await run();
      measurements.push(m);
      console.log(`round ${round}${round === 1 ? ' (warm-up)' : ''}: ${m.kind.padEnd(10)} ${formatSeconds(m.wallMs)}`);
    }
  }
  console.log('');
  printTable(
    ['run', 'round', 'wall', 'machine CPU', 'dockerd+containerd CPU', "others' CPU", "others' containers"],
    measurements.map((m) => [m.kind, m.round === 1 ? '1 (warm-up)' : String(m.round), formatSeconds(m.wallMs), m.machineCpuMs === undefined ? '-' : formatSeconds(m.machineCpuMs), m.daemonCpuMs === undefined ? '-' : formatSeconds(m.daemonCpuMs), m.otherCpuMs === undefined ? '-' : formatSeconds(m.otherCpuMs), String(m.foreignContainers)]),
  );
  const wall = (kind: Kind): number => median(measurements.filter((m) => m.round > 1 && m.kind === kind).map((m) => m.wallMs));
  const [pool, container, loop, floor] = (['pool', 'container', 'run loop', 'exec floor'] as const).map(wall) as [number, number, number, number];

  console.log(`\nmedians over rounds 2..${ROUNDS}:`);
  printTable(
    ['figure', 'value', 'target'],
    [
      ['pool (A)', formatSeconds(pool), ''],
      ['container (B)', formatSeconds(container), ''],
      ['docker run loop (C)', formatSeconds(loop), ''],
      ['docker exec floor (D)', formatSeconds(floor), ''],
      ['pool / exec floor', `${(pool / floor).toFixed(2)}x`, '<= 1.2x'],
      ['run loop / pool (speed-up)', `${(loop / pool).toFixed(2)}x`, '>= 3.5x'],
      ['container / pool (speed-up)', `${(container / pool).toFixed(2)}x`, ''],
    ],
  );
  const noisy = measurements.filter((m) => m.round > 1 && isNoisy(m));
  if (noisy.length > 0) console.warn(`\nwarning: ${noisy.length} measured runs shared the machine: rerun on an idle machine for clean figures`);
}
