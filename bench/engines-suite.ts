/**
 * `npm run bench -- engines`: the same 60 short monte-carlo-pi jobs at 4 workers on Docker and on rootful Podman
 * (its Docker-compatible socket), in fresh containers and in the warm pool, the four alternated in each round on
 * one machine. Round 1 is a warm-up. Needs both engines (scripts/docker-engine.sh, scripts/podman-service.sh).
 */
import { execSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { ensureExampleImage } from '../examples/images.js';
import { DockerSimManager, type DockerSimManagerOptions, type ExecutionMode } from '../src/index.js';
import { check, formatSeconds, median, printTable, timed } from './lib.js';

const JOBS = 60;
const WORKERS = 4;
const ITERATIONS = 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const PODMAN_SOCKET = process.env.DSIM_PODMAN_SOCKET ?? '/run/podman/podman.sock';

interface Engine {
  name: 'Docker' | 'Podman';
  connection: DockerSimManagerOptions['docker'];
}

async function runOnce(engine: Engine, image: string, mode: ExecutionMode): Promise<number> {
  const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-engines-'));
  try {
    const { value: summary, wallMs } = await timed(async () => {
      const manager = new DockerSimManager({ image, maxWorkers: WORKERS, dataDirectory, executionMode: mode, docker: engine.connection, defaults: { network: 'none' } });
      manager.addSimJobs(Array.from({ length: JOBS }, (_, i) => ({ name: `seed${i + 1}`, command: `-o /mnt/data -r ${i + 1} -i ${ITERATIONS}` })));
      return manager.startComputation();
    });
    check(summary.succeeded === JOBS, `${engine.name} ${mode}: ${summary.succeeded}/${JOBS} succeeded: ${summary.results.find((r) => r.error)?.error?.message ?? ''}`);
    return wallMs;
  } finally {
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

export async function enginesSuite(): Promise<void> {
  check(Number.isInteger(ROUNDS) && ROUNDS >= 2, `Expected BENCH_ROUNDS to be an integer >= 2, got ${process.env.BENCH_ROUNDS}`);
  const podman = new Docker({ socketPath: PODMAN_SOCKET });
  check(await podman.ping().then(() => true, () => false), `No Podman service answers at ${PODMAN_SOCKET}: start one with \`bash scripts/podman-service.sh\`.`);
  const image = await ensureExampleImage('monte-carlo-pi');
  if (!(await podman.getImage(image).inspect().then(() => true, () => false))) execSync(`docker save ${image} | podman --url unix://${PODMAN_SOCKET} load`, { stdio: 'ignore' });
  const dockerVersion = ((await new Docker().version()) as { Version?: string }).Version ?? '?';
  const podmanVersion = ((await podman.version()) as { Components?: Array<{ Name?: string; Version?: string }> }).Components?.find((c) => c.Name === 'Podman Engine')?.Version ?? '?';
  console.log(`suite engines: ${JOBS} jobs (${image} -i ${ITERATIONS}), ${WORKERS} workers, ${ROUNDS} rounds of Docker and Podman, fresh containers and pool; round 1 = warm-up`);
  console.log(`node ${process.version}, ${os.availableParallelism()} cores, ${os.type()} ${os.release()}, Docker ${dockerVersion}, Podman ${podmanVersion} (rootful)\n`);

  const engines: Engine[] = [
    { name: 'Docker', connection: undefined },
    { name: 'Podman', connection: { socketPath: PODMAN_SOCKET } },
  ];
  const cases = engines.flatMap((engine) => (['container', 'pool'] as const).map((mode) => ({ engine, mode })));
  const walls = new Map<string, number[]>(cases.map(({ engine, mode }) => [`${engine.name} ${mode}`, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternate the order each round so neither engine always runs first.
    for (const { engine, mode } of round % 2 === 0 ? [...cases].reverse() : cases) {
      const wallMs = await runOnce(engine, image, mode);
      console.log(`round ${round}: ${engine.name} ${mode} ${formatSeconds(wallMs)}${round === 1 ? ' (warm-up)' : ''}`);
      if (round > 1) walls.get(`${engine.name} ${mode}`)?.push(wallMs);
    }
  }
  const medianOf = (key: string): number => median(walls.get(key) ?? []);
  console.log('');
  printTable(
    ['engine', 'fresh containers', 'pool', 'pool speed-up'],
    engines.map(({ name }) => [name, formatSeconds(medianOf(`${name} container`)), formatSeconds(medianOf(`${name} pool`)), `${(medianOf(`${name} container`) / medianOf(`${name} pool`)).toFixed(1)}x`]),
  );
  console.log(`\nPodman / Docker: fresh ${(medianOf('Podman container') / medianOf('Docker container')).toFixed(2)}x, pool ${(medianOf('Podman pool') / medianOf('Docker pool')).toFixed(2)}x (median of rounds 2-${ROUNDS})`);
}
