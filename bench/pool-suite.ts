/**
 * `npm run bench -- pool`: what a short job costs in the warm pool, against the other ways to run it.
 *
 * Part 1: 60 monte-carlo-pi jobs (1,000 iterations, seeds 1..60) at 4 workers, six ways, alternated in each round
 * (the order reversed every other round) on the same engine, round 1 a warm-up, medians over rounds 2..N:
 *   A  the package, executionMode 'pool' with the resident runner (the default): no engine call per job;
 *   B  the package, executionMode 'pool' with `residentRunner: false`: one `docker exec` per job;
 *   C  the package, executionMode 'container': a fresh container per job;
 *   D  the raw floor of B: `xargs -P 4 docker exec` into 4 containers started before the clock;
 *   E  the Python original's approach (bench/python_original.py): docker-py, a ThreadPoolExecutor of 4, per job
 *      `containers.run(detach=True)` with the job's folder bind-mounted, `wait()`, `logs()`, `remove()`;
 *   F  the host-process floor: the image's own script run on the host, `xargs -P 4`, with the image's shell and
 *      awk (busybox), checked to print what the container prints.
 * Every job has network none (E too). E is skipped, with the install command, without python3-docker; F is
 * skipped when no shell on the host reproduces the container's output.
 *
 * Part 2: BENCH_TRUE_JOBS (default 10,000) jobs of `true` in the test-shell image at 4 workers, once each: the
 * resident runner against an exec per job; the figure is the overhead per job.
 *
 * Every package run must succeed fully and leave no containers. (The manager's own cost per job, with no engine,
 * is the `scale` suite.)
 */
import { execFile } from 'node:child_process';
import { readdir, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { busyboxBase, buildImage, ensureExampleImage } from '../examples/images.js';
import { DockerSimManager, LABELS, type DockerSimManagerOptions, type RunSummary, type SimJobOptions } from '../src/index.js';
import { type RunStats, check, containerIds, formatSeconds, isNoisy, median, observe, printTable, sh, startCpuMeter, watchContainerCreates } from './lib.js';

const JOBS = 60;
const WORKERS = 4;
const ITERATIONS = 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TRUE_JOBS = Number(process.env.BENCH_TRUE_JOBS ?? 10_000);
const SEEDS = Array.from({ length: JOBS }, (_, index) => index + 1);
const BENCH_LABEL = 'docker-sim-manager.bench';
/** The tests' busybox image whose entrypoint is `sh -c` (built as __tests__/helpers/engine.ts does when absent). */
const SHELL_IMAGE = 'docker-sim-manager/test-shell:latest';
const PYTHON_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'python_original.py');
const INSTALL_PYTHON_DOCKER = 'sudo apt-get install -y python3-docker';

const KINDS = {
  A: 'A pool, resident runner',
  B: 'B pool, exec per job',
  C: 'C fresh containers',
  D: 'D docker exec floor',
  E: 'E Python original',
  F: 'F host processes',
} as const;
type Variant = keyof typeof KINDS;

interface Measurement extends RunStats {
  variant: Variant;
  round: number;
  /** `docker exec`s the engine created for the run (package runs only). */
  execs?: number;
  /** CPU (user + system) of this process, the package's driver, during the run (package runs only). */
  driverCpuMs?: number;
  /** From the clock's start to the first job's start: the workers' start-up in pool mode (package runs only). */
  firstJobMs?: number;
  /** A note for the round's line (E: the interpreter's start, outside its clock). */
  note?: string;
}

/** How the host-process floor runs the image's script, once checked against the container's output. */
interface HostShell {
  /** The shell that runs the script: `<shell> <script> -o DIR -r SEED -i N`. */
  shell: string;
  /** A folder put first on PATH (the busybox applets), if any. */
  pathFirst?: string;
  script: string;
  description: string;
}

/** The package variants of both parts. */
const PACKAGE_VARIANTS = {
  A: { executionMode: 'pool' },
  B: { executionMode: 'pool', residentRunner: false },
  C: { executionMode: 'container' },
} as const satisfies Partial<Record<Variant, Partial<DockerSimManagerOptions>>>;

/** Runs `jobs` through the package; checks that all succeeded and no container is left; counts the engine's execs. */
async function runPackage(variant: keyof typeof PACKAGE_VARIANTS, round: number, image: string, jobs: SimJobOptions[]): Promise<Measurement> {
  const dataDirectory = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-pool-'));
  const execWatcher = watchContainerCreates('exec_create');
  try {
    const { value, stats } = await observe(
      async (): Promise<{ summary: RunSummary; driverCpuMs: number; firstJobMs: number }> => {
        const clockStart = Date.now();
        const driverCpu = startCpuMeter();
        const manager = new DockerSimManager({ image, maxWorkers: WORKERS, dataDirectory, defaults: { network: 'none' }, ...PACKAGE_VARIANTS[variant] });
        manager.addSimJobs(jobs);
        const summary = await manager.startComputation();
        const { userMs, systemMs } = driverCpu();
        const firstStart = summary.results.reduce((first, result) => Math.min(first, result.startedAt?.getTime() ?? first), Number.POSITIVE_INFINITY);
        return { summary, driverCpuMs: userMs + systemMs, firstJobMs: firstStart - clockStart };
      },
      (labels, result) => labels[LABELS.run] === result.summary.runId,
    );
    const { summary, driverCpuMs, firstJobMs } = value;
    const execs = (await execWatcher.stop()).filter((labels) => labels[LABELS.run] === summary.runId).length;
    const failure = summary.failures[0];
    check(
      summary.succeeded === jobs.length,
      `${KINDS[variant]}: ${summary.succeeded}/${jobs.length} succeeded (${summary.failed} failed, ${summary.cancelled} cancelled)` +
        (failure ? `; first failure, job ${failure.name}: [${failure.error?.code ?? '?'}] ${failure.error?.message ?? `exit code ${failure.exitCode}`}` : ''),
    );
    const left = await containerIds(`label=${LABELS.run}=${summary.runId}`);
    check(left.length === 0, `${left.length} containers of ${KINDS[variant]} run ${summary.runId} are left`);
    return { variant, round, execs, driverCpuMs, firstJobMs, ...stats };
  } finally {
    await execWatcher.stop();
    await rm(dataDirectory, { recursive: true, force: true });
  }
}

const monteCarloJobs = (): SimJobOptions[] => SEEDS.map((seed) => ({ name: `seed${seed}`, command: `-o /mnt/data -r ${seed} -i ${ITERATIONS}` }));

/** D: `docker exec` of the same argv into 4 containers that were started before the clock. */
async function runExecFloor(image: string, round: number): Promise<Measurement> {
  const label = `${BENCH_LABEL}=pool-floor-${process.pid}-${round}`;
  const names = Array.from({ length: WORKERS }, (_, i) => `dsim-bench-floor-${process.pid}-${round}-${i}`);
  const entrypoint = (await sh(`docker image inspect --format '{{join .Config.Entrypoint " "}}' ${image}`)).trim();
  await Promise.all(names.map((name) => sh(`docker run -d --init --network none --label ${label} --name ${name} --entrypoint sleep ${image} infinity`)));
  try {
    // Seed s goes to container s % 4: xargs -P 4 keeps four execs in flight, as the pool does.
    const command = `printf '%s\\n' ${SEEDS.join(' ')} | xargs -P ${WORKERS} -I{} sh -c 'docker exec ${names[0]?.slice(0, -1)}$(( {} % ${WORKERS} )) ${entrypoint} -o /tmp -r {} -i ${ITERATIONS} >/dev/null'`;
    const { stats } = await observe(() => sh(command), (labels) => `${BENCH_LABEL}=${labels[BENCH_LABEL]}` === label);
    return { variant: 'D', round, ...stats };
  } finally {
    await sh(`docker rm -f ${names.join(' ')} >/dev/null`);
  }
}

/** Runs a command without a shell; resolves with its exit code and output whatever the code. */
function run(file: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 127;
      resolve({ code, stdout, stderr: error !== null && stderr === '' ? error.message : stderr });
    });
  });
}

/** docker-py's version, or why it cannot be used. */
async function pythonDocker(): Promise<{ version: string } | { missing: string }> {
  const probe = await run('python3', ['-c', 'import docker; print(docker.__version__)']);
  if (probe.code === 0) return { version: probe.stdout.trim() };
  return { missing: probe.stderr.trim().split('\n').pop() ?? `exit code ${probe.code}` };
}

/** E: bench/python_original.py; its own clock (client creation to the last removal) is the wall time. */
async function runPythonOriginal(image: string, round: number): Promise<Measurement> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-python-'));
  const label = `${BENCH_LABEL}=pool-python-${process.pid}-${round}`;
  try {
    const args = [PYTHON_SCRIPT, '--image', image, '--root', root, '--seeds', `1-${JOBS}`, '--iterations', String(ITERATIONS), '--workers', String(WORKERS), '--network', 'none', '--label', label];
    const { value: result, stats } = await observe(() => run('python3', args), (labels) => `${BENCH_LABEL}=${labels[BENCH_LABEL]}` === label);
    const report = parseLastJsonLine(result.stdout) as { wall_ms: number; import_ms: number; succeeded: number; failures: string[] } | undefined;
    check(
      result.code === 0 && report?.succeeded === JOBS,
      `${KINDS.E}: exit code ${result.code}, ${report?.succeeded ?? '?'}/${JOBS} succeeded; ${report?.failures.join('; ') ?? ''} ${result.stderr.trim()}`,
    );
    check((await containerIds(`label=${label}`)).length === 0, `containers of ${KINDS.E} (${label}) are left`);
    const processMs = stats.wallMs;
    return { variant: 'E', round, ...stats, wallMs: report.wall_ms, note: `(python3 process ${formatSeconds(processMs)}, of which start + import docker ${formatSeconds(report.import_ms)})` };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function parseLastJsonLine(text: string): unknown {
  const line = text.trim().split('\n').pop();
  try {
    return line === undefined ? undefined : (JSON.parse(line) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * Copies the image's script (the last word of its entrypoint) to `folder` and finds a host shell that prints
 * what the container prints for one job: the host's busybox with all its applets first on PATH (the image's
 * userland), else the host's sh and awk. Returns why not when none does.
 */
async function prepareHostShell(image: string, folder: string): Promise<HostShell | { skipped: string }> {
  const entrypoint = JSON.parse(await sh(`docker image inspect --format '{{json .Config.Entrypoint}}' ${image}`)) as string[] | null;
  const inImage = entrypoint?.at(-1);
  if (entrypoint?.length !== 2 || inImage === undefined) return { skipped: `the image's entrypoint ${JSON.stringify(entrypoint)} is not <shell> <script>` };
  const script = path.join(folder, path.basename(inImage));
  const id = (await sh(`docker create ${image}`)).trim();
  try {
    await sh(`docker cp ${id}:${inImage} ${script}`);
  } finally {
    await sh(`docker rm ${id} >/dev/null`);
  }
  const job = (outDir: string): string => `-o ${outDir} -r 7 -i ${ITERATIONS}`;
  const expected = await sh(`docker run --rm --network none ${image} ${job('/tmp')}`);
  const candidates: HostShell[] = [];
  const busybox = (await sh('command -v busybox || true')).trim();
  if (busybox !== '') {
    const bin = path.join(folder, 'busybox-bin');
    await mkdir(bin);
    await sh(`${busybox} --install -s ${bin}`);
    candidates.push({ shell: `${bin}/sh`, pathFirst: bin, script, description: `${busybox} (${(await sh(`${busybox} | head -1`)).trim()}) as sh, awk and mkdir` });
  }
  candidates.push({ shell: 'sh', script, description: `the host's sh (${(await sh('readlink -f "$(command -v sh)"')).trim()}) and awk (${(await sh('readlink -f "$(command -v awk)"')).trim()})` });
  const mismatches: string[] = [];
  for (const candidate of candidates) {
    const output = await sh(`${withPath(candidate)}${candidate.shell} ${script} ${job(path.join(folder, 'check'))}`).catch((error: Error) => `failed: ${error.message}`);
    if (output === expected) return candidate;
    mismatches.push(`${candidate.description} printed ${JSON.stringify(output)}`);
  }
  return { skipped: `no host shell reproduces the container's output ${JSON.stringify(expected)}: ${mismatches.join('; ')}` };
}

/** Shell words that put `pathFirst` first on PATH, keeping the host's xargs in `$xargs`. */
const withPath = (shell: HostShell): string => `xargs=$(command -v xargs); ${shell.pathFirst === undefined ? '' : `export PATH=${shell.pathFirst}:"$PATH"; `}`;

/** F: the same 60 jobs as host processes, 4 at a time, each with a folder of its own. */
async function runHostFloor(shell: HostShell, round: number): Promise<Measurement> {
  const root = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-host-'));
  try {
    const command = `${withPath(shell)}printf '%s\\n' ${SEEDS.join(' ')} | "$xargs" -P ${WORKERS} -I{} ${shell.shell} ${shell.script} -o ${root}/seed{} -r {} -i ${ITERATIONS} >/dev/null`;
    const { stats } = await observe(() => sh(command), () => false);
    const written = await readdir(root);
    check(written.length === JOBS, `${KINDS.F}: ${written.length}/${JOBS} job folders were written in ${root}`);
    return { variant: 'F', round, ...stats };
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** The test-shell image, built as the tests build it when absent. */
async function ensureShellImage(): Promise<string> {
  if ((await run('docker', ['image', 'inspect', SHELL_IMAGE])).code !== 0) {
    const base = busyboxBase();
    await buildImage({
      tag: SHELL_IMAGE,
      dockerfile: `${base.dockerfileHead}RUN ["/bin/mkdir", "-p", "/tmp"]\nRUN ["/bin/chmod", "1777", "/tmp"]\nENTRYPOINT ["/bin/sh", "-c"]\n`,
      files: base.files,
    });
  }
  return SHELL_IMAGE;
}

const ratio = (value: number): string => `${value.toFixed(2)}x`;
const perJobMs = (wallMs: number, jobs: number): string => `${((wallMs * WORKERS) / jobs).toFixed(1)} ms`;
const cpu = (ms: number | undefined): string => (ms === undefined ? '-' : formatSeconds(ms));
const perTrueJob = (ms: number | undefined): string => (ms === undefined ? '-' : `${(ms / TRUE_JOBS).toFixed(2)} ms`);

export async function poolSuite(): Promise<void> {
  check(Number.isInteger(ROUNDS) && ROUNDS >= 2, `Expected BENCH_ROUNDS to be an integer >= 2, got ${process.env.BENCH_ROUNDS}`);
  check(Number.isInteger(TRUE_JOBS) && TRUE_JOBS >= 1, `Expected BENCH_TRUE_JOBS to be an integer >= 1, got ${process.env.BENCH_TRUE_JOBS}`);
  const engine = (await sh("docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'")).trim();
  const image = await ensureExampleImage('monte-carlo-pi');
  const shellImage = await ensureShellImage();

  const python = await pythonDocker();
  const hostFolder = await mkdtemp(path.join(os.tmpdir(), 'dsim-bench-hostsh-'));
  try {
    const host = await prepareHostShell(image, hostFolder);
    console.log(`suite pool, part 1: ${JOBS} jobs (${image} -i ${ITERATIONS}, network none), ${WORKERS} workers, ${ROUNDS} rounds; round 1 = warm-up`);
    console.log(`part 2: ${TRUE_JOBS} jobs of \`true\` (${shellImage}), ${WORKERS} workers, resident runner and exec per job, once each`);
    console.log(`node ${process.version}, ${os.availableParallelism()} cores, ${os.type()} ${os.release()}, Docker engine ${engine}`);
    if ('version' in python) console.log(`E: python3 with docker-py ${python.version}`);
    else console.warn(`E SKIPPED: python3-docker is missing (python3 -c 'import docker': ${python.missing}). Install it with \`${INSTALL_PYTHON_DOCKER}\` and rerun.`);
    if ('skipped' in host) console.warn(`F SKIPPED: ${host.skipped}`);
    else console.log(`F: ${host.description}, checked against the container's output`);
    console.log('');

    const variants: Array<[Variant, (round: number) => Promise<Measurement>]> = [
      ['A', (round) => runPackage('A', round, image, monteCarloJobs())],
      ['B', (round) => runPackage('B', round, image, monteCarloJobs())],
      ['C', (round) => runPackage('C', round, image, monteCarloJobs())],
      ['D', (round) => runExecFloor(image, round)],
    ];
    if ('version' in python) variants.push(['E', (round) => runPythonOriginal(image, round)]);
    if (!('skipped' in host)) variants.push(['F', (round) => runHostFloor(host, round)]);

    const measurements: Measurement[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [, measure] of round % 2 === 0 ? [...variants].reverse() : variants) {
        const m = await measure(round);
        measurements.push(m);
        const execs = m.execs === undefined ? '' : `  first job started at ${formatSeconds(m.firstJobMs ?? Number.NaN)}, ${m.execs} engine execs`;
        console.log(`round ${round}${round === 1 ? ' (warm-up)' : ''}: ${KINDS[m.variant].padEnd(23)} ${formatSeconds(m.wallMs).padStart(8)}${execs}${m.note ? `  ${m.note}` : ''}`);
      }
    }
    console.log('');
    printTable(
      ['run', 'round', 'wall', 'engine execs', 'machine CPU', 'driver CPU', 'dockerd+containerd CPU', "others' CPU", "others' containers"],
      measurements.map((m) => [KINDS[m.variant], m.round === 1 ? '1 (warm-up)' : String(m.round), formatSeconds(m.wallMs), m.execs === undefined ? '-' : String(m.execs), cpu(m.machineCpuMs), cpu(m.driverCpuMs), cpu(m.daemonCpuMs), cpu(m.otherCpuMs), String(m.foreignContainers)]),
    );

    const measured = new Set(variants.map(([variant]) => variant));
    const wall = (variant: Variant): number | undefined =>
      measured.has(variant) ? median(measurements.filter((m) => m.round > 1 && m.variant === variant).map((m) => m.wallMs)) : undefined;
    const walls = Object.fromEntries((Object.keys(KINDS) as Variant[]).map((variant) => [variant, wall(variant)])) as Record<Variant, number | undefined>;
    const a = walls.A as number;
    const skippedRow = (variant: Variant): string[] => [KINDS[variant], 'skipped', '', '', ''];
    const rows: string[][] = (Object.keys(KINDS) as Variant[]).map((variant) => {
      const value = walls[variant];
      return value === undefined ? skippedRow(variant) : [KINDS[variant], formatSeconds(value), perJobMs(value, JOBS), '', ''];
    });
    const target = (label: string, value: number | undefined, goal: string, isMet: (v: number) => boolean): string[] =>
      value === undefined ? [label, 'skipped', '', goal, ''] : [label, ratio(value), '', goal, isMet(value) ? 'met' : 'NOT met'];
    // Context for A / F: the part of A after its first job started (the workers' start-up is before it).
    const aJobs = median(measurements.filter((m) => m.round > 1 && m.variant === 'A').map((m) => m.wallMs - (m.firstJobMs ?? 0)));
    rows.push(
      target('A / F (resident runner vs host floor)', walls.F === undefined ? undefined : a / walls.F, '<= 3x', (v) => v <= 3),
      [`  A from its first job start (${formatSeconds(aJobs)}) / F`, walls.F === undefined ? 'skipped' : ratio(aJobs / walls.F), '', '', ''],
      target('E / A (speed-up over the Python original)', walls.E === undefined ? undefined : walls.E / a, '>= 4x', (v) => v >= 4),
      [`B / A (speed-up over an exec per job)`, ratio((walls.B as number) / a), '', '', ''],
      [`A / D (resident runner vs docker exec floor)`, ratio(a / (walls.D as number)), '', '', ''],
      [`C / A (speed-up over fresh containers)`, ratio((walls.C as number) / a), '', '', ''],
    );
    console.log(`\nmedians over rounds 2..${ROUNDS} (per job = wall x ${WORKERS} workers / ${JOBS} jobs):`);
    printTable(['figure', 'value', 'per job', 'target', ''], rows);

    const residentExecs = measurements.filter((m) => m.variant === 'A').map((m) => m.execs ?? 0);
    if (Math.max(...residentExecs) >= JOBS) {
      console.warn(`\nwarning: A ran ${residentExecs.join(', ')} engine execs for ${JOBS} jobs: its jobs did not go through the resident runner`);
    }
    const noisy = measurements.filter((m) => m.round > 1 && isNoisy(m));
    if (noisy.length > 0) console.warn(`\nwarning: ${noisy.length} measured runs of part 1 shared the machine: rerun on an idle machine for clean figures`);
  } finally {
    await rm(hostFolder, { recursive: true, force: true });
  }

  console.log(`\npart 2: ${TRUE_JOBS} jobs of \`true\` at ${WORKERS} workers`);
  const trueJobs: SimJobOptions[] = Array.from({ length: TRUE_JOBS }, (_, index) => ({ name: `true${index + 1}`, command: 'true' }));
  const overhead: Measurement[] = [];
  for (const variant of ['A', 'B'] as const) {
    const m = await runPackage(variant, 1, shellImage, trueJobs);
    overhead.push(m);
    console.log(`${KINDS[variant].padEnd(23)} ${formatSeconds(m.wallMs).padStart(8)}  first job started at ${formatSeconds(m.firstJobMs ?? Number.NaN)}, ${m.execs} engine execs`);
  }
  console.log('');
  printTable(
    ['run', 'wall', 'wall / job', `wall x ${WORKERS} / job`, 'machine CPU / job', 'driver CPU / job', 'dockerd+containerd CPU / job', 'engine execs', "others' CPU", "others' containers"],
    overhead.map((m) => [
      KINDS[m.variant],
      formatSeconds(m.wallMs),
      `${(m.wallMs / TRUE_JOBS).toFixed(2)} ms`,
      `${((m.wallMs * WORKERS) / TRUE_JOBS).toFixed(2)} ms`,
      perTrueJob(m.machineCpuMs),
      perTrueJob(m.driverCpuMs),
      perTrueJob(m.daemonCpuMs),
      String(m.execs),
      cpu(m.otherCpuMs),
      String(m.foreignContainers),
    ]),
  );
  const [resident, perExec] = overhead as [Measurement, Measurement];
  console.log(`B / A (per-job overhead, exec per job vs resident runner): ${ratio(perExec.wallMs / resident.wallMs)}`);
  if ((resident.execs ?? 0) >= TRUE_JOBS) console.warn(`warning: A ran ${resident.execs} engine execs for ${TRUE_JOBS} jobs: its jobs did not go through the resident runner`);
  if (overhead.some(isNoisy)) console.warn('warning: part 2 shared the machine: rerun on an idle machine for clean figures');
}
